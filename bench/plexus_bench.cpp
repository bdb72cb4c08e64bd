// plexus_bench: Plexus beside the raw C API of each engine, same work, same run.
//   plexus_bench [--quick] [--json PATH] [--engines sqlite-memory,sqlite-wal,postgres,mysql,pg+mysql] [--only TEXT]
// pg+mysql (two-phase commit and copying between the two servers) runs when
// both servers are there and it, or both postgres and mysql, are asked for.
// Server URLs come from PLEXUS_TEST_PG_URL / PLEXUS_TEST_MYSQL_URL and their
// _REPLICA_URL twins (scripts/servers). SOCI and libpqxx run beside Plexus
// when the build found them.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>
#include <plexus/plexus.hpp>
#ifdef PLEXUS_HAS_ASYNC
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <plexus/async.hpp>
#endif

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

struct BenchInsert {
  std::int64_t id = 0;
  std::string name;
  double price = 0;
  static constexpr auto schema = plexus::schema("bench_insert", col<&BenchInsert::id>("id", primary_key),
                                                col<&BenchInsert::name>("name"), col<&BenchInsert::price>("price"))
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

struct Target {
  std::string engine, url, replica;  // replica: empty when the engine has none here
};

using Peers = std::vector<std::pair<std::string, std::unique_ptr<bench::RawDriver>>>;

/// SOCI on every engine, libpqxx on PostgreSQL, when the build found them.
Peers make_peers(const Target& t) {
  Peers peers;
  auto add = [&](const char* name, auto make) {
    try {
      if (auto d = make()) peers.emplace_back(name, std::move(d));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "bench: %s on %s left out: %s\n", name, t.engine.c_str(), e.what());
    }
  };
  add("soci", [&] { return bench::make_soci(t.engine, t.url); });
  if (t.engine == "postgres") add("libpqxx", [&] { return bench::make_pqxx(t.url); });
  return peers;
}

std::size_t peak_rss_kb();
void reset_peak_rss();

