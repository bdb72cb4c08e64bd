// Fault soak (bounded, loopback only): 8 client threads make acknowledged
// writes, each with a unique id, and reads over primary + replica, while the
// harness stops and starts the replica and restarts the primary. Afterwards:
// every acknowledged write is present exactly once, no read failed while a host
// could serve it, and writes during the primary's downtime failed only with
// connection errors. The figures are printed. PLEXUS_SOAK_SECONDS sets the
// length per engine (default 30).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "plexus/plexus.hpp"

using namespace plexus;
using namespace std::chrono;

namespace {

std::string env(const char* k) {
  const char* v = std::getenv(k);
  return v ? v : "";
}

struct Figures {
  std::atomic<std::uint64_t> writes_acked{0}, writes_failed{0}, reads_ok{0}, reads_failed{0};
  std::mutex m;
  std::map<std::string, std::uint64_t> failures_by_kind;
  void failed(const Error& e) {
    std::lock_guard lock(m);
    std::string kind(to_string(e.kind()));
    if (e.is_connection_error()) kind += std::string(" (") + std::string(to_string(e.failure())) + ")";
    ++failures_by_kind[kind];
  }
};

class Soak : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST_P(Soak, AcknowledgedWritesSurviveReplicaAndPrimaryRestarts) {
  const bool pg = GetParam() == "postgres";
  std::string primary = env(pg ? "PLEXUS_TEST_PG_URL" : "PLEXUS_TEST_MYSQL_URL");
  std::string replica = env(pg ? "PLEXUS_TEST_PG_REPLICA_URL" : "PLEXUS_TEST_MYSQL_REPLICA_URL");
  std::string script = env("PLEXUS_SERVERS_SCRIPT");
  if (primary.empty() || replica.empty() || script.empty()) GTEST_SKIP() << "servers not configured: run ./scripts/test";
  const int seconds_total = env("PLEXUS_SOAK_SECONDS").empty() ? 30 : std::stoi(env("PLEXUS_SOAK_SECONDS"));
  const std::string prefix = pg ? "pg-" : "my-";
  const std::string table = "soak_" + GetParam();

  DatabaseConfig cfg;
  auto& c = cfg.add("app", primary);
  c.read_hosts = parse_url(replica).hosts;
  c.replica_cooldown = milliseconds(300);
  c.pool.max = 8;
  c.pool.acquire_timeout = milliseconds(5000);
  c.options["connect_timeout"] = "2";
  c.query_timeout = milliseconds(5000);
  Database db(cfg);
  auto& conn = db.connection("app");
  conn.execute("DROP TABLE IF EXISTS " + table);
  conn.execute("CREATE TABLE " + table + " (seq " + std::string(pg ? "BIGSERIAL" : "BIGINT AUTO_INCREMENT") +
               " PRIMARY KEY, op_id BIGINT NOT NULL, thread_no INTEGER NOT NULL)");
  std::this_thread::sleep_for(milliseconds(500));  // let the replica create it too

  std::atomic<bool> stop{false}, primary_down{false};
  std::atomic<int> replica_reads{0};
  conn.on_after_query([&](const QueryEvent& e) {
    if (e.role == "replica") replica_reads.fetch_add(1, std::memory_order_relaxed);
  });
  Figures fig;
  std::vector<std::vector<std::int64_t>> acked(8);
  std::atomic<int> unexpected_write_errors{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 8; ++t)
    clients.emplace_back([&, t] {
      for (std::int64_t i = 0; !stop.load(); ++i) {
        const std::int64_t op = std::int64_t{t} * 1000000000 + i;
        if (i % 2 == 0) {
          try {
            conn.execute("INSERT INTO " + table + " (op_id, thread_no) VALUES (?, ?)", {op, t});
            acked[static_cast<std::size_t>(t)].push_back(op);
            ++fig.writes_acked;
          } catch (const Error& e) {
            ++fig.writes_failed;
            fig.failed(e);
            if (!e.is_connection_error()) ++unexpected_write_errors;
          }
        } else {
          try {
            (void)conn.scalar("SELECT count(*) FROM " + table + " WHERE thread_no = ?", {t});
            ++fig.reads_ok;
          } catch (const Error& e) {
            ++fig.reads_failed;
            fig.failed(e);
            ADD_FAILURE() << "read failed: " << e.what();
          }
        }
      }
    });

