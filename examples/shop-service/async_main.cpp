// shop-service-async: the seed's controllers as an HTTP JSON service on
// Boost.Beast, every query awaited (async_shop.hpp) on one or two I/O threads.
// The same endpoints, answers and options as shop_service (main.cpp), plus:
//
//   shop_service_async [--config FILE] [--listen HOST:PORT] [--port-file FILE] [--threads N]
//
// --threads: the I/O threads (default 1). Each connection is a coroutine;
// keep-alive connections cost no thread while they wait.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <array>
#include <atomic>
#include <fstream>
#include <iostream>
#include <optional>
#include <thread>

#include "async_shop.hpp"

namespace net = boost::asio;
namespace http = boost::beast::http;
using net::awaitable;
using net::use_awaitable;
using tcp = net::ip::tcp;

namespace {

/// A request body larger than this is refused with 413 before it is read whole.
constexpr std::size_t kMaxBody = 1 << 20;

/// `%XX` and `+` decoded, as a form's query string is written.
std::string url_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

/// The value of `key` in a query string (`a=1&q=text`), decoded; empty when absent.
std::string query_param(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const auto eq = pair.find('=');
    if (pair.substr(0, eq) == key) return eq == std::string_view::npos ? "" : url_decode(pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return {};
}

/// `path` is `prefix` then digits only (a route with an id).
bool id_route(std::string_view path, std::string_view prefix, std::string_view& id) {
  if (path.size() <= prefix.size() || path.substr(0, prefix.size()) != prefix) return false;
  id = path.substr(prefix.size());
  for (char c : id)
    if (c < '0' || c > '9') return false;
  return true;
}

/// The handler for a request, as main.cpp's routes answer it: 404 for no
/// such endpoint, 405 for a known one asked with another method, 400 for an
/// id that is no positive 64-bit integer or a body that is not JSON.
awaitable<shop::Reply> route(shop::AsyncShop& shop, const http::request<http::string_body>& req) {
  const std::string_view target(req.target().data(), req.target().size());
  const auto qmark = target.find('?');
  const std::string_view path = target.substr(0, qmark);
  const std::string_view query = qmark == std::string_view::npos ? std::string_view() : target.substr(qmark + 1);
  const bool get = req.method() == http::verb::get, post = req.method() == http::verb::post;
  std::string_view id_text;
  const auto with_id = [&](auto handler) -> awaitable<shop::Reply> {
    const auto id = shop::parse_id(id_text);
    if (!id) co_return shop::Reply{400, {{"error", "the id must be a positive 64-bit integer"}}};
    co_return co_await handler(*id);
  };
  const auto body = [&] { return nlohmann::json::parse(req.body()); };
  if (path == "/users" && post) co_return co_await shop.create_user(body());
  if (id_route(path, "/users/", id_text) && get)
    co_return co_await with_id([&](std::int64_t id) { return shop.user_with_order_stats(id); });
  if (path == "/orders" && post) co_return co_await shop.create_order(body());
  if (path == "/dashboard" && get) co_return co_await shop.dashboard();
  if (path == "/search" && get) co_return co_await shop.search(query_param(query, "q"));
  if (path == "/shards/users" && post) co_return co_await shop.create_shard_user(body());
  if (id_route(path, "/shards/users/", id_text) && get)
    co_return co_await with_id([&](std::int64_t id) { return shop.shard_user(id); });
  if (path == "/shards/orders" && post) co_return co_await shop.create_shard_order(body());
  if (path == "/health" && get) co_return co_await shop.health();
  const bool known = path == "/users" || path == "/orders" || path == "/dashboard" || path == "/search" ||
                     path == "/shards/users" || path == "/shards/orders" || path == "/health" ||
                     id_route(path, "/users/", id_text) || id_route(path, "/shards/users/", id_text);
  if (known) co_return shop::Reply{405, {{"error", "method not allowed"}}};
  co_return shop::Reply{404, {{"error", "no such endpoint (see GET /health and the list in main.cpp)"}}};
}

/// Runs the route; what it throws becomes a status and a JSON error.
awaitable<shop::Reply> answer(shop::AsyncShop& shop, const http::request<http::string_body>& req) {
  std::optional<shop::Reply> failed;
  try {
    co_return co_await route(shop, req);
  } catch (const nlohmann::json::exception&) {
    failed = shop::Reply{400, {{"error", "the body is not valid JSON"}}};
  } catch (const std::exception& e) {
    failed = shop::Shop::from_error(e);
  }
  co_return std::move(*failed);
}

http::response<http::string_body> response(const shop::Reply& r, unsigned version, bool keep_alive) {
  http::response<http::string_body> res{static_cast<http::status>(r.status), version};
  res.set(http::field::content_type, "application/json");
  if (r.retry_after > 0) res.set(http::field::retry_after, std::to_string(r.retry_after));
  res.keep_alive(keep_alive);
  res.body() = r.body.dump();
  res.prepare_payload();
  return res;
}

/// After an answer sent before the request's body was read (a 413): reads
/// what the client still sends, for at most 5 s, before closing. Closed at
/// once, the client would find its connection reset while it writes (and a
/// client that does not ignore SIGPIPE would die) before it reads the answer.
awaitable<void> drain(tcp::socket& socket) {
  using namespace net::experimental::awaitable_operators;
  boost::system::error_code ec;
  socket.shutdown(tcp::socket::shutdown_send, ec);
  net::steady_timer limit(socket.get_executor(), std::chrono::seconds(5));
  std::array<char, 16384> sink{};
  for (;;) {
    boost::system::error_code read_ec, timer_ec;  // the one cancelled completes too: one code each
    auto done = co_await (socket.async_read_some(net::buffer(sink), net::redirect_error(use_awaitable, read_ec)) ||
                          limit.async_wait(net::redirect_error(use_awaitable, timer_ec)));
    if (done.index() == 1 || read_ec) break;
  }
  socket.close(ec);
}

/// One client connection: requests answered in turn while it keeps the
/// connection alive.
awaitable<void> serve(tcp::socket socket, shop::AsyncShop& shop) {
  boost::beast::flat_buffer buffer;
  boost::system::error_code ec;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(kMaxBody);
    co_await http::async_read(socket, buffer, parser, net::redirect_error(use_awaitable, ec));
    if (ec == http::error::body_limit) {
      nlohmann::json body{{"error", "the request body is larger than 1 MiB"}, {"limit_bytes", kMaxBody}};
      auto res = response({413, body}, parser.get().version(), false);
      co_await http::async_write(socket, res, net::redirect_error(use_awaitable, ec));
      co_await drain(socket);
      co_return;
    }
    if (ec) {
      if (ec != http::error::end_of_stream && ec != net::error::eof && ec != net::error::connection_reset) {
        auto res = response({400, {{"error", "bad request"}}}, 11, false);
        co_await http::async_write(socket, res, net::redirect_error(use_awaitable, ec));
      }
      break;
    }
    const auto req = parser.release();
    const shop::Reply reply = co_await answer(shop, req);
    auto res = response(reply, req.version(), req.keep_alive());
    co_await http::async_write(socket, res, net::redirect_error(use_awaitable, ec));
    if (ec || !res.keep_alive()) break;
  }
  socket.shutdown(tcp::socket::shutdown_send, ec);
}

awaitable<void> accept(tcp::acceptor& acceptor, shop::AsyncShop& shop) {
  for (;;) {
    boost::system::error_code ec;
    tcp::socket socket = co_await acceptor.async_accept(net::redirect_error(use_awaitable, ec));
    if (ec == net::error::operation_aborted) co_return;
    if (ec) continue;  // out of descriptors for a moment, a client gone before it was taken
    socket.set_option(tcp::no_delay(true), ec);
    net::co_spawn(acceptor.get_executor(), serve(std::move(socket), shop), net::detached);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string config = "examples/shop-service/database.toml", listen = "127.0.0.1:8080", port_file;
  int threads = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--config") config = argv[i + 1];
    else if (flag == "--listen") listen = argv[i + 1];
    else if (flag == "--port-file") port_file = argv[i + 1];
    else if (flag == "--threads") threads = std::atoi(argv[i + 1]);
    else {
      std::cerr << "shop_service_async: unknown option " << flag
                << " (--config FILE, --listen HOST:PORT, --port-file FILE, --threads N)\n";
      return 2;
    }
  }
  if (argc % 2 == 0) {
    std::cerr << "shop_service_async: " << argv[argc - 1] << " needs a value\n";
    return 2;
  }
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos || threads < 1 || threads > 64) {
    std::cerr << "shop_service_async: --listen takes HOST:PORT, --threads 1 to 64\n";
    return 2;
  }