void run_engine(const Target& t, const Sizes& n, std::vector<bench::Result>& out) {
  const std::string& engine = t.engine;
  DatabaseConfig cfg;
  if (engine.starts_with("sqlite")) cfg.add("bench", sqlite(t.url));
  else cfg.add("bench", t.url);
  Database db(cfg);
  auto& conn = db.connection("bench");

  // Set-up (untimed): the same rows for Plexus and, for :memory:, each driver's own database.
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
  auto raw = bench::make_raw(engine, t.url);  // after set-up: it prepares against the tables
  Peers peers = make_peers(t);
  if (engine == "sqlite-memory") {
    auto fill = [&](bench::RawDriver& d) {
      setup([&](const std::string& sql) { d.exec(sql); });
      d.exec("BEGIN");
      for (std::size_t i = 1; i <= n.rows; ++i)
        d.exec("INSERT INTO bench_items VALUES (" + std::to_string(i) + ", 'item-" + std::to_string(i) + "', " +
               std::to_string(i * 0.25) + ")");
      d.exec("COMMIT");
    };
    fill(*raw);
    for (auto& [name, peer] : peers) fill(*peer);
  }
  auto key = [&](std::size_t i) { return static_cast<std::int64_t>((i * 7919) % n.rows + 1); };
  // Each variant sums the ids it read, so a broken variant cannot look fast.
  std::map<std::string, std::int64_t> sums;
  auto check_sums = [&](const std::string& workload) {
    // Slots exist for variants --only left out; compare only those that ran.
    for (const auto& [impl, sum] : sums)
      if (bench::wanted(workload, impl) && bench::wanted(workload, "raw") && sum != sums["raw"])
        std::fprintf(stderr, "bench: %s %s %s read different rows than raw\n", workload.c_str(), engine.c_str(), impl.c_str());
    sums.clear();
  };

  // W1: point select by primary key.
  const std::string w1 = "W1 point select";
  // Each variant's sum slot is looked up once, outside the timed loop.
  const std::string sql = "SELECT id, name, price FROM bench_items WHERE id = ?";
  auto by_id = conn.table("bench_items").select({"id", "name", "price"}).where("id", 0).prepare();
  auto items = db.model<BenchItem>();
  std::vector<bench::Variant> w1v;
  w1v.push_back({"raw", [&, &sum = sums["raw"]](std::size_t i) { sum += raw->get(key(i)).id; }});
  w1v.push_back({"plexus sql", [&, &sum = sums["plexus sql"]](std::size_t i) {
    auto r = conn.select(sql, {key(i)});
    Item it{r[0][0].as<std::int64_t>(), r[0][1].as<std::string>(), r[0][2].as<double>()};
    sum += it.id;
  }});
  w1v.push_back({"plexus select_as", [&, &sum = sums["plexus select_as"]](std::size_t i) {
    sum += conn.select_as<BenchItem>(sql, {key(i)}).at(0).id;
  }});
  w1v.push_back({"plexus builder", [&, &sum = sums["plexus builder"]](std::size_t i) {
    auto rec = conn.table("bench_items").select({"id", "name", "price"}).where("id", key(i)).first();
    sum += rec->get<std::int64_t>("id");
  }});
  // The form the issue names, without a select list: SELECT * of the same three columns.
  w1v.push_back({"plexus table where first", [&, &sum = sums["plexus table where first"]](std::size_t i) {
    auto rec = conn.table("bench_items").where("id", key(i)).first();
    sum += rec->get<std::int64_t>("id");
  }});
  w1v.push_back({"plexus builder first_as", [&, &sum = sums["plexus builder first_as"]](std::size_t i) {
    sum += conn.table("bench_items").select({"id", "name", "price"}).where("id", key(i)).first_as<BenchItem>()->id;
  }});
  w1v.push_back({"plexus prepared builder", [&, &sum = sums["plexus prepared builder"]](std::size_t i) {
    sum += by_id.first_as<BenchItem>({key(i)})->id;
  }});
  w1v.push_back({"plexus find", [&, &sum = sums["plexus find"]](std::size_t i) { sum += items.find(key(i))->id; }});
  w1v.push_back({"plexus model where first", [&, &sum = sums["plexus model where first"]](std::size_t i) {
    sum += items.where("id", key(i)).first()->id;
  }});
  for (auto& [name, peer] : peers)
    w1v.push_back({name, [&, p = peer.get(), &sum = sums[name]](std::size_t i) { sum += p->get(key(i)).id; }});
  for (auto& r : bench::measure_group(w1, engine, n.lookups, w1v)) out.push_back(std::move(r));
  check_sums(w1);

  // W2: inserts in one transaction.
  const std::string w2 = "W2 insert";
  conn.execute("DELETE FROM bench_insert");
  if (engine == "sqlite-memory") raw->exec("DELETE FROM bench_insert");
  out.push_back(bench::measure_once(w2, engine, "raw one-row loop", n.inserts, [&] { raw->insert_loop(n.inserts); }));
  out.push_back(bench::measure_once(w2, engine, "plexus sql loop", n.inserts, [&] {
    const std::string ins = "INSERT INTO bench_insert (name, price) VALUES (?, ?)";
    conn.transaction([&](Transaction& tx) {
      for (std::size_t i = 0; i < n.inserts; ++i) tx.execute(ins, {"item", static_cast<double>(i)});
    });
  }));
  out.push_back(bench::measure_once(w2, engine, "plexus builder loop", n.inserts, [&] {
    conn.transaction([&](Transaction& tx) {
      for (std::size_t i = 0; i < n.inserts; ++i) tx.table("bench_insert").insert({{"name", "item"}, {"price", static_cast<double>(i)}});
    });
  }));
  auto inserts = db.model<BenchInsert>();
  out.push_back(bench::measure_once(w2, engine, "plexus model create", n.inserts, [&] {
    conn.transaction([&](Transaction& tx) {
      auto in_tx = inserts.in(tx);
      for (std::size_t i = 0; i < n.inserts; ++i) (void)in_tx.create(BenchInsert{0, "item", static_cast<double>(i)});
    });
  }));
  std::vector<Fields> batch;
  batch.reserve(n.inserts);
  for (std::size_t i = 0; i < n.inserts; ++i) batch.push_back({{"name", "item"}, {"price", static_cast<double>(i)}});
  out.push_back(bench::measure_once(w2, engine, "plexus insert_many", n.inserts, [&] { conn.table("bench_insert").insert_many(batch); }));
  for (auto& [name, peer] : peers)
    out.push_back(bench::measure_once(w2, engine, name + " one-row loop", n.inserts, [&, p = peer.get()] { p->insert_loop(n.inserts); }));

  // W3: scan every row into structs.
  const std::string w3 = "W3 scan";
  std::map<std::string, std::size_t> seen;
  out.push_back(bench::measure_best(w3, engine, "raw", n.rows, 3, [&] { seen["raw"] = raw->scan().size(); }));
  out.push_back(bench::measure_best(w3, engine, "plexus sql", n.rows, 3, [&] {
    auto r = conn.select("SELECT id, name, price FROM bench_items");
    std::vector<Item> v;
    v.reserve(r.size());
    for (Row row : r) v.push_back(Item{row[0].as<std::int64_t>(), row[1].as<std::string>(), row[2].as<double>()});
    seen["plexus sql"] = v.size();
  }));
  out.push_back(bench::measure_best(w3, engine, "plexus select_as", n.rows, 3, [&] {
    seen["plexus select_as"] = conn.select_as<BenchItem>("SELECT id, name, price FROM bench_items").size();
  }));
  out.push_back(bench::measure_best(w3, engine, "plexus cursor", n.rows, 3, [&] {
    std::vector<Item> v;
    auto cur = conn.cursor("SELECT id, name, price FROM bench_items");
    for (Row row : cur) v.push_back(Item{row[0].as<std::int64_t>(), row[1].as<std::string>(), row[2].as<double>()});
    seen["plexus cursor"] = v.size();
  }));
  out.push_back(bench::measure_best(w3, engine, "plexus model all", n.rows, 3, [&] { seen["plexus model all"] = items.all().size(); }));
  for (auto& [name, peer] : peers)
    out.push_back(bench::measure_best(w3, engine, name, n.rows, 3, [&, p = peer.get(), nm = name] { seen[nm] = p->scan().size(); }));
  for (const auto& [impl, count] : seen)
    if (count != n.rows && bench::wanted(w3, impl))
      std::fprintf(stderr, "bench: %s %s scan saw %zu rows, expected %zu\n", engine.c_str(), impl.c_str(), count, n.rows);

  // W4: 8 threads, 9 reads to 1 write, over the primary and its replica.
  const std::string w4 = "W4 8 threads";
  if (engine != "sqlite-memory") {
    constexpr std::size_t kThreads = 8;
    const std::size_t per_thread = std::max<std::size_t>(n.lookups / kThreads, 1);
    const std::string& read_url = t.replica.empty() ? t.url : t.replica;
    if (!t.replica.empty()) {  // the replica must have the rows before anyone reads them there
      auto probe = bench::make_raw(engine, read_url);
      for (int tries = 0; probe->get(static_cast<std::int64_t>(n.rows)).id != static_cast<std::int64_t>(n.rows); ++tries) {
        if (tries > 200) throw std::runtime_error("the replica did not catch up within 10 s");
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
    std::vector<std::unique_ptr<bench::RawDriver>> writers, readers;
    for (std::size_t i = 0; i < kThreads; ++i) {
      writers.push_back(bench::make_raw(engine, t.url));
      readers.push_back(t.replica.empty() ? nullptr : bench::make_raw(engine, read_url));
    }
    out.push_back(bench::measure_threads(w4, engine, "raw", kThreads, per_thread, [&](std::size_t th, std::size_t i) {
      auto id = key(th * per_thread + i);
      if (i % 10 == 0) writers[th]->update(id, static_cast<double>(i));
      else (readers[th] ? readers[th] : writers[th])->get(id);
    }));
    writers.clear();
    readers.clear();
    DatabaseConfig rw;
    auto& c = engine.starts_with("sqlite") ? rw.add("rw", sqlite(t.url)) : rw.add("rw", t.url);
    if (!t.replica.empty()) c.read_hosts = parse_url(t.replica).hosts;
    c.pool.min = c.pool.max = kThreads;
    Database rwdb(rw);
    auto& routed = rwdb.connection("rw");
    routed.warm_up();
    const std::string update = "UPDATE bench_items SET price = ? WHERE id = ?";
    out.push_back(bench::measure_threads(w4, engine, t.replica.empty() ? "plexus pool" : "plexus pool+replica", kThreads,
                                         per_thread, [&](std::size_t th, std::size_t i) {
      auto id = key(th * per_thread + i);
      if (i % 10 == 0) (void)routed.execute(update, {static_cast<double>(i), id});
      else (void)routed.select(sql, {id});
    }));
  }

  // W5: many point selects at once: raw one by one (the yardstick), the best
  // batching the raw API offers, and Plexus's select_batch.
  const std::string w5 = "W5 batch select";
  constexpr std::size_t kBatch = 100;
  std::vector<std::int64_t> ids(n.lookups);
  for (std::size_t i = 0; i < n.lookups; ++i) ids[i] = key(i);
  auto in_batches = [&](const std::function<std::int64_t(std::span<const std::int64_t>)>& run) {
    std::int64_t sum = 0;
    for (std::size_t at = 0; at < ids.size(); at += kBatch)
      sum += run(std::span<const std::int64_t>(ids).subspan(at, std::min(kBatch, ids.size() - at)));
    return sum;
  };
  out.push_back(bench::measure_once(w5, engine, "raw one by one", n.lookups, [&] {
    for (auto id : ids) sums["raw"] += raw->get(id).id;
  }));
  if (raw->batches())
    out.push_back(bench::measure_once(w5, engine, "raw pipeline", n.lookups, [&] {
      sums["raw pipeline"] = in_batches([&](std::span<const std::int64_t> part) {
        std::int64_t s = 0;
        for (const auto& it : raw->get_many(part)) s += it.id;
        return s;
      });
    }));
  out.push_back(bench::measure_once(w5, engine, "plexus select_batch", n.lookups, [&] {
    std::vector<std::vector<Value>> sets;
    sums["plexus select_batch"] = in_batches([&](std::span<const std::int64_t> part) {
      sets.clear();
      for (auto id : part) sets.push_back({id});
      std::int64_t s = 0;
      for (const auto& r : conn.select_batch(sql, sets)) s += r[0][0].as<std::int64_t>();
      return s;
    });
  }));
  check_sums(w5);

#ifdef PLEXUS_HAS_ASYNC
  // W9: point selects from one thread: the blocking API one at a time, the
  // asynchronous API with 64 in flight over a pool of 8 sessions, and (the
  // yardstick) the raw API's pipeline, 64 at a time on one connection.
  if (engine == "postgres" || engine == "mysql") {
    const std::string w9 = "W9 one thread";
    if (raw->batches())
      out.push_back(bench::measure_once(w9, engine, "raw pipeline 64 deep", n.lookups, [&] {
        std::int64_t s = 0;
        for (std::size_t at = 0; at < ids.size(); at += 64)
          for (const auto& it : raw->get_many(std::span<const std::int64_t>(ids).subspan(at, std::min<std::size_t>(64, ids.size() - at))))
            s += it.id;
        sums["w9 raw"] = s;
      }));
    out.push_back(bench::measure_once(w9, engine, "plexus blocking", n.lookups, [&] {
      std::int64_t s = 0;
      for (auto id : ids) s += conn.select(sql, {id})[0][0].as<std::int64_t>();
      sums["w9 blocking"] = s;
    }));
    DatabaseConfig eight = cfg;
    eight.connections.front().pool.max = 8;
    Database adb(eight);
    auto& aconn = adb.connection("bench");
    aconn.warm_up();
    out.push_back(bench::measure_once(w9, engine, "plexus async 64 in flight", n.lookups, [&] {
      boost::asio::io_context io;
      std::int64_t s = 0;
      for (std::size_t lane = 0; lane < 64; ++lane)
        boost::asio::co_spawn(io, [&, lane]() -> boost::asio::awaitable<void> {
          for (std::size_t k = lane; k < ids.size(); k += 64) {
            Result r = co_await plexus::async_select(aconn, sql, plexus::values(ids[k]), boost::asio::use_awaitable);
            s += r[0][0].as<std::int64_t>();
          }
        }, [](std::exception_ptr e) { if (e) std::rethrow_exception(e); });
      io.run();
      sums["w9 async"] = s;
    }));
    // The same 64 at a time as one pipelined batch (async_select_batch), on one session.
    out.push_back(bench::measure_once(w9, engine, "plexus async batch 64 deep", n.lookups, [&] {
      boost::asio::io_context io;
      std::int64_t s = 0;
      boost::asio::co_spawn(io, [&]() -> boost::asio::awaitable<void> {
        std::vector<std::vector<Value>> sets;
        for (std::size_t at = 0; at < ids.size(); at += 64) {
          sets.clear();
          for (std::size_t k = at; k < std::min(ids.size(), at + 64); ++k) sets.push_back({ids[k]});
          for (const auto& r : co_await plexus::async_select_batch(aconn, sql, sets, boost::asio::use_awaitable))
            s += r[0][0].as<std::int64_t>();
        }
      }, [](std::exception_ptr e) { if (e) std::rethrow_exception(e); });
      io.run();
      sums["w9 async batch"] = s;
    }));
    if (sums["w9 async"] != sums["w9 blocking"] || sums["w9 async batch"] != sums["w9 blocking"] ||
        (raw->batches() && sums["w9 raw"] != sums["w9 blocking"]))
      std::fprintf(stderr, "bench: W9 read different rows\n");
    // 10,000 coroutines at once, one point select each, through a pool of
    // 16 sessions from one thread: no thread per query, and the memory they take.
    if (bench::wanted(w9, "plexus async 64 in flight")) {
      DatabaseConfig sixteen = cfg;
      sixteen.connections.front().pool.max = 16;
      Database db16(sixteen);
      auto& c16 = db16.connection("bench");
      c16.warm_up();
      reset_peak_rss();
      const std::size_t before_kb = peak_rss_kb();
      const auto t0 = std::chrono::steady_clock::now();
      boost::asio::io_context io;
      std::size_t answered = 0;
      for (std::size_t k = 0; k < 10000; ++k)
        boost::asio::co_spawn(io, [&, k]() -> boost::asio::awaitable<void> {
          Result r = co_await plexus::async_select(c16, sql, plexus::values(ids[k % ids.size()]), boost::asio::use_awaitable);
          answered += r.size();
        }, [](std::exception_ptr e) { if (e) std::rethrow_exception(e); });
      io.run();
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      std::printf("W9 %s: 10,000 coroutines over a pool of 16, one thread: %zu answered in %.0f ms, peak resident "
                  "memory %.1f MB above the %.1f MB before (%zu sessions open)\n",
                  engine.c_str(), answered, ms, static_cast<double>(peak_rss_kb() - before_kb) / 1024.0,
                  static_cast<double>(before_kb) / 1024.0, c16.pool_stats().open);
    }
  }
#endif
}

/// Peak resident memory since the last reset (Linux: VmHWM, reset through clear_refs).
std::size_t peak_rss_kb() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.starts_with("VmHWM:")) return std::strtoull(line.c_str() + 6, nullptr, 10);
  return 0;
}
void reset_peak_rss() { std::ofstream("/proc/self/clear_refs") << "5"; }

