// Metrics over HTTP: a Database's counters, gauges and latency histograms
// served at /metrics in the Prometheus text format, for a Prometheus server
// to scrape.
//
//   example_metrics_server DIR            serve on 127.0.0.1:9464 until stopped
//   example_metrics_server DIR --once     serve, fetch /metrics once, print a few lines, stop
#include <httplib.h>

#include <filesystem>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>

#include "plexus/plexus.hpp"

int main(int argc, char** argv) {
  const std::filesystem::path dir = argc > 1 ? argv[1] : "var/metrics";
  const bool once = argc > 2 && std::string(argv[2]) == "--once";
  std::filesystem::create_directories(dir);

  plexus::DatabaseConfig cfg;
  cfg.add("users_db", plexus::sqlite((dir / "users.db").string()));
  cfg.add("analytics", plexus::sqlite((dir / "analytics.db").string()));
  plexus::Database db(cfg);

  // A little work to count: a table, three writes, two reads, one mistake.
  auto& users = db.connection("users_db");
  users.execute("CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, name TEXT)");
  for (const char* name : {"Ada", "Grace", "Edsger"}) users.table("users").insert({{"name", name}});
  (void)users.table("users").count();
  (void)db.connection("analytics").scalar("SELECT 1");
  try {
    users.execute("SELEC 1");
  } catch (const plexus::Error&) {
    // counted under plexus_query_errors_total{kind="syntax"}
  }

  httplib::Server server;
  server.Get("/metrics", [&db](const httplib::Request&, httplib::Response& res) {
    res.set_content(db.metrics().to_prometheus(), "text/plain; version=0.0.4");
  });
  int port = once ? server.bind_to_any_port("127.0.0.1") : (server.bind_to_port("127.0.0.1", 9464) ? 9464 : -1);
  if (port < 0) {
    std::cerr << "cannot listen on 127.0.0.1:9464\n";
    return 1;
  }
  if (!once) {
    std::cout << "serving http://127.0.0.1:" << port << "/metrics (Ctrl-C stops)\n";
    server.listen_after_bind();
    return 0;
  }
  std::thread serving([&] { server.listen_after_bind(); });
  while (!server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  httplib::Client client("127.0.0.1", port);
  auto res = client.Get("/metrics");
  server.stop();
  serving.join();
  if (!res || res->status != 200) {
    std::cerr << "GET /metrics failed\n";
    return 1;
  }
  std::istringstream body(res->body);
  for (std::string line; std::getline(body, line);)
    if (line.starts_with("plexus_queries_total") || line.starts_with("plexus_query_errors_total"))
      std::cout << line << "\n";
  return 0;
}
