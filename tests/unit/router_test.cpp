// The router on a scripted fake engine registered by the test: every
// strategy, ejection and return, fall-back, causal and sticky reads, lag, a
// user-supplied picker, and the engine contract itself (aliases, typed
// options). Deterministic: no sleeps, no statistics.
#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "plexus/driver/engine.hpp"  // the fake engine implements the contract
#include "plexus/plexus.hpp"

using namespace plexus;
using namespace std::chrono_literals;

namespace {

/// What the fake servers do, shared by the engine and the test.
struct Script {
  std::mutex m;
  std::set<std::string> down;               // connect is refused
  std::set<std::string> lose_next;          // the next statement there loses its session
  std::map<std::string, std::int64_t> lag;  // replica lag in ms
  std::set<std::string> writable{"primary"};  // hosts that take writes (the others are read-only)
  bool caught_up = true;                    // whether replicas have replayed a position
  std::vector<std::string> served;          // host of every statement, in order
  std::vector<std::string> routes;          // the route of every statement (from hooks)
  int position = 0;
};

class FakeSession final : public driver::Session {
 public:
  FakeSession(Script& s, std::string host) : m_s(s), m_host(std::move(host)) {}
  Result execute(std::string_view sql, std::span<const Value>) override {
    std::lock_guard lock(m_s.m);
    if (m_s.lose_next.erase(m_host) || m_s.down.contains(m_host)) {
      m_dead = true;
      throw ConnectionError("fake: session lost");
    }
    if (sql.starts_with("BAD")) throw UsageError("fake: a usage error");
    if (sql.starts_with("INSERT") && !m_s.writable.contains(m_host))
      throw ReadOnlyError("fake: " + m_host + " is read-only");
    m_s.served.push_back(m_host);
    Result r(Columns({"host"}));
    *r.append_row() = Value(m_host);
    return r;
  }
  std::unique_ptr<RowSource> stream(std::string_view sql, std::span<const Value> params) override {
    return RowSource::of(execute(sql, params));
  }
  void begin() override {}
  void commit() override {}
  void rollback() override {}
  void ping() override {}
  bool healthy() const noexcept override { return !m_dead; }
  std::string server_version() override { return "fake 1"; }
  std::string_view engine() const noexcept override { return "fake"; }
  std::optional<std::string> replication_position() override {
    std::lock_guard lock(m_s.m);
    return std::to_string(++m_s.position);
  }
  bool wait_for_position(const std::string&, std::chrono::milliseconds) override {
    std::lock_guard lock(m_s.m);
    return m_s.caught_up;
  }
  NodeRole node_role() override {
    std::lock_guard lock(m_s.m);
    if (m_s.down.contains(m_host)) {
      m_dead = true;
      throw ConnectionError("fake: session lost");
    }
    return m_s.writable.contains(m_host) ? NodeRole::writable : NodeRole::read_only;
  }
  std::optional<std::chrono::milliseconds> replica_lag() override {
    std::lock_guard lock(m_s.m);
    auto it = m_s.lag.find(m_host);
    if (it == m_s.lag.end()) return std::chrono::milliseconds(0);
    if (it->second < 0) return std::nullopt;
    return std::chrono::milliseconds(it->second);
  }