/// W6 and W7: PostgreSQL and MariaDB together. W6: one write on each,
/// committed one after the other versus in one two-phase commit. W7: rows
/// copied MariaDB → PostgreSQL versus insert_many on PostgreSQL alone.
void run_cross(const std::string& pg_url, const std::string& my_url, const Sizes& n, std::vector<bench::Result>& out) {
  const std::string engine = "pg+mysql";
  const auto log_file = (std::filesystem::temp_directory_path() / "plexus_bench_tx.log").string();
  std::filesystem::remove(log_file);
  auto open = [&](const std::string& log_connection) {
    DatabaseConfig cfg;
    cfg.add("pg", pg_url);
    cfg.add("my", my_url);
    cfg.transactions.coordinator = "bench";
    cfg.transactions.log_connection = log_connection;
    cfg.transactions.log_file = log_file;
    return std::make_unique<Database>(cfg);
  };
  auto db = open("");
  auto& pg = db->connection("pg");
  auto& my = db->connection("my");
  for (auto* c : {&pg, &my}) {
    c->execute("DROP TABLE IF EXISTS bench_xa");
    c->execute("CREATE TABLE bench_xa (id BIGINT PRIMARY KEY, note VARCHAR(32) NOT NULL)");
  }
  const std::string ins = "INSERT INTO bench_xa (id, note) VALUES (?, ?)";
  // The raw drivers prepare their statements against W1's tables.
  for (const auto& [c, name] : {std::pair{&pg, "postgres"}, std::pair{&my, "mysql"}})
    for (const auto& stmt : split(schema_sql(name), '|'))
      c->execute("CREATE TABLE IF NOT EXISTS" + stmt.substr(std::string_view("CREATE TABLE").size()));

  // W6, every variant interleaved round by round (median round). The raw
  // yardstick: each C API running BEGIN; INSERT; COMMIT, one after the other.
  const std::string w6 = "W6 2pc";
  const std::size_t txs = std::max<std::size_t>(n.inserts / 50, 20);
  std::int64_t next = 0;
  auto raw_pg = bench::make_raw("postgres", pg_url);
  auto raw_my = bench::make_raw("mysql", my_url);
  auto logged = open("pg");  // the decision in a table on pg, which takes part: its commit decides
  auto two_phase = [&](Database& d, const char* note) {
    d.transaction({"pg", "my"}, [&](GlobalTransaction& g) {
      g["pg"].execute(ins, {next, note});
      g["my"].execute(ins, {next, note});
    });
    ++next;
  };
  std::vector<bench::Variant> w6v;
  w6v.push_back({"raw two commits", [&](std::size_t) {
    for (auto* d : {raw_pg.get(), raw_my.get()}) {
      d->exec("BEGIN");
      d->exec("INSERT INTO bench_xa (id, note) VALUES (" + std::to_string(next) + ", 'raw')");
      d->exec("COMMIT");
    }
    ++next;
  }});
  w6v.push_back({"plexus two transactions", [&](std::size_t) {
    pg.transaction([&](Transaction& tx) { tx.execute(ins, {next, "seq"}); });
    my.transaction([&](Transaction& tx) { tx.execute(ins, {next, "seq"}); });
    ++next;
  }});
  w6v.push_back({"plexus 2pc, log file", [&](std::size_t) { two_phase(*db, "file"); }});
  w6v.push_back({"plexus 2pc, log on pg", [&](std::size_t) { two_phase(*logged, "table"); }});
  const auto w6r = bench::measure_group(w6, engine, txs, w6v, 10, 20);
  for (const auto& r : w6r) out.push_back(r);
  if (w6r[1].ops > 0)
    for (std::size_t j = 2; j < w6r.size(); ++j)
      if (w6r[j].ops > 0)
        std::printf("W6 %s: %.2f x the time of two transactions one after the other\n", w6r[j].impl.c_str(),
                    w6r[j].wall_s / w6r[1].wall_s);
  logged.reset();
  raw_pg.reset();
  raw_my.reset();
  std::filesystem::remove(log_file);

  // W7. Rows with the types a copy maps (integers, text, DECIMAL, booleans, timestamps).
  const std::string w7 = "W7 copy";
  const std::size_t rows = n.rows * 10;
  my.execute("DROP TABLE IF EXISTS bench_copy");
  my.execute("CREATE TABLE bench_copy (id BIGINT PRIMARY KEY, name VARCHAR(64), amount DECIMAL(12,2), "
             "flag BOOLEAN, created DATETIME(6))");
  auto make_target = [&] {
    pg.execute("DROP TABLE IF EXISTS bench_copy");
    pg.execute("CREATE TABLE bench_copy (id BIGINT PRIMARY KEY, name VARCHAR(64), amount NUMERIC(12,2), "
               "flag BOOLEAN, created TIMESTAMP(6))");
  };
  const Timestamp t0{std::chrono::sys_days(std::chrono::year{2024} / 1 / 1)};
  auto batch_of = [&](std::size_t from, std::size_t count) {
    std::vector<Fields> b;
    b.reserve(count);
    for (std::size_t i = from; i < from + count; ++i)
      b.push_back({{"id", static_cast<std::int64_t>(i)},
                   {"name", "row-" + std::to_string(i)},
                   {"amount", std::to_string(i % 100000) + ".25"},
                   {"flag", i % 2 == 0},
                   {"created", t0 + std::chrono::microseconds(i)}});
    return b;
  };
  constexpr std::size_t kBatch = 1000;
  for (std::size_t at = 0; at < rows; at += kBatch) my.table("bench_copy").insert_many(batch_of(at, std::min(kBatch, rows - at)));
  make_target();
  out.push_back(bench::measure_once(w7, engine, "raw-side: insert_many on pg", rows, [&] {
    for (std::size_t at = 0; at < rows; at += kBatch) pg.table("bench_copy").insert_many(batch_of(at, std::min(kBatch, rows - at)));
  }));
  make_target();
  reset_peak_rss();
  const std::size_t before_kb = peak_rss_kb();
  CopySummary summary;
  out.push_back(bench::measure_once(w7, engine, "plexus copy_rows my->pg", rows, [&] {
    summary = copy_rows(*db, {.from = "my", .table = "bench_copy", .to = "pg", .batch = kBatch});
  }));
  const std::size_t peak_kb = peak_rss_kb();
  if (summary.rows_written != rows && bench::wanted(w7, "plexus copy_rows my->pg"))
    std::fprintf(stderr, "bench: W7 copy wrote %llu rows, expected %zu\n",
                 static_cast<unsigned long long>(summary.rows_written), rows);
  else if (bench::wanted(w7, "plexus copy_rows my->pg"))
    std::printf("W7 copy of %zu rows: peak resident memory %.1f MB (%.1f MB above the start)\n", rows,
                static_cast<double>(peak_kb) / 1024.0, static_cast<double>(peak_kb - std::min(peak_kb, before_kb)) / 1024.0);
  for (auto* c : {&pg, &my}) {
    c->execute("DROP TABLE bench_copy");
    c->execute("DROP TABLE bench_xa");
  }
}

