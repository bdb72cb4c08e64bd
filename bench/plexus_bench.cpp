// plexus_bench: Plexus beside the raw C API of each engine, same work, same run.
//   plexus_bench [--quick] [--json PATH] [--engines sqlite-memory,sqlite-wal,postgres,mysql]
// Server URLs come from PLEXUS_TEST_PG_URL / PLEXUS_TEST_MYSQL_URL (scripts/servers).
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>
#include <plexus/plexus.hpp>

#include "harness.hpp"
#include "raw.hpp"

using namespace plexus;
using bench::Item;

namespace {

struct BenchItem {
  std::int64_t id = 0;
  std::string name;
  double price = 0;
  static constexpr auto schema = plexus::schema("bench_items", col<&BenchItem::id>("id", primary_key),
                                                col<&BenchItem::name>("name"), col<&BenchItem::price>("price"))
                                     .connection("bench");
};

struct Sizes {
  std::size_t rows, lookups, inserts;
};

std::string id_type(const std::string& engine) {
  if (engine == "postgres") return "BIGSERIAL PRIMARY KEY";
  if (engine == "mysql") return "BIGINT AUTO_INCREMENT PRIMARY KEY";
  return "INTEGER PRIMARY KEY";
}

std::string schema_sql(const std::string& engine) {
  std::string real = engine == "postgres" ? "DOUBLE PRECISION" : engine == "mysql" ? "DOUBLE" : "REAL";
  return "CREATE TABLE bench_items (id " + id_type(engine) + ", name VARCHAR(64) NOT NULL, price " + real +
         " NOT NULL)|CREATE TABLE bench_insert (id " + id_type(engine) + ", name VARCHAR(64) NOT NULL, price " + real +
         " NOT NULL)";
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string part; std::getline(ss, part, sep);)
    if (!part.empty()) out.push_back(part);
  return out;
}

