// The asynchronous API as runners of the property tests (runners.hpp): the
// generated statements that must do what they say or be refused go through
// async_select and async_execute as through the blocking calls.
#include "runners.hpp"

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/io_context.hpp>

#include <stdexcept>

#include "plexus/async.hpp"

namespace plexus::test {

namespace {

void run_async(SingleTarget& on, const std::string& sql, std::span<const Value> params, Intent intent) {
  boost::asio::io_context io;
  std::exception_ptr failed;
  bool done = false;
  auto finish = boost::asio::bind_executor(io, [&](std::exception_ptr e, Result) {
    failed = e;
    done = true;
  });
  std::vector<Value> values(params.begin(), params.end());
  if (auto* c = dynamic_cast<Connection*>(&on)) async_query(*c, sql, std::move(values), intent, finish);
  else if (auto* r = dynamic_cast<RoutedConnection*>(&on)) async_query(*r, sql, std::move(values), intent, finish);
  else throw std::logic_error("the asynchronous runners take a connection or a routed view");
  io.run();
  if (!done) throw std::logic_error("the asynchronous call never completed");
  if (failed) std::rethrow_exception(failed);
}

}  // namespace

std::vector<Runner> async_runners() {
  return {
      {"async_select",
       [](SingleTarget& q, const std::string& s, std::span<const Value> p) { run_async(q, s, p, Intent::read); }},
      {"async_execute",
       [](SingleTarget& q, const std::string& s, std::span<const Value> p) { run_async(q, s, p, Intent::write); }},
  };
}

}  // namespace plexus::test