  std::optional<plexus::Database> db;
  std::optional<shop::Shop> blocking;
  try {
    plexus::Env env = plexus::Env::system();
    env.load_dotenv(".env");
    db.emplace(plexus::DatabaseConfig::from_toml_file(config, env));
    blocking.emplace(*db);
    std::cout << blocking->migrate() << std::flush;
  } catch (const plexus::Error& e) {
    std::cerr << "shop_service_async: " << e.what() << "\n";
    return e.kind() == plexus::ErrorKind::config ? 2 : 1;
  }
  shop::AsyncShop shop(*db, *blocking);

  net::io_context io(threads);
  tcp::acceptor acceptor(io);
  const std::string host = listen.substr(0, colon);
  try {
    const tcp::endpoint at(net::ip::make_address(host), static_cast<unsigned short>(std::atoi(listen.c_str() + colon + 1)));
    acceptor.open(at.protocol());
    acceptor.set_option(net::socket_base::reuse_address(true));
    acceptor.bind(at);
    acceptor.listen(net::socket_base::max_listen_connections);
  } catch (const boost::system::system_error& e) {
    std::cerr << "shop_service_async: cannot listen on " << listen << ": " << e.code().message() << "\n";
    return 1;
  }
  const int port = acceptor.local_endpoint().port();
  net::co_spawn(io, accept(acceptor, shop), net::detached);
  // SIGINT/SIGTERM stop taking connections and end the loop.
  net::signal_set stop(io, SIGINT, SIGTERM);
  stop.async_wait([&](const boost::system::error_code&, int) {
    acceptor.close();
    io.stop();
  });
  // Databases that were down at start get their migrations once they answer.
  std::atomic<bool> stopping{false};
  std::thread migrating([&] {
    while (!stopping && !blocking->retry_migrations())
      for (int i = 0; i < 10 && !stopping; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  });
  std::cout << "shop-service (async, " << threads << " I/O thread" << (threads == 1 ? "" : "s") << ") on http://" << host
            << ":" << port << " (Ctrl-C stops); try:\n"
            << "  curl -s -XPOST localhost:" << port << "/users -d '{\"name\":\"Ada\",\"email\":\"ada@example.com\"}'\n"
            << "  curl -s localhost:" << port << "/users/1\n  curl -s localhost:" << port << "/health\n"
            << std::flush;
  if (!port_file.empty()) std::ofstream(port_file) << port << "\n";
  std::vector<std::thread> more;
  for (int i = 1; i < threads; ++i) more.emplace_back([&] { io.run(); });
  io.run();
  for (auto& t : more) t.join();
  stopping = true;
  migrating.join();
  std::cout << "stopped\n";
  return 0;
}