void run_engine(const std::string& engine, const std::string& target, const Sizes& n, std::vector<bench::Result>& out) {
  DatabaseConfig cfg;
  if (engine.starts_with("sqlite")) cfg.add("bench", sqlite(target));
  else cfg.add("bench", target);
  Database db(cfg);
  auto& conn = db.connection("bench");

  // Set-up (untimed): the same rows for Plexus and, for :memory:, the raw driver's own database.
  auto setup = [&](const std::function<void(const std::string&)>& exec) {
    exec("DROP TABLE IF EXISTS bench_items");
    exec("DROP TABLE IF EXISTS bench_insert");
    for (const auto& stmt : split(schema_sql(engine), '|')) exec(stmt);
  };
  setup([&](const std::string& sql) { conn.execute(sql); });
  std::vector<Fields> rows;
  rows.reserve(n.rows);
  for (std::size_t i = 1; i <= n.rows; ++i)
    rows.push_back({{"id", static_cast<std::int64_t>(i)}, {"name", "item-" + std::to_string(i)}, {"price", i * 0.25}});
  conn.table("bench_items").insert_many(rows);
  auto raw = bench::make_raw(engine, target);  // after set-up: it prepares against the tables
  if (engine == "sqlite-memory") {
    setup([&](const std::string& sql) { raw->exec(sql); });
    raw->exec("BEGIN");
    for (std::size_t i = 1; i <= n.rows; ++i)
      raw->exec("INSERT INTO bench_items VALUES (" + std::to_string(i) + ", 'item-" + std::to_string(i) + "', " +
                std::to_string(i * 0.25) + ")");
    raw->exec("COMMIT");
  }
  auto key = [&](std::size_t i) { return static_cast<std::int64_t>((i * 7919) % n.rows + 1); };

  // W1: point select by primary key. Each variant sums what it read, so a
  // broken variant cannot look fast.
  std::map<std::string, std::int64_t> sums;
  const std::string w1 = "W1 point select";
  out.push_back(bench::measure(w1, engine, "raw", n.lookups, [&](std::size_t i) { sums["raw"] += raw->get(key(i)).id; }));
  const std::string sql = "SELECT id, name, price FROM bench_items WHERE id = ?";
  out.push_back(bench::measure(w1, engine, "plexus sql", n.lookups, [&](std::size_t i) {
    auto r = conn.select(sql, {key(i)});
    Item it{r[0][0].as<std::int64_t>(), r[0][1].as<std::string>(), r[0][2].as<double>()};
    sums["plexus sql"] += it.id;
  }));
  out.push_back(bench::measure(w1, engine, "plexus builder", n.lookups, [&](std::size_t i) {
    auto rec = conn.table("bench_items").select({"id", "name", "price"}).where("id", key(i)).first();
    sums["plexus builder"] += rec->get<std::int64_t>("id");
  }));
  auto items = db.model<BenchItem>();
  out.push_back(bench::measure(w1, engine, "plexus find", n.lookups, [&](std::size_t i) { sums["plexus find"] += items.find(key(i))->id; }));
  for (const auto& [impl, sum] : sums)
    if (sums.contains("raw") && sum != sums["raw"]) std::fprintf(stderr, "bench: %s %s read different rows than raw\n", engine.c_str(), impl.c_str());

  // W2: inserts in one transaction.
  const std::string w2 = "W2 insert";
  conn.execute("DELETE FROM bench_insert");
  if (engine == "sqlite-memory") raw->exec("DELETE FROM bench_insert");
  out.push_back(bench::measure_once(w2, engine, "raw one-row loop", n.inserts, [&] { raw->insert_loop(n.inserts); }));
  out.push_back(bench::measure_once(w2, engine, "plexus builder loop", n.inserts, [&] {
    conn.transaction([&](Transaction& tx) {
      for (std::size_t i = 0; i < n.inserts; ++i) tx.table("bench_insert").insert({{"name", "item"}, {"price", static_cast<double>(i)}});
    });
  }));
  std::vector<Fields> batch;
  batch.reserve(n.inserts);
  for (std::size_t i = 0; i < n.inserts; ++i) batch.push_back({{"name", "item"}, {"price", static_cast<double>(i)}});
  out.push_back(bench::measure_once(w2, engine, "plexus insert_many", n.inserts, [&] { conn.table("bench_insert").insert_many(batch); }));

  // W3: scan every row into structs.
  const std::string w3 = "W3 scan";
  std::size_t seen = 0;
  out.push_back(bench::measure_once(w3, engine, "raw", n.rows, [&] { seen = raw->scan().size(); }));
  out.push_back(bench::measure_once(w3, engine, "plexus sql", n.rows, [&] {
    auto r = conn.select("SELECT id, name, price FROM bench_items");
    std::vector<Item> v;
    v.reserve(r.size());
    for (Row row : r) v.push_back(Item{row[0].as<std::int64_t>(), row[1].as<std::string>(), row[2].as<double>()});
    seen = v.size();
  }));
  out.push_back(bench::measure_once(w3, engine, "plexus cursor", n.rows, [&] {
    std::vector<Item> v;
    auto cur = conn.cursor("SELECT id, name, price FROM bench_items");
    for (Row row : cur) v.push_back(Item{row[0].as<std::int64_t>(), row[1].as<std::string>(), row[2].as<double>()});
    seen = v.size();
  }));
  out.push_back(bench::measure_once(w3, engine, "plexus model all", n.rows, [&] { seen = items.all().size(); }));
  if (seen != n.rows && bench::only().empty()) std::fprintf(stderr, "bench: %s scan saw %zu rows, expected %zu\n", engine.c_str(), seen, n.rows);
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  std::string json_path = "bench/results/latest.json";
  std::vector<std::string> engines = {"sqlite-memory", "sqlite-wal", "postgres", "mysql"};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--quick") quick = true;
    else if (a == "--json" && i + 1 < argc) json_path = argv[++i];
    else if (a == "--engines" && i + 1 < argc) engines = split(argv[++i], ',');
    else if (a == "--only" && i + 1 < argc) bench::only() = argv[++i];
    else {
      std::fprintf(stderr, "usage: plexus_bench [--quick] [--json PATH] [--engines a,b]\n");
      return 2;
    }
  }
  Sizes n = quick ? Sizes{10000, 10000, 10000} : Sizes{100000, 100000, 100000};
  if (const char* tiny = std::getenv("PLEXUS_BENCH_TINY")) n = Sizes{500, 500, 500}, (void)tiny;

  std::vector<bench::Result> results;
  for (const auto& engine : engines) {
    std::string target;
    if (engine == "sqlite-memory") target = ":memory:";
    else if (engine == "sqlite-wal") {
      target = (std::filesystem::temp_directory_path() / "plexus_bench.db").string();
      for (const char* s : {"", "-wal", "-shm"}) std::filesystem::remove(target + s);
    } else {
      const char* url = std::getenv(engine == "postgres" ? "PLEXUS_TEST_PG_URL" : "PLEXUS_TEST_MYSQL_URL");
      if (!url) {
        std::fprintf(stderr, "bench: skipping %s (no URL; run scripts/servers start and source /tmp/plx/env)\n", engine.c_str());
        continue;
      }
      target = url;
      // Measure the libraries, not OpenSSL: both sides connect without TLS.
      if (engine == "postgres" && target.find("sslmode=") == std::string::npos)
        target += (target.find('?') == std::string::npos ? "?" : "&") + std::string("sslmode=disable");
    }
    try {
      run_engine(engine, target, n, results);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "bench: %s failed: %s\n", engine.c_str(), e.what());
      return 1;
    }
  }

  std::erase_if(results, [](const bench::Result& r) { return r.ops == 0; });  // left out by --only
  // The side-by-side table: ratio = ops/s ÷ the raw driver's ops/s in this run.
  std::map<std::string, double> raw_rate;
  for (const auto& r : results)
    if (r.impl.starts_with("raw")) raw_rate[r.workload + "|" + r.engine] = r.ops_per_s();
  std::printf("%-16s %-14s %-20s %12s %14s %8s\n", "workload", "engine", "implementation", "ops/s", "cpu ns/op", "vs raw");
  nlohmann::json j = nlohmann::json::array();
  for (const auto& r : results) {
    double base = raw_rate[r.workload + "|" + r.engine];
    double ratio = base > 0 ? r.ops_per_s() / base : 0;
    std::printf("%-16s %-14s %-20s %12.0f %14.0f %8.2f\n", r.workload.c_str(), r.engine.c_str(), r.impl.c_str(),
                r.ops_per_s(), r.cpu_ns_per_op, ratio);
    j.push_back({{"workload", r.workload}, {"engine", r.engine}, {"impl", r.impl}, {"ops", r.ops},
                 {"ops_per_s", r.ops_per_s()}, {"cpu_ns_per_op", r.cpu_ns_per_op}, {"ratio_to_raw", ratio}});
  }
  std::filesystem::create_directories(std::filesystem::path(json_path).parent_path());
  std::ofstream(json_path) << j.dump(2) << "\n";
  std::printf("results written to %s\n", json_path.c_str());
  return 0;
}