 private:
  Script& m_s;
  std::string m_host;
  bool m_dead = false;
};

constexpr std::string_view kFakeAliases[] = {"scripted"};
constexpr driver::OptionSpec kFakeOptions[] = {
    {"latency", driver::OptionSpec::Type::milliseconds, "0", "pretend round-trip time", 0, 10'000},
};

class FakeEngine final : public driver::Engine {
 public:
  explicit FakeEngine(Script& s) : m_s(s) {}
  std::string_view name() const noexcept override { return "fake"; }
  std::span<const std::string_view> aliases() const noexcept override { return kFakeAliases; }
  const Grammar& grammar() const noexcept override { return grammar_for("sqlite"); }
  driver::Capabilities capabilities() const noexcept override {
    driver::Capabilities c;
    c.replication = true;
    return c;
  }
  std::span<const driver::OptionSpec> options() const noexcept override { return kFakeOptions; }
  std::unique_ptr<driver::Session> connect(const driver::Target& t) const override {
    const std::string host = t.host ? t.host->host : "none";
    std::lock_guard lock(m_s.m);
    if (m_s.down.contains(host)) throw ConnectionError("fake: nothing listens on " + host, ConnectionFailure::refused);
    return std::make_unique<FakeSession>(m_s, host);
  }

 private:
  Script& m_s;
};

/// Always the last replica it may use.
class LastPicker final : public Picker {
 public:
  std::size_t pick(std::span<const ReplicaView> candidates) override { return candidates.size() - 1; }
};

class Router : public ::testing::Test {
 protected:
  /// A connection "app" on the fake engine: primary "primary", replicas a, b, c.
  std::unique_ptr<Database> open(const std::function<void(ConnectionConfig&)>& tweak = {}) {
    DatabaseConfig cfg;
    ConnectionConfig c;
    c.driver = "scripted";
    auto host = [](std::string name) {
      Endpoint e;
      e.host = std::move(name);
      e.port = 1;
      return e;
    };
    c.hosts = {host("primary")};
    c.read_hosts = {host("a"), host("b"), host("c")};
    c.replica_cooldown = 3600s;  // an ejected replica stays out for the whole test
    if (tweak) tweak(c);
    cfg.add("app", c);
    Extensions ext;
    ext.engines.push_back(std::make_shared<FakeEngine>(script));
    ext.pickers["last"] = [] { return std::make_unique<LastPicker>(); };
    ext.pickers["seeded"] = [] { return std::make_unique<RandomPicker>(42); };
    auto db = std::make_unique<Database>(cfg, std::move(ext));
    db->on_after_query([this](const QueryEvent& e) { script.routes.emplace_back(e.route); });
    return db;
  }
  /// The host that served each of `n` reads.
  std::vector<std::string> reads(Queryable&& q, int n) { return reads(q, n); }
  std::vector<std::string> reads(Queryable& q, int n) {
    std::vector<std::string> out;
    for (int i = 0; i < n; ++i) out.push_back(q.scalar("SELECT host").as<std::string>());
    return out;
  }
  using V = std::vector<std::string>;
  Script script;
};

}  // namespace

TEST_F(Router, AnEngineAddedByTheApplicationHasItsAliasesAndTypedOptions) {
  auto db = open();
  EXPECT_EQ(db->connection("app").type(), "fake") << "the canonical name, not the alias configured";
  EXPECT_NE(db->engines().find("scripted"), nullptr);
  try {
    (void)open([](ConnectionConfig& c) { c.options["latency"] = "5s"; });
    FAIL() << "an option of the wrong type was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("connection 'app', key 'latency': expected whole milliseconds"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW((void)open([](ConnectionConfig& c) { c.options["bogus"] = "1"; }), ConfigError);
  EXPECT_THROW((void)open([](ConnectionConfig& c) { c.load_balance = "fastest"; }), ConfigError);
  // A second engine with a taken name is refused.
  DatabaseConfig cfg;
  Extensions twice;
  twice.engines = {std::make_shared<FakeEngine>(script), std::make_shared<FakeEngine>(script)};
  EXPECT_THROW(Database(cfg, std::move(twice)), ConfigError);
}

TEST_F(Router, RoundRobinTakesTheReplicasInTurnAndWritesGoToThePrimary) {
  auto db = open();
  auto& c = db->connection("app");
  EXPECT_EQ(reads(c, 6), (V{"a", "b", "c", "a", "b", "c"}));
  c.execute("INSERT x");
  EXPECT_EQ(script.served.back(), "primary");
  EXPECT_EQ(script.routes.back(), "write");
  EXPECT_EQ(reads(c.on_primary(), 1), (V{"primary"}));
  EXPECT_EQ(script.routes.back(), "read: forced primary");
}

TEST_F(Router, WeightedGivesEachReplicaItsShareSpreadOut) {
  auto db = open([](ConnectionConfig& c) {
    c.load_balance = "weighted";
    c.read_hosts[0].weight = 1;
    c.read_hosts[1].weight = 2;
    c.read_hosts[2].weight = 3;
  });
  // Smooth weighted round robin: exact shares over each cycle of 6, never three in a row.
  EXPECT_EQ(reads(db->connection("app"), 12), (V{"c", "b", "a", "c", "b", "c", "c", "b", "a", "c", "b", "c"}));
}

TEST_F(Router, RandomFromASeedRepeatsItsChoices) {
  auto first = reads(open([](ConnectionConfig& c) { c.load_balance = "seeded"; })->connection("app"), 20);
  auto second = reads(open([](ConnectionConfig& c) { c.load_balance = "seeded"; })->connection("app"), 20);
  EXPECT_EQ(first, second);
  EXPECT_EQ(std::set<std::string>(first.begin(), first.end()), (std::set<std::string>{"a", "b", "c"}));
}

TEST_F(Router, LeastOutstandingCountsOpenCursors) {
  auto db = open([](ConnectionConfig& c) {
    c.load_balance = "least_outstanding";
    c.read_hosts.pop_back();  // a and b
  });
  auto& c = db->connection("app");
  EXPECT_EQ(reads(c, 1), (V{"a"}));
  {
    auto cursor = c.cursor("SELECT host");  // on a, open: a has one in flight
    EXPECT_EQ(script.served.back(), "a");
    EXPECT_EQ(reads(c, 2), (V{"b", "b"})) << "a cursor counts as outstanding while it is open";
  }
  EXPECT_EQ(reads(c, 1), (V{"a"})) << "and no longer once it is closed";
}

TEST_F(Router, AUserPickerChoosesAndTheWalkGoesOnFromIt) {
  auto db = open([](ConnectionConfig& c) { c.load_balance = "last"; });
  auto& c = db->connection("app");
  EXPECT_EQ(reads(c, 2), (V{"c", "c"}));
  EXPECT_EQ(script.routes.back(), "read: last");
  script.down = {"c"};
  c.close_idle();
  EXPECT_EQ(reads(c, 1), (V{"a"})) << "c fails to connect: the walk goes on, wrapping around";
  EXPECT_EQ(reads(c, 1), (V{"b"})) << "c is ejected: the picker now sees a and b and picks the last";
}

TEST_F(Router, AFailedReplicaIsEjectedAndTheReadMovesOn) {
  auto db = open();
  auto& c = db->connection("app");
  std::vector<std::string> warnings;
  c.on_warning([&](const std::string& w) { warnings.push_back(w); });
  script.down = {"a"};
  // Round robin counts its picks: the first one lands on a, which is refused, and
  // the walk goes on to b; from then on the picker sees b and c only.
  EXPECT_EQ(reads(c, 4), (V{"b", "c", "b", "c"})) << "a is refused, then left out";
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("replica a:1 of connection 'app' left out"), std::string::npos) << warnings[0];
  auto h = c.health();
  ASSERT_EQ(h.hosts.size(), 4u);
  EXPECT_TRUE(h.hosts[1].ejected);
  EXPECT_EQ(h.status(), "degraded");
  // A session lost mid-statement, before any row reached the caller: the read moves on.
  script.lose_next = {"b"};
  EXPECT_EQ(reads(c, 1), (V{"c"}));
  EXPECT_EQ(reads(c, 1), (V{"c"})) << "b is out now too";
}

TEST_F(Router, AnEjectedReplicaReturnsAfterItsCooldown) {
  auto db = open([](ConnectionConfig& c) { c.replica_cooldown = 0ms; });
  auto& c = db->connection("app");
  script.down = {"a"};
  EXPECT_EQ(reads(c, 1), (V{"b"}));
  script.down.clear();
  EXPECT_EQ(reads(c, 3), (V{"b", "c", "a"})) << "with no cooldown left, a is tried and used again";
}

TEST_F(Router, AUsageErrorNeverEjectsAReplica) {
  auto db = open();
  auto& c = db->connection("app");
  for (int i = 0; i < 5; ++i) EXPECT_THROW((void)c.select("BAD"), UsageError);
  for (const auto& h : c.health().hosts) EXPECT_FALSE(h.ejected) << h.host;
}

TEST_F(Router, WithNoReplicaLeftReadsFallBackToThePrimaryUnlessReplicaIsRequired) {
  auto db = open();
  auto& c = db->connection("app");
  script.down = {"a", "b", "c"};
  // Required on a replica while every one fails: the error says what the last one said.
  try {
    (void)c.on_replica().select("SELECT host");
    FAIL();
  } catch (const ConnectionError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("no replica of connection 'app' can serve this read"), std::string::npos) << what;
    EXPECT_NE(what.find("(last error: fake: nothing listens on "), std::string::npos) << what;
  }
  for (const auto& h : c.health().hosts) EXPECT_EQ(h.ejected, h.host != "primary:1") << h.host;
  script.down = {"a", "b", "c"};
  EXPECT_EQ(reads(c, 1), (V{"primary"}));
  EXPECT_EQ(script.routes.back(), "read: fallback to primary (no replica available)");
  try {
    (void)c.on_replica().select("SELECT host");
    FAIL();
  } catch (const ConnectionError& e) {
    EXPECT_NE(std::string(e.what()).find("no replica of connection 'app' can serve this read"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("(all are left out or lagging)"), std::string::npos) << e.what();
  }
}

TEST_F(Router, StickyAndCausalUnitsOfWorkReadTheirWrites) {
  auto db = open();
  auto& c = db->connection("app");
  UnitOfWork sticky(Consistency::sticky);
  EXPECT_EQ(reads(c.with(sticky), 1), (V{"a"})) << "before it writes, a unit reads from replicas";
  c.with(sticky).execute("INSERT x");
  EXPECT_EQ(reads(c.with(sticky), 2), (V{"primary", "primary"}));
  EXPECT_EQ(script.routes.back(), "read: sticky (this unit wrote)");

  UnitOfWork causal(Consistency::causal);
  c.with(causal).execute("INSERT y");
  script.caught_up = false;
  EXPECT_EQ(reads(c.with(causal), 1), (V{"primary"}));
  EXPECT_EQ(script.routes.back(), "read: causal (replica behind, primary)");
  script.caught_up = true;
  EXPECT_NE(reads(c.with(causal), 1).front(), "primary");
  EXPECT_EQ(script.routes.back(), "read: causal (replica caught up)");
  // Cursors take the same route (they used to skip causal waits).
  script.caught_up = false;
  { auto cursor = c.with(causal).cursor("SELECT host"); }
  EXPECT_EQ(script.served.back(), "primary");
  // A transaction through the unit records its write at commit.
  UnitOfWork tx_unit(Consistency::sticky);
  c.with(tx_unit).transaction([](Transaction& tx) { tx.execute("INSERT z"); });
  EXPECT_TRUE(tx_unit.wrote("app"));
}

TEST_F(Router, ReplicasPastMaxLagOrOfUnknownLagAreLeftOut) {
  auto db = open([](ConnectionConfig& c) { c.max_replica_lag = 1000ms; });
  script.lag = {{"a", 5000}, {"b", -1}, {"c", 10}};  // b: the engine cannot tell (unknown is not zero)
  EXPECT_EQ(reads(db->connection("app"), 3), (V{"c", "c", "c"}));
}

// ---- following a fail-over between primary candidates ----------------------------

namespace {
/// A configuration tweak: the primary candidates are these fake hosts, no read hosts.
std::function<void(ConnectionConfig&)> candidates(std::vector<std::string> names,
                                                  std::chrono::milliseconds failover_wait = {}) {
  return [names = std::move(names), failover_wait](ConnectionConfig& cfg) {
    cfg.hosts.clear();
    for (const auto& n : names) {
      Endpoint e;
      e.host = n;
      e.port = 1;
      cfg.hosts.push_back(e);
    }
    cfg.read_hosts.clear();
    cfg.failover_wait = failover_wait;
  };
}
}  // namespace

TEST_F(Router, WritesFollowAPromotionAndTheOtherCandidatesServeReads) {
  script.writable = {"p1"};
  auto db = open(candidates({"p1", "p2"}));
  auto& c = db->connection("app");
  c.execute("INSERT 1");
  EXPECT_EQ(script.served.back(), "p1");
  EXPECT_EQ(reads(c, 2), (V{"p2", "p2"})) << "the candidate that is not the primary serves reads";
  // p1 dies; p2 is promoted. The write in flight fails (its outcome on p1 is
  // unknown, so it is not rerun); the next write goes to p2.
  script.down = {"p1"};
  script.writable = {"p2"};
  EXPECT_THROW(c.execute("INSERT 2"), ConnectionError);
  c.execute("INSERT 3");
  EXPECT_EQ(script.served.back(), "p2");
  EXPECT_EQ(db->metrics().value("plexus_failovers_total", {{"connection", "app"}}), 1);
  EXPECT_EQ(reads(c, 1), (V{"p2"})) << "no replica left: reads fall back to the new primary";
  const auto h = c.health();
  EXPECT_EQ(h.hosts.front().host, "p2:1");
  EXPECT_EQ(h.hosts.front().role, "primary");
}

TEST_F(Router, AWriteRefusedAsReadOnlyRunsOnceOnThePrimaryThereIsNow) {
  script.writable = {"p1"};
  auto db = open(candidates({"p1", "p2", "p3"}));
  auto& c = db->connection("app");
  c.execute("INSERT 1");
  // A switchover: p1 is demoted to a standby, p3 promoted. The refused write
  // changed nothing, so it runs again, once, on p3.
  script.writable = {"p3"};
  const auto before = script.served.size();
  c.execute("INSERT 2");
  EXPECT_EQ(std::vector<std::string>(script.served.begin() + static_cast<std::ptrdiff_t>(before), script.served.end()),
            (V{"p3"}));
  EXPECT_EQ(script.routes.back(), "write: on the new primary after a fail-over");
  // The old primary serves reads as a standby now, with p2.
  const auto r = reads(c, 4);
  EXPECT_EQ(std::set<std::string>(r.begin(), r.end()), (std::set<std::string>{"p1", "p2"}));
}

TEST_F(Router, WithNoPrimaryAWriteFailsNamingEachCandidateOrWaitsForOne) {
  script.writable = {"p1"};
  auto db = open(candidates({"p1", "p2"}));
  auto& c = db->connection("app");
  c.execute("INSERT 1");
  script.writable.clear();
  try {
    c.execute("INSERT 2");
    FAIL() << "a write without a primary succeeded";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("no primary candidate of connection 'app' takes writes"), std::string::npos) << m;
    EXPECT_NE(m.find("p1:1: read-only"), std::string::npos) << m;
    EXPECT_NE(m.find("p2:1: read-only"), std::string::npos) << m;
  }
  // With failover_wait_ms, a write waits for the promotion instead.
  auto waiting = open(candidates({"p1", "p2"}, 5000ms));
  script.writable.clear();
  script.down = {"p1"};
  std::thread promote([&] {
    std::this_thread::sleep_for(100ms);
    std::lock_guard lock(script.m);
    script.writable = {"p2"};
  });
  waiting->connection("app").execute("INSERT 3");
  promote.join();
  EXPECT_EQ(script.served.back(), "p2");
}

TEST(Failover, HostsInTomlAreThePrimaryCandidates) {
  auto cfg = DatabaseConfig::from_toml_string(R"(
[connections.app]
driver = "postgres"
hosts = ["10.0.0.1:5432", "10.0.0.2:5433"]
failover_wait_ms = 3000
database = "app"
)",
                                              "test.toml");
  const auto& c = *cfg.find("app");
  ASSERT_EQ(c.hosts.size(), 2u);
  EXPECT_EQ(c.hosts[1].port, 5433);
  EXPECT_EQ(c.failover_wait, 3000ms);
  EXPECT_THROW((void)DatabaseConfig::from_toml_string(R"(
[connections.app]
driver = "postgres"
host = "a"
hosts = ["b"]
)",
                                                      "test.toml"),
               ConfigError);
  const auto url = parse_url("mysql://u:secret@h1:3306,h2:3307/app");
  ASSERT_EQ(url.hosts.size(), 2u) << "a multi-host URL works on every engine";
  EXPECT_EQ(url.hosts[1].port, 3307);
}