  auto run = [&](const std::string& verb, const std::string& who) {
    int rc = std::system((script + " " + verb + " " + prefix + who + " >/dev/null 2>&1").c_str());
    EXPECT_EQ(rc, 0) << verb << " " << who;
  };
  const auto slice = milliseconds(seconds_total * 1000 / 6);
  // Recovery: time from a server's restart until it serves again.
  auto time_until = [&](const std::function<bool()>& ok) {
    auto start = steady_clock::now();
    while (!ok() && steady_clock::now() - start < seconds(30)) std::this_thread::sleep_for(milliseconds(10));
    return duration_cast<milliseconds>(steady_clock::now() - start);
  };
  std::vector<std::string> recovery;
  for (int round = 0; round < 2; ++round) {
    std::this_thread::sleep_for(slice / 2);
    run("halt", "replica");
    std::this_thread::sleep_for(slice);
    run("resume", "replica");
    int before = replica_reads.load();
    recovery.push_back("replica back in " +
                       std::to_string(time_until([&] { return replica_reads.load() > before + 8; }).count()) + " ms");
    std::this_thread::sleep_for(slice / 2);
    run("halt", "primary");
    primary_down = true;
    std::this_thread::sleep_for(slice / 2);
    run("resume", "primary");
    primary_down = false;
    auto acked_before = fig.writes_acked.load();
    recovery.push_back("primary back in " +
                       std::to_string(time_until([&] { return fig.writes_acked.load() > acked_before + 8; }).count()) +
                       " ms");
  }
  std::this_thread::sleep_for(slice / 2);
  stop = true;
  for (auto& th : clients) th.join();

  // Every acknowledged write exactly once; nothing duplicated at all.
  std::set<std::int64_t> present;
  std::uint64_t duplicated = 0;
  for (Row r : conn.on_primary().select("SELECT op_id, count(*) FROM " + table + " GROUP BY op_id")) {
    present.insert(r[0].as<std::int64_t>());
    if (r[1].as<std::int64_t>() != 1) ++duplicated;
  }
  std::uint64_t missing = 0, total_acked = 0;
  for (const auto& list : acked)
    for (auto op : list) {
      ++total_acked;
      if (!present.count(op)) ++missing;
    }
  std::printf("soak %s: %llu ops in %d s; writes acked %llu, failed %llu; reads ok %llu, failed %llu; "
              "lost acked writes %llu, duplicated %llu\n",
              GetParam().c_str(), static_cast<unsigned long long>(fig.writes_acked + fig.writes_failed + fig.reads_ok + fig.reads_failed),
              seconds_total, static_cast<unsigned long long>(fig.writes_acked.load()),
              static_cast<unsigned long long>(fig.writes_failed.load()), static_cast<unsigned long long>(fig.reads_ok.load()),
              static_cast<unsigned long long>(fig.reads_failed.load()), static_cast<unsigned long long>(missing),
              static_cast<unsigned long long>(duplicated));
  for (const auto& [kind, n] : fig.failures_by_kind)
    std::printf("soak %s: failures of kind '%s': %llu\n", GetParam().c_str(), kind.c_str(), static_cast<unsigned long long>(n));
  for (const auto& r : recovery) std::printf("soak %s: %s\n", GetParam().c_str(), r.c_str());

  EXPECT_EQ(missing, 0u) << "acknowledged writes were lost";
  EXPECT_EQ(duplicated, 0u) << "writes were duplicated";
  EXPECT_EQ(total_acked, fig.writes_acked.load());
  EXPECT_EQ(fig.reads_failed.load(), 0u) << "reads failed while a host could serve them";
  EXPECT_EQ(unexpected_write_errors.load(), 0) << "writes failed with something other than a connection error";
  EXPECT_GT(fig.writes_failed.load(), 0u) << "the primary's downtime should have refused some writes";
  EXPECT_GT(fig.writes_acked.load(), 100u);
  conn.execute("DROP TABLE " + table);
}

INSTANTIATE_TEST_SUITE_P(Engines, Soak, ::testing::Values("postgres", "mysql"), [](const auto& p) { return p.param; });
