// The pool on its own, with a counting in-process driver (pure pool logic:
// lifetimes, validation, health, hand-over between threads).
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "plexus/core/error.hpp"
#include "plexus/db/pool.hpp"
#include "plexus/driver/engine.hpp"

using namespace plexus;
using namespace std::chrono_literals;

namespace {

struct Counters {
  std::atomic<int> opened{0}, closed{0}, pings{0};
  std::atomic<bool> pings_fail{false};
};

class FakeSession final : public driver::Session {
 public:
  explicit FakeSession(Counters& c) : m_c(c) { ++m_c.opened; }
  ~FakeSession() override { ++m_c.closed; }
  Result execute(std::string_view, std::span<const Value>) override { return Result(); }
  std::unique_ptr<RowSource> stream(std::string_view, std::span<const Value>) override { return nullptr; }
  void begin() override {}
  void commit() override {}
  void rollback() override {}
  void ping() override {
    ++m_c.pings;
    if (m_c.pings_fail) {
      m_healthy = false;
      throw ConnectionError("fake server gone");
    }
  }
  bool healthy() const noexcept override { return m_healthy; }
  std::string server_version() override { return "fake"; }
  std::string_view engine() const noexcept override { return "fake"; }
  bool m_healthy = true;

 private:
  Counters& m_c;
};

class FakeDriver final : public driver::Engine {
 public:
  explicit FakeDriver(Counters& c) : m_c(c) {}
  std::string_view name() const noexcept override { return "fake"; }
  const Grammar& grammar() const noexcept override { return grammar_for("sqlite"); }
  driver::Capabilities capabilities() const noexcept override { return {}; }
  std::unique_ptr<driver::Session> connect(const driver::Target&) const override {
    return std::make_unique<FakeSession>(m_c);
  }
  std::string describe(const ConnectionConfig&, const Endpoint*) const override { return "fake-host"; }
  bool shareable(const ConnectionConfig&) const override { return true; }

 private:
  Counters& m_c;
};

class PoolTest : public ::testing::Test {
 protected:
  PoolTest() : driver(counters) {
    cfg.name = "fake";
    cfg.driver = "fake";
    cfg.pool.max = 4;
  }
  Counters counters;
  FakeDriver driver;
  ConnectionConfig cfg;
  driver::Options opts;
};

}  // namespace

TEST_F(PoolTest, AReleasedSessionIsReusedAndCountedIdle) {
  Pool pool(driver, cfg, opts, nullptr, "primary");
  driver::Session* first = nullptr;
  {
    auto lease = pool.acquire();
    first = &*lease;
    EXPECT_EQ(pool.stats().in_use, 1u);
    EXPECT_EQ(pool.stats().idle, 0u);
  }
  auto st = pool.stats();
  EXPECT_EQ(st.open, 1u);
  EXPECT_EQ(st.idle, 1u);
  EXPECT_EQ(st.in_use, 0u);
  EXPECT_EQ(pool.idle_count(), 1u);
  for (int i = 0; i < 100; ++i) {
    auto lease = pool.acquire();
    EXPECT_EQ(&*lease, first) << "one user at a time keeps reusing the same session";
  }
  EXPECT_EQ(counters.opened, 1);
}

TEST_F(PoolTest, SeveralIdleSessionsAreAllKeptAndCounted) {
  Pool pool(driver, cfg, opts, nullptr, "primary");
  {
    auto a = pool.acquire();
    auto b = pool.acquire();
    auto c = pool.acquire();
    EXPECT_EQ(pool.stats().in_use, 3u);
  }
  EXPECT_EQ(pool.stats().idle, 3u);
  EXPECT_EQ(pool.stats().open, 3u);
  {
    auto a = pool.acquire();
    auto b = pool.acquire();
    auto c = pool.acquire();
    EXPECT_NE(&*a, &*b);
    EXPECT_NE(&*b, &*c);
  }
  EXPECT_EQ(counters.opened, 3) << "all three came back and were handed out again";
}