#ifdef PLEXUS_HAS_ASYNC
/// W9 scatter: a builder's read over 16 members whose answer waits 20 ms on
/// the server (16 connections over the three PostgreSQL servers), asked from
/// one thread: async_get runs them at once on the loop; the blocking get()
/// on the group's bounded executor. Compared with one member alone.
void scatter_sixteen(const std::string& pg, const std::string& pg1, const std::string& pg2, std::vector<bench::Result>& out) {
  const std::string w = "W9 scatter 16 x 20 ms";
  if (!bench::wanted(w, "member alone") && !bench::wanted(w, "plexus async_get") && !bench::wanted(w, "plexus blocking get"))
    return;
  const std::string engine = "shards";
  DatabaseConfig cfg;
  std::vector<std::string> names;
  const std::string urls[] = {pg1, pg2, pg};
  for (std::size_t m = 0; m < 16; ++m) {
    names.push_back("wide" + std::to_string(m));
    cfg.add(names.back(), urls[m % 3]);
  }
  cfg.add_shard_group("wide", names, "modulo").key = "id";
  Database db(cfg);
  auto& wide = db.shards("wide");
  for (std::size_t m = 0; m < 3; ++m)
    wide.member(m).execute("CREATE OR REPLACE VIEW bench_waiting AS SELECT 1 AS waited FROM pg_sleep(0.02)");
  for (std::size_t m = 0; m < wide.size(); ++m) wide.member(m).warm_up();
  const std::size_t rounds = 10;
  auto alone = bench::measure_best(w, engine, "member alone", rounds, 3, [&] {
    for (std::size_t k = 0; k < rounds; ++k) (void)wide.member(0).table("bench_waiting").get();
  });
  std::size_t rows = 0;
  auto async = bench::measure_best(w, engine, "plexus async_get", rounds, 3, [&] {
    boost::asio::io_context io;
    boost::asio::co_spawn(io, [&]() -> boost::asio::awaitable<void> {
      for (std::size_t k = 0; k < rounds; ++k)
        rows = (co_await plexus::async_get(wide, wide.table("bench_waiting"), boost::asio::use_awaitable)).size();
    }, [](std::exception_ptr e) { if (e) std::rethrow_exception(e); });
    io.run();
  });
  if (rows != wide.size() && bench::wanted(w, "plexus async_get"))
    std::fprintf(stderr, "bench: %s got %zu rows from %zu members\n", w.c_str(), rows, wide.size());
  auto blocking = bench::measure_best(w, engine, "plexus blocking get", rounds, 3, [&] {
    for (std::size_t k = 0; k < rounds; ++k) rows = wide.table("bench_waiting").get().size();
  });
  const double one = 1.0 / alone.ops_per_s();
  std::printf("W9 scatter over 16 members that wait 20 ms each, from one thread: async_get %.2f x one member alone, "
              "blocking get %.2f x\n", (1.0 / async.ops_per_s()) / one, (1.0 / blocking.ops_per_s()) / one);
  out.push_back(std::move(alone));
  out.push_back(std::move(async));
  out.push_back(std::move(blocking));
  for (std::size_t m = 0; m < 3; ++m) wide.member(m).execute("DROP VIEW bench_waiting");
}
#endif

