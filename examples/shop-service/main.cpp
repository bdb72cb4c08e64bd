// shop-service: the seed's controllers as an HTTP JSON service (cpp-httplib).
//
//   shop_service [--config FILE] [--listen HOST:PORT] [--port-file FILE]
//
// Defaults: examples/shop-service/database.toml (SQLite files under
// var/shop, run from the repository root) on 127.0.0.1:8080. --listen
// 127.0.0.1:0 takes any free port; --port-file writes the port there once the
// service answers. Each connection's migrations are applied at start.
//
//   POST /users {name, email}            user in users_db, event in analytics
//   GET  /users/:id                      user with order stats from orders_db
//   POST /orders {user_id, total_amount}
//   GET  /dashboard                      three analytics queries at once
//   GET  /search?q=TEXT                  users, orders, events (q: 3 characters or more)
//   POST /shards/users {id, name, email} on the shard owning id
//   GET  /shards/users/:id
//   POST /shards/orders {user_id, total_amount}  on the shard owning user_id
//   GET  /health                         per database; 503 when one is down
#include <atomic>
#include <csignal>
#include <fstream>
#include <iostream>
#include <thread>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <httplib.h>

#include "shop.hpp"

namespace {

void send(httplib::Response& res, const shop::Reply& r) {
  res.status = r.status;
  if (r.retry_after > 0) res.set_header("Retry-After", std::to_string(r.retry_after));
  res.set_content(r.body.dump(), "application/json");
}

/// A request body larger than this is refused with 413 before it is read whole.
constexpr std::size_t kMaxBody = 1 << 20;

/// Runs a handler; what it throws becomes a status and a JSON error.
template <class F>
void handle(httplib::Response& res, F&& f) {
  try {
    send(res, f());
  } catch (const nlohmann::json::exception&) {
    send(res, {400, {{"error", "the body is not valid JSON"}}});
  } catch (const std::exception& e) {
    send(res, shop::Shop::from_error(e));
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string config = "examples/shop-service/database.toml", listen = "127.0.0.1:8080", port_file;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--config") config = argv[i + 1];
    else if (flag == "--listen") listen = argv[i + 1];
    else if (flag == "--port-file") port_file = argv[i + 1];
    else {
      std::cerr << "shop_service: unknown option " << flag << " (--config FILE, --listen HOST:PORT, --port-file FILE)\n";
      return 2;
    }
  }
  if (argc % 2 == 0) {
    std::cerr << "shop_service: " << argv[argc - 1] << " needs a value\n";
    return 2;
  }
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos) {
    std::cerr << "shop_service: --listen takes HOST:PORT\n";
    return 2;
  }

  // SIGINT/SIGTERM stop the server from a thread that waits for them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  std::optional<plexus::Database> db;
  std::optional<shop::Shop> service;
  try {
    plexus::Env env = plexus::Env::system();
    env.load_dotenv(".env");
    db.emplace(plexus::DatabaseConfig::from_toml_file(config, env));
    service.emplace(*db);
    std::cout << service->migrate() << std::flush;
  } catch (const plexus::Error& e) {
    std::cerr << "shop_service: " << e.what() << "\n";
    return e.kind() == plexus::ErrorKind::config ? 2 : 1;
  }
  shop::Shop& shop = *service;