TEST_F(PoolTest, CloseIdleClosesEveryIdleSession) {
  Pool pool(driver, cfg, opts, nullptr, "primary");
  {
    auto a = pool.acquire();
    auto b = pool.acquire();
  }
  EXPECT_EQ(pool.close_idle(), 2u);
  EXPECT_EQ(counters.closed, 2);
  auto st = pool.stats();
  EXPECT_EQ(st.open, 0u);
  EXPECT_EQ(st.idle, 0u);
  EXPECT_EQ(st.discarded, 2u);
}

TEST_F(PoolTest, AnUnhealthySessionIsClosedWhenItComesBack) {
  Pool pool(driver, cfg, opts, nullptr, "primary");
  {
    auto lease = pool.acquire();
    static_cast<FakeSession&>(*lease).m_healthy = false;
  }
  EXPECT_EQ(counters.closed, 1);
  EXPECT_EQ(pool.stats().open, 0u);
  auto again = pool.acquire();
  EXPECT_TRUE(again->healthy());
  EXPECT_EQ(counters.opened, 2);
}

TEST_F(PoolTest, ADiscardedLeaseIsNeverHandedOutAgain) {
  Pool pool(driver, cfg, opts, nullptr, "primary");
  driver::Session* gone = nullptr;
  {
    auto lease = pool.acquire();
    gone = &*lease;
    lease.discard();
  }
  EXPECT_EQ(counters.closed, 1);
  EXPECT_EQ(pool.stats().discarded, 1u);
  auto next = pool.acquire();
  EXPECT_EQ(counters.opened, 2) << "a new session, not the discarded one";
  (void)gone;
}

TEST_F(PoolTest, IdleSessionsPastTheTimeoutAreClosedDownToMin) {
  cfg.pool.min = 1;
  cfg.pool.idle_timeout = 30ms;
  Pool pool(driver, cfg, opts, nullptr, "primary");
  {
    auto a = pool.acquire();
    auto b = pool.acquire();
    auto c = pool.acquire();
  }
  EXPECT_EQ(pool.stats().open, 3u);
  std::this_thread::sleep_for(80ms);
  { auto lease = pool.acquire(); }
  EXPECT_EQ(pool.stats().open, 1u) << "the sweep keeps pool.min";
  EXPECT_EQ(counters.closed, 2);
}

TEST_F(PoolTest, ASessionPastItsLifetimeIsReplaced) {
  cfg.pool.max_lifetime = 30ms;
  Pool pool(driver, cfg, opts, nullptr, "primary");
  { auto lease = pool.acquire(); }
  std::this_thread::sleep_for(60ms);
  { auto lease = pool.acquire(); }
  EXPECT_EQ(counters.opened, 2);
  EXPECT_GE(counters.closed, 1);
  EXPECT_EQ(pool.stats().open, 1u);
}

TEST_F(PoolTest, ASessionIdleBeyondValidateAfterIsPingedAndReplacedIfDead) {
  cfg.pool.validate_after = 20ms;
  Pool pool(driver, cfg, opts, nullptr, "primary");
  { auto lease = pool.acquire(); }
  { auto lease = pool.acquire(); }
  EXPECT_EQ(counters.pings, 0) << "used just now: no round trip";
  std::this_thread::sleep_for(50ms);
  { auto lease = pool.acquire(); }
  EXPECT_EQ(counters.pings, 1);
  EXPECT_EQ(counters.opened, 1);
  std::this_thread::sleep_for(50ms);
  counters.pings_fail = true;
  auto lease = pool.acquire();
  EXPECT_EQ(counters.pings, 2);
  EXPECT_EQ(counters.opened, 2) << "the dead session was replaced";
  EXPECT_TRUE(lease->healthy());
}