/// W8: a shard group of four members on the servers (PostgreSQL x3 and
/// MariaDB). A keyed point select through the group versus the raw driver on
/// the same shard; a scatter-gather COUNT versus the slowest member alone;
/// peak memory of an ORDER BY … LIMIT 100 and of a keyset walk over every row.
void run_shards(const std::string& pg, const std::string& pg1, const std::string& pg2, const std::string& my,
                const Sizes& n, std::vector<bench::Result>& out) {
  const std::string engine = "shards";
  DatabaseConfig cfg;
  cfg.add("pg1", pg1);
  cfg.add("pg2", pg2);
  cfg.add("pg", pg);
  cfg.add("my", my);
  cfg.add_shard_group("bench_shards", {"pg1", "pg2", "pg", "my"}, "modulo").key = "id";
  cfg.add_shard_group("bench_ids", {"pg1", "pg2", "pg", "my"}, "hash").key = "id";
  // Loaded through a Database of its own: the measured sessions, like the
  // raw driver's, have not just run thousands of bulk INSERTs.
  auto loader = std::make_unique<Database>(cfg);
  auto& load = loader->shards("bench_shards");
  for (std::size_t m = 0; m < load.size(); ++m) {
    auto& c = load.member(m);
    for (const auto& stmt : split(schema_sql(m == 3 ? "mysql" : "postgres"), '|')) {  // the raw driver prepares against both
      c.execute("DROP TABLE IF EXISTS " + split(stmt, ' ')[2]);
      c.execute(stmt);
    }
  }
  const std::size_t rows = n.rows * 10;
  constexpr std::size_t kBatch = 2000;
  std::vector<Fields> batch;
  for (std::size_t at = 1; at <= rows; at += kBatch) {
    batch.clear();
    for (std::size_t i = at; i < at + kBatch && i <= rows; ++i)
      batch.push_back({{"id", static_cast<std::int64_t>(i)}, {"name", "item-" + std::to_string(i)},
                       {"price", static_cast<double>(i % 9973) * 0.5}});
    load.table("bench_items").insert_many(batch);
  }
  loader.reset();
  Database db(cfg);
  auto& group = db.shards("bench_shards");
  // Keys on the first member (modulo 4 = 0), where the raw driver reads the same rows.
  auto key = [&](std::size_t i) { return static_cast<std::int64_t>(((i * 7919) % (rows / 4)) * 4 + 4); };
  auto raw = bench::make_raw("postgres", pg1);
  const std::string sql = "SELECT id, name, price FROM bench_items WHERE id = ?";
  std::map<std::string, std::int64_t> sums;
  std::vector<bench::Variant> v;
  v.push_back({"raw (the shard's own driver)", [&, &sum = sums["raw"]](std::size_t i) { sum += raw->get(key(i)).id; }});
  v.push_back({"plexus shard(key).select", [&, &sum = sums["shard"]](std::size_t i) {
    sum += group.shard(key(i)).select_one_as<BenchItem>(sql, {key(i)})->id;
  }});
  v.push_back({"plexus group builder", [&, &sum = sums["builder"]](std::size_t i) {
    sum += group.table("bench_items").select({"id", "name", "price"}).where("id", key(i)).first_as<BenchItem>()->id;
  }});
  // 30 rounds, and the ratio also taken round by round: a round of raw and the
  // rounds of Plexus beside it run within milliseconds of each other, so a
  // slow spell of this shared machine moves both.
  std::vector<std::vector<double>> round_walls;
  for (auto& r : bench::measure_group("W8 keyed select", engine, n.lookups / 4, v, 30, 200, &round_walls))
    out.push_back(std::move(r));
  if (round_walls[0].size() == round_walls[1].size() && !round_walls[0].empty()) {
    std::vector<double> ratios;
    for (std::size_t k = 0; k < round_walls[0].size(); ++k) ratios.push_back(round_walls[0][k] / round_walls[1][k]);
    std::sort(ratios.begin(), ratios.end());
    std::printf("W8 keyed select: shard(key).select / raw, paired round by round: median %.2f (quartiles %.2f-%.2f "
                "over %zu rounds)\n",
                ratios[ratios.size() / 2], ratios[ratios.size() / 4], ratios[ratios.size() * 3 / 4], ratios.size());
  }
  if (sums["shard"] != sums["raw"] || sums["builder"] != sums["raw"])
    std::fprintf(stderr, "bench: W8 keyed select read different rows than raw\n");

  // Scatter-gather latency: the group's COUNT versus each member's alone.
  const std::size_t rounds = 20;
  double slowest = 0;
  for (std::size_t m = 0; m < group.size(); ++m) {
    auto r = bench::measure_best("W8 scatter", engine, "member " + group.member_names()[m] + " alone", rounds, 3, [&] {
      for (std::size_t k = 0; k < rounds; ++k) (void)group.member(m).table("bench_items").where("price", ">", 100).count();
    });
    slowest = std::max(slowest, 1.0 / r.ops_per_s());
    out.push_back(std::move(r));
  }
  auto all = bench::measure_best("W8 scatter", engine, "plexus group count", rounds, 3, [&] {
    for (std::size_t k = 0; k < rounds; ++k) (void)group.table("bench_items").where("price", ">", 100).count();
  });
  std::printf("W8 scatter COUNT over 4 members: %.2f x the slowest member alone (CPU-bound: four servers share this "
              "machine's two cores)\n", (1.0 / all.ops_per_s()) / slowest);
  out.push_back(std::move(all));

  // Members whose answer takes 20 ms of server-side waiting, as shards on
  // machines of their own take their time apart from each other's: what is
  // left of the ratio is the fan-out's own cost.
  for (std::size_t m = 0; m < group.size(); ++m)
    group.member(m).execute(m == 3 ? "CREATE OR REPLACE FUNCTION bench_wait(s DOUBLE) RETURNS INT NO SQL RETURN SLEEP(s)"
                                   : "CREATE OR REPLACE FUNCTION bench_wait(s FLOAT) RETURNS INT LANGUAGE sql AS "
                                     "'SELECT 0 FROM pg_sleep(s)'");
  const std::string waiting = "SELECT bench_wait(0.02) AS waited";
  const std::size_t wait_rounds = 10;
  double slowest_waiting = 0;
  for (std::size_t m = 0; m < group.size(); ++m) {
    auto r = bench::measure_best("W8 scatter 20 ms", engine, "member " + group.member_names()[m] + " alone", wait_rounds, 3,
                                 [&] { for (std::size_t k = 0; k < wait_rounds; ++k) (void)group.member(m).select(waiting); });
    slowest_waiting = std::max(slowest_waiting, 1.0 / r.ops_per_s());
    out.push_back(std::move(r));
  }
  std::size_t answered = 0;
  auto fanned = bench::measure_best("W8 scatter 20 ms", engine, "plexus group select", wait_rounds, 3, [&] {
    for (std::size_t k = 0; k < wait_rounds; ++k) answered = group.select(waiting).size();
  });
  if (answered != group.size() && bench::wanted("W8 scatter 20 ms", "plexus group select"))
    std::fprintf(stderr, "bench: W8 scatter 20 ms got %zu rows from %zu members\n", answered, group.size());
  if (bench::wanted("W8 scatter 20 ms", "plexus group select"))
    std::printf("W8 scatter over 4 members that wait 20 ms each: %.2f x the slowest member alone\n",
                (1.0 / fanned.ops_per_s()) / slowest_waiting);
  out.push_back(std::move(fanned));
  for (std::size_t m = 0; m < group.size(); ++m) group.member(m).execute("DROP FUNCTION bench_wait");
#ifdef PLEXUS_HAS_ASYNC
  scatter_sixteen(pg, pg1, pg2, out);
#endif

  // Memory: a merged top 100, and a keyset walk over every row, 1000 a page.
  reset_peak_rss();
  const std::size_t start_kb = peak_rss_kb();
  auto top = group.table("bench_items").select({"id", "price"}).order_by_desc("price").order_by("id").limit(100).get();
  const std::size_t top_kb = peak_rss_kb();
  reset_peak_rss();
  std::size_t walked = 0;
  std::string token;
  do {
    auto page = group.page_by_key(group.table("bench_items").select({"id", "price"}), {"id"}, 1000, token);
    walked += page.rows.size();
    token = page.next;
  } while (!token.empty());
  const std::size_t walk_kb = peak_rss_kb();
  if (top.size() != 100 || walked != rows) std::fprintf(stderr, "bench: W8 read %zu / %zu rows\n", top.size(), walked);
  std::printf("W8 memory over %zu rows on 4 members: ORDER BY price LIMIT 100 peak %.1f MB, keyset walk (1000 a page) "
              "peak %.1f MB (process start of the step %.1f MB)\n",
              rows, static_cast<double>(top_kb) / 1024.0, static_cast<double>(walk_kb) / 1024.0,
              static_cast<double>(start_kb) / 1024.0);
  raw.reset();

  // Global ids: a one-row insert through the group with the key given, with
  // a sequence's next id (blocks of 1,000 on "pg"), with a time-ordered id.
  // The sources' share of a sharded insert is the difference.
  auto& keyed = db.shards("bench_ids");
  const std::vector<std::string> id_tables = {"bench_ids", "bench_ids_seq", "bench_ids_time"};
  for (const auto& t : id_tables) {
    keyed.every_shard().execute("DROP TABLE IF EXISTS " + t);
    keyed.every_shard().execute("CREATE TABLE " + t + " (id BIGINT PRIMARY KEY, v INT)");
  }
  for (const char* t : {"plexus_id_blocks", "plexus_id_workers"}) db.connection("pg").execute(std::string("DROP TABLE IF EXISTS ") + t);
  keyed.generate_ids("bench_ids_seq", "id", std::make_shared<SequenceIds>(db, "pg", "bench_ids", 1000));
  keyed.generate_ids("bench_ids_time", "id", std::make_shared<TimeIds>(db, "pg", "bench_ids"));
  std::int64_t given = 0;
  std::vector<bench::Variant> ins;
  ins.push_back({"key given", [&](std::size_t) { keyed.table("bench_ids").insert({{"id", ++given}, {"v", 1}}); }});
  ins.push_back({"sequence ids (block 1000)", [&](std::size_t) { keyed.table("bench_ids_seq").insert({{"v", 2}}); }});
  ins.push_back({"time ids", [&](std::size_t) { keyed.table("bench_ids_time").insert({{"v", 3}}); }});
  auto inserted = bench::measure_group("W8 sharded insert", engine, n.lookups / 20, ins, 20, 100);
  if (inserted[0].ops_per_s() > 0 && inserted[1].ops_per_s() > 0 && inserted[2].ops_per_s() > 0)
    std::printf("W8 sharded insert: an id from a sequence costs %+.1f %%, a time-ordered id %+.1f %% of the insert\n",
                (inserted[0].ops_per_s() / inserted[1].ops_per_s() - 1) * 100,
                (inserted[0].ops_per_s() / inserted[2].ops_per_s() - 1) * 100);
  for (auto& r : inserted) out.push_back(std::move(r));
  for (const auto& t : id_tables) keyed.every_shard().execute("DROP TABLE " + t);
  for (const char* t : {"plexus_id_blocks", "plexus_id_workers"})
    db.connection("pg").execute(std::string("DROP TABLE IF EXISTS ") + t);

  for (std::size_t m = 0; m < group.size(); ++m)
    for (const char* t : {"bench_items", "bench_insert"}) group.member(m).execute(std::string("DROP TABLE ") + t);
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
  bool failed = false;
  for (const auto& engine : engines) {
    if (engine == "pg+mysql" || engine == "shards") continue;  // run after the engines, below
    Target t{engine, "", ""};
    if (engine == "sqlite-memory") t.url = ":memory:";
    else if (engine == "sqlite-wal") {
      t.url = (std::filesystem::temp_directory_path() / "plexus_bench.db").string();
      for (const char* s : {"", "-wal", "-shm"}) std::filesystem::remove(t.url + s);
    } else {
      const bool pg = engine == "postgres";
      const char* url = std::getenv(pg ? "PLEXUS_TEST_PG_URL" : "PLEXUS_TEST_MYSQL_URL");
      if (!url) {
        std::fprintf(stderr, "bench: skipping %s (no URL; run scripts/servers start and source /tmp/plx/env)\n", engine.c_str());
        continue;
      }
      // Measure the libraries, not OpenSSL: every side connects without TLS.
      auto no_tls = [pg](std::string u) {
        if (pg && u.find("sslmode=") == std::string::npos) u += (u.find('?') == std::string::npos ? "?" : "&") + std::string("sslmode=disable");
        return u;
      };
      t.url = no_tls(url);
      if (const char* rep = std::getenv(pg ? "PLEXUS_TEST_PG_REPLICA_URL" : "PLEXUS_TEST_MYSQL_REPLICA_URL")) t.replica = no_tls(rep);
    }
    try {
      run_engine(t, n, results);
    } catch (const std::exception& e) {  // the other engines' figures still count
      std::fprintf(stderr, "bench: %s failed: %s\n", engine.c_str(), e.what());
      failed = true;
    }
  }

  // Both servers together: two-phase commit and copying between them.
  const char* pg_url = std::getenv("PLEXUS_TEST_PG_URL");
  const char* my_url = std::getenv("PLEXUS_TEST_MYSQL_URL");
  const bool cross = std::find(engines.begin(), engines.end(), "pg+mysql") != engines.end() ||
                     (std::find(engines.begin(), engines.end(), "postgres") != engines.end() &&
                      std::find(engines.begin(), engines.end(), "mysql") != engines.end());
  if (cross && pg_url && my_url) {
    try {
      std::string pg = pg_url;
      if (pg.find("sslmode=") == std::string::npos) pg += (pg.find('?') == std::string::npos ? "?" : "&") + std::string("sslmode=disable");
      run_cross(pg, my_url, n, results);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "bench: pg+mysql failed: %s\n", e.what());
      failed = true;
    }
  }

  // Four shards on the servers.
  const char* pg1_url = std::getenv("PLEXUS_TEST_PG_SHARD1_URL");
  const char* pg2_url = std::getenv("PLEXUS_TEST_PG_SHARD2_URL");
  const bool shards = std::find(engines.begin(), engines.end(), "shards") != engines.end() || cross;
  if (shards && pg_url && my_url && pg1_url && pg2_url) {
    try {
      auto no_tls = [](std::string u) {
        return u.find("sslmode=") == std::string::npos ? u + (u.find('?') == std::string::npos ? "?" : "&") + "sslmode=disable" : u;
      };
      run_shards(no_tls(pg_url), no_tls(pg1_url), no_tls(pg2_url), my_url, n, results);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "bench: shards failed: %s\n", e.what());
      failed = true;
    }
  }

  std::erase_if(results, [](const bench::Result& r) { return r.ops == 0; });  // left out by --only
  // The side-by-side table: ratio = ops/s ÷ the raw driver's ops/s in this run.
  std::map<std::string, double> raw_rate;
  for (const auto& r : results)  // the first raw row of a workload is its yardstick
    if (r.impl.starts_with("raw")) raw_rate.try_emplace(r.workload + "|" + r.engine, r.ops_per_s());
  std::printf("%-16s %-14s %-24s %12s %14s %8s\n", "workload", "engine", "implementation", "ops/s", "cpu ns/op", "vs raw");
  nlohmann::json j = nlohmann::json::array();
  for (const auto& r : results) {
    double base = raw_rate[r.workload + "|" + r.engine];
    double ratio = base > 0 ? r.ops_per_s() / base : 0;
    std::printf("%-16s %-14s %-24s %12.0f %14.0f %8.2f\n", r.workload.c_str(), r.engine.c_str(), r.impl.c_str(),
                r.ops_per_s(), r.cpu_ns_per_op, ratio);
    j.push_back({{"workload", r.workload}, {"engine", r.engine}, {"impl", r.impl}, {"ops", r.ops},
                 {"ops_per_s", r.ops_per_s()}, {"cpu_ns_per_op", r.cpu_ns_per_op}, {"ratio_to_raw", ratio}});
  }
  std::filesystem::create_directories(std::filesystem::path(json_path).parent_path());
  std::ofstream(json_path) << j.dump(2) << "\n";
  std::printf("results written to %s\n", json_path.c_str());
  return failed ? 1 : 0;
}
