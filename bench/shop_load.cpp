// shop_load: many keep-alive clients against the shop service, blocking
// (cpp-httplib, thread per connection) and asynchronous (Beast, one I/O
// thread), one after the other in the same run: every request must be
// answered; throughput, p50 and p99 printed side by side.
//
//   shop_load --service NAME=BIN [--service NAME=BIN ...] [--config FILE]
//             [--clients 1000] [--seconds 10] [--source REPOSITORY]
//
// Each service is started in var/shop_load_NAME (its files there, the
// example's migrations linked from --source, default ".") on a free port, given a
// user and a shard user, then loaded by `clients` connections that each send
// one request at a time (GET /users/1, /dashboard, /shards/users/1 in turn)
// until `seconds` pass. The clients are coroutines on one thread here.
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

namespace net = boost::asio;
namespace http = boost::beast::http;
using net::awaitable;
using net::use_awaitable;
using tcp = net::ip::tcp;
using namespace std::chrono;

namespace {

struct Tally {
  std::vector<double> ms;     ///< latency of each answered request
  std::size_t failed = 0;     ///< a status other than 200
  std::size_t unanswered = 0; ///< the connection failed or closed before an answer
  std::string first_failure;
};

awaitable<void> client(int port, int index, steady_clock::time_point until, Tally& tally) {
  static const char* const kPaths[] = {"/users/1", "/dashboard", "/shards/users/1"};
  auto io = co_await net::this_coro::executor;
  tcp::socket socket(io);
  boost::system::error_code ec;
  co_await socket.async_connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)),
                                net::redirect_error(use_awaitable, ec));
  if (ec) {
    ++tally.unanswered;
    if (tally.first_failure.empty()) tally.first_failure = "connect: " + ec.message();
    co_return;
  }
  boost::beast::flat_buffer buffer;
  for (int n = index; steady_clock::now() < until; ++n) {
    http::request<http::empty_body> req{http::verb::get, kPaths[n % 3], 11};
    req.set(http::field::host, "127.0.0.1");
    req.keep_alive(true);
    const auto t0 = steady_clock::now();
    co_await http::async_write(socket, req, net::redirect_error(use_awaitable, ec));
    http::response<http::string_body> res;
    if (!ec) co_await http::async_read(socket, buffer, res, net::redirect_error(use_awaitable, ec));
    if (ec) {
      ++tally.unanswered;
      if (tally.first_failure.empty()) tally.first_failure = std::string(kPaths[n % 3]) + ": " + ec.message();
      co_return;
    }
    tally.ms.push_back(duration<double, std::milli>(steady_clock::now() - t0).count());
    if (res.result_int() != 200) {
      ++tally.failed;
      if (tally.first_failure.empty()) tally.first_failure = std::string(kPaths[n % 3]) + ": " + std::to_string(res.result_int()) + " " + res.body();
    }
    if (!res.keep_alive()) {  // the service closed it: open another, as a browser would
      socket.close(ec);
      socket = tcp::socket(io);
      co_await socket.async_connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)),
                                    net::redirect_error(use_awaitable, ec));
      if (ec) {
        ++tally.unanswered;
        co_return;
      }
    }
  }
}

/// One POST, blocking (setting up the rows the load reads).
int post(int port, const std::string& target, const std::string& body) {
  net::io_context io;
  tcp::socket s(io);
  s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
  http::request<http::string_body> req{http::verb::post, target, 11};
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();
  http::write(s, req);
  boost::beast::flat_buffer b;
  http::response<http::string_body> res;
  http::read(s, b, res);
  return res.result_int();
}

struct Child {
  pid_t pid = -1;
  int port = 0;
  ~Child() {
    if (pid > 0) {
      ::kill(pid, SIGTERM);
      int status = 0;
      ::waitpid(pid, &status, 0);
    }
  }
};