TEST_F(PoolTest, AWaiterGetsTheSessionReleasedByAnotherThread) {
  cfg.pool.max = 1;
  cfg.pool.acquire_timeout = 5000ms;
  Pool pool(driver, cfg, opts, nullptr, "primary");
  for (int round = 0; round < 50; ++round) {
    auto held = pool.acquire();
    std::atomic<bool> got{false};
    std::thread waiter([&] {
      auto lease = pool.acquire();
      got = true;
    });
    while (pool.stats().waiting == 0) std::this_thread::yield();
    EXPECT_FALSE(got);
    held.release();
    waiter.join();
    EXPECT_TRUE(got);
  }
  EXPECT_EQ(counters.opened, 1);
  EXPECT_EQ(pool.stats().timeouts, 0u);
}

TEST_F(PoolTest, ManyThreadsNeverShareASessionAndNeverExceedMax) {
  cfg.pool.max = 2;
  cfg.pool.acquire_timeout = 10000ms;
  Pool pool(driver, cfg, opts, nullptr, "primary");
  std::mutex m;
  std::set<driver::Session*> held;
  std::atomic<int> overlaps{0}, runs{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        auto lease = pool.acquire();
        {
          std::lock_guard lock(m);
          if (!held.insert(&*lease).second) ++overlaps;
        }
        ++runs;
        {
          std::lock_guard lock(m);
          held.erase(&*lease);
        }
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(overlaps, 0);
  EXPECT_EQ(runs, 12000);
  EXPECT_LE(counters.opened, 2);
  auto st = pool.stats();
  EXPECT_EQ(st.in_use, 0u);
  EXPECT_EQ(st.idle, st.open);
  EXPECT_EQ(st.timeouts, 0u);
}

TEST_F(PoolTest, DestroyingThePoolClosesItsIdleSessions) {
  {
    Pool pool(driver, cfg, opts, nullptr, "primary");
    auto a = pool.acquire();
    auto b = pool.acquire();
  }
  EXPECT_EQ(counters.opened, 2);
  EXPECT_EQ(counters.closed, 2);
}

// The asynchronous API waits through acquire_or_wait(): a session given back
// goes to the first waiter in its wake, so a caller arriving before the woken
// one runs cannot take it first (1,000 clients of the async shop service
// timed out at the back of the queue when it could).
TEST_F(PoolTest, ASessionGivenBackGoesToTheFirstWaiterInOrder) {
  cfg.pool.max = 1;
  Pool pool(driver, cfg, opts, nullptr, "primary");
  Pool::Ready first = pool.acquire_or_wait({});
  ASSERT_TRUE(first.open);
  Pool::Lease held = pool.open_reserved(std::chrono::steady_clock::now() + 1s);
  std::vector<int> order;
  std::vector<Pool::Lease> handed(3);
  std::vector<Pool::Ready> waits;
  for (int i = 0; i < 3; ++i) {
    waits.push_back(pool.acquire_or_wait([&, i](Pool::Lease l) {
      order.push_back(i);
      handed[static_cast<std::size_t>(i)] = std::move(l);
    }));
    ASSERT_FALSE(waits.back().lease);
    ASSERT_FALSE(waits.back().open);
  }
  held.release();  // to waiter 0, in its wake
  ASSERT_EQ(order, std::vector<int>{0});
  ASSERT_TRUE(handed[0]);
  // A caller arriving now finds nothing: the session is waiter 0's.
  Pool::Ready late = pool.acquire_or_wait({});
  EXPECT_FALSE(late.lease);
  EXPECT_FALSE(late.open);
  handed[0].release();
  handed[1].release();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
  EXPECT_TRUE(handed[2]);
  // A wait withdrawn is skipped; a wake that brings nothing (a slot freed) lets the waiter look again.
  Pool::Lease last = std::move(handed[2]);
  bool woken_empty = false, woken_with = false;
  Pool::Ready a = pool.acquire_or_wait([&](Pool::Lease l) { woken_empty = !l; });
  Pool::Ready b = pool.acquire_or_wait([&](Pool::Lease l) { woken_with = static_cast<bool>(l); });
  EXPECT_TRUE(pool.cancel_wait(a.waiter));
  last.release();
  EXPECT_FALSE(woken_empty);
  EXPECT_TRUE(woken_with) << "the session went to the one still waiting";
  EXPECT_EQ(counters.opened, 1);
}