  httplib::Server server;
  // Debian's cpp-httplib is a compiled library listening with a backlog of 5:
  // a burst of clients would wait on TCP retransmits. Keep the listening
  // socket and widen its queue once it listens.
  int listening = -1;
  server.set_socket_options([&listening](int sock) {
    httplib::default_socket_options(sock);
    // Its answers go out in two writes (head, then body): without NODELAY
    // the body waits for the client's delayed ACK, 40 ms an answer on a
    // keep-alive connection. Accepted sockets inherit it on Linux.
    const int on = 1;
    ::setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    listening = sock;
  });
  server.new_task_queue = [] { return new httplib::ThreadPool(32); };
  server.set_payload_max_length(kMaxBody);
  // Every answer is JSON, the ones cpp-httplib makes itself too (no such
  // path or method: 404; a body past the limit: 413).
  server.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;  // a handler's own answer (a 400, 404 or 503 with its JSON) stays
    const char* what = res.status == 404   ? "no such endpoint (see GET /health and the list in main.cpp)"
                       : res.status == 413 ? "the request body is larger than 1 MiB"
                       : res.status == 405 ? "method not allowed"
                                           : "bad request";
    nlohmann::json body{{"error", what}};
    if (res.status == 413) body["limit_bytes"] = kMaxBody;
    res.set_content(body.dump(), "application/json");
  });
  // A path id that is no positive 64-bit integer is a 400, not a 500.
  const auto with_id = [](const httplib::Request& req, httplib::Response& res, auto&& f) {
    handle(res, [&]() -> shop::Reply {
      const auto id = shop::parse_id(req.matches[1].str());
      if (!id) return {400, {{"error", "the id must be a positive 64-bit integer"}}};
      return f(*id);
    });
  };
  server.Post("/users", [&](const httplib::Request& req, httplib::Response& res) {
    handle(res, [&] { return shop.create_user(nlohmann::json::parse(req.body)); });
  });
  server.Get(R"(/users/(\d+))", [&](const httplib::Request& req, httplib::Response& res) {
    with_id(req, res, [&](std::int64_t id) { return shop.user_with_order_stats(id); });
  });
  server.Post("/orders", [&](const httplib::Request& req, httplib::Response& res) {
    handle(res, [&] { return shop.create_order(nlohmann::json::parse(req.body)); });
  });
  server.Get("/dashboard", [&](const httplib::Request&, httplib::Response& res) { handle(res, [&] { return shop.dashboard(); }); });
  server.Get("/search", [&](const httplib::Request& req, httplib::Response& res) {
    handle(res, [&] { return shop.search(req.get_param_value("q")); });
  });
  server.Post("/shards/users", [&](const httplib::Request& req, httplib::Response& res) {
    handle(res, [&] { return shop.create_shard_user(nlohmann::json::parse(req.body)); });
  });
  server.Get(R"(/shards/users/(\d+))", [&](const httplib::Request& req, httplib::Response& res) {
    with_id(req, res, [&](std::int64_t id) { return shop.shard_user(id); });
  });
  server.Post("/shards/orders", [&](const httplib::Request& req, httplib::Response& res) {
    handle(res, [&] { return shop.create_shard_order(nlohmann::json::parse(req.body)); });
  });
  server.Get("/health", [&](const httplib::Request&, httplib::Response& res) { handle(res, [&] { return shop.health(); }); });

  const std::string host = listen.substr(0, colon);
  const int wanted = std::atoi(listen.c_str() + colon + 1);
  const int port = wanted == 0 ? server.bind_to_any_port(host) : (server.bind_to_port(host, wanted) ? wanted : -1);
  if (port < 0) {
    std::cerr << "shop_service: cannot listen on " << listen << "\n";
    return 1;
  }
  if (listening >= 0) ::listen(listening, SOMAXCONN);
  std::thread stopper([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    server.stop();
  });
  stopper.detach();
  // Databases that were down at start get their migrations once they answer.
  std::atomic<bool> stopping{false};
  std::thread migrating([&] {
    while (!stopping && !shop.retry_migrations())
      for (int i = 0; i < 10 && !stopping; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  });
  std::thread serving([&] { server.listen_after_bind(); });
  while (!server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::cout << "shop-service on http://" << host << ":" << port << " (Ctrl-C stops); try:\n"
            << "  curl -s -XPOST localhost:" << port << "/users -d '{\"name\":\"Ada\",\"email\":\"ada@example.com\"}'\n"
            << "  curl -s localhost:" << port << "/users/1\n  curl -s localhost:" << port << "/health\n"
            << std::flush;
  if (!port_file.empty()) std::ofstream(port_file) << port << "\n";
  serving.join();
  stopping = true;
  migrating.join();
  std::cout << "stopped\n";
  return 0;
}