/// Starts `bin` on a fresh copy of the SQLite files (var/shop under a
/// folder of its own) and waits for its port.
void start(Child& c, const std::string& bin, const std::filesystem::path& config, const std::filesystem::path& dir,
           const std::filesystem::path& source) {
  namespace fs = std::filesystem;
  fs::remove_all(dir);
  fs::create_directories(dir / "examples");
  fs::create_directory_symlink(fs::absolute(source / "examples/shop-service"), dir / "examples/shop-service");
  const fs::path port_file = dir / "port", log = dir / "service.log";
  const std::string program = fs::absolute(bin).string();
  std::fflush(stdout);
  c.pid = ::fork();
  if (c.pid == 0) {
    ::chdir(dir.c_str());
    std::freopen(log.c_str(), "w", stdout);
    std::freopen(log.c_str(), "a", stderr);
    const std::string cfg = config.string(), pf = port_file.string();
    ::execl(program.c_str(), program.c_str(), "--config", cfg.c_str(), "--listen", "127.0.0.1:0", "--port-file", pf.c_str(),
            static_cast<char*>(nullptr));
    std::_Exit(127);
  }
  for (int i = 0; i < 400 && c.port == 0; ++i) {
    std::ifstream in(port_file);
    if (!(in >> c.port)) c.port = 0;
    if (c.port == 0) std::this_thread::sleep_for(milliseconds(25));
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::pair<std::string, std::string>> services;
  std::string config = "examples/shop-service/database.toml", source = ".";
  int clients = 1000, seconds = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--service" && value.find('=') != std::string::npos)
      services.emplace_back(value.substr(0, value.find('=')), value.substr(value.find('=') + 1));
    else if (flag == "--config") config = value;
    else if (flag == "--source") source = value;
    else if (flag == "--clients") clients = std::stoi(value);
    else if (flag == "--seconds") seconds = std::stoi(value);
    else {
      std::cerr << "shop_load: unknown option " << flag << "\n";
      return 2;
    }
  }
  if (services.empty()) {
    std::cerr << "shop_load --service NAME=BIN [...] [--config FILE] [--clients N] [--seconds S] [--source DIR]\n";
    return 2;
  }
  // Two sockets a client (this side and the service's): past the usual 1,024.
  rlimit files{};
  ::getrlimit(RLIMIT_NOFILE, &files);
  files.rlim_cur = files.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &files);
  const auto config_path = std::filesystem::absolute(config);
  bool all_answered = true;
  std::printf("%-10s %8s %10s %9s %9s %9s %8s %10s\n", "service", "clients", "requests", "req/s", "p50 ms", "p99 ms", "non-200",
              "unanswered");
  for (const auto& [name, bin] : services) {
    Child child;
    start(child, bin, config_path, std::filesystem::absolute("var/shop_load_" + name), source);
    if (child.port == 0) {
      std::cerr << "shop_load: " << name << " did not start (see var/shop_load_" << name << "/service.log)\n";
      return 1;
    }
    // Made, or there already (409: a database kept from another run).
    const auto made = [](int status) { return status == 201 || status == 409; };
    if (!made(post(child.port, "/users", R"({"name":"Ada","email":"ada@example.com"})")) ||
        !made(post(child.port, "/shards/users", R"({"id":1,"name":"Ada","email":"ada@example.com"})"))) {
      std::cerr << "shop_load: " << name << " refused the set-up requests\n";
      return 1;
    }
    Tally tally;
    net::io_context io(1);
    const auto t0 = steady_clock::now(), until = t0 + std::chrono::seconds(seconds);
    for (int i = 0; i < clients; ++i) net::co_spawn(io, client(child.port, i, until, tally), net::detached);
    io.run();
    const double elapsed = duration<double>(steady_clock::now() - t0).count();
    auto& ms = tally.ms;
    std::sort(ms.begin(), ms.end());
    const auto at = [&](double q) { return ms.empty() ? 0.0 : ms[std::min(ms.size() - 1, static_cast<std::size_t>(q * ms.size()))]; };
    std::printf("%-10s %8d %10zu %9.0f %9.1f %9.1f %8zu %10zu\n", name.c_str(), clients, ms.size(), ms.size() / elapsed, at(0.5),
                at(0.99), tally.failed, tally.unanswered);
    if (!tally.first_failure.empty()) std::printf("  first failure: %s\n", tally.first_failure.c_str());
    all_answered = all_answered && tally.failed == 0 && tally.unanswered == 0;
  }
  std::printf(all_answered ? "every request answered\n" : "some requests were not answered\n");
  return all_answered ? 0 : 1;
}
