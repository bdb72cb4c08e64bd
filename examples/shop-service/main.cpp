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
#include <csignal>
#include <fstream>
#include <iostream>
#include <thread>

#include <sys/socket.h>

#include <httplib.h>

#include "shop.hpp"

namespace {

void send(httplib::Response& res, const shop::Reply& r) {
  res.status = r.status;
  res.set_content(r.body.dump(), "application/json");
}

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
  try {
    plexus::Env env = plexus::Env::system();
    env.load_dotenv(".env");
    db.emplace(plexus::DatabaseConfig::from_toml_file(config, env));
    std::cout << shop::Shop(*db).migrate() << std::flush;
  } catch (const plexus::Error& e) {
    std::cerr << "shop_service: " << e.what() << "\n";
    return e.kind() == plexus::ErrorKind::config ? 2 : 1;
  }
  shop::Shop shop(*db);

  httplib::Server server;
  // Debian's cpp-httplib is a compiled library listening with a backlog of 5:
  // a burst of clients would wait on TCP retransmits. Keep the listening
  // socket and widen its queue once it listens.
  int listening = -1;
  server.set_socket_options([&listening](int sock) {
    httplib::default_socket_options(sock);
    listening = sock;
  });
  server.new_task_queue = [] { return new httplib::ThreadPool(32); };
  server.Post("/users", [&](const httplib::Request& req, httplib::Response& res) {
    handle(res, [&] { return shop.create_user(nlohmann::json::parse(req.body)); });
  });
  server.Get(R"(/users/(\d+))", [&](const httplib::Request& req, httplib::Response& res) {
    handle(res, [&] { return shop.user_with_order_stats(std::stoll(req.matches[1])); });
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
    handle(res, [&] { return shop.shard_user(std::stoll(req.matches[1])); });
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
  std::thread serving([&] { server.listen_after_bind(); });
  while (!server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::cout << "shop-service on http://" << host << ":" << port << " (Ctrl-C stops); try:\n"
            << "  curl -s -XPOST localhost:" << port << "/users -d '{\"name\":\"Ada\",\"email\":\"ada@example.com\"}'\n"
            << "  curl -s localhost:" << port << "/users/1\n  curl -s localhost:" << port << "/health\n"
            << std::flush;
  if (!port_file.empty()) std::ofstream(port_file) << port << "\n";
  serving.join();
  std::cout << "stopped\n";
  return 0;
}
