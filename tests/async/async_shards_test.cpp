// The asynchronous API on a shard group of mixed engines (the servers): the
// merge oracle's generated queries answered through async_get as through
// get() (the same suite, the read passed in); the server members asked from
// the loop's own thread, at once; refusals and a member's error delivered as
// the blocking call throws them.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "plexus/async.hpp"
#include "shard/oracle.hpp"
#include "shard/servers_fixture.hpp"

namespace asio = boost::asio;
using namespace plexus;
using plexus::test::ShardServers;

namespace {

/// async_get on `g`, awaited in a coroutine on an io_context driven by this thread alone.
Result read_async(ShardGroup& g, const QueryBuilder& q) {
  asio::io_context io;
  Result out;
  std::exception_ptr failed;
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { out = co_await async_get(g, q, asio::use_awaitable); },
      [&](std::exception_ptr e) { failed = e; });
  io.run();
  if (failed) std::rethrow_exception(failed);
  return out;
}

/// What `fn` throws, as text ("" when it returns).
template <class F>
std::string error_of(F fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

/// The items table as a model on the mixed group, keyed and sharded by id.
struct ShardItem {
  std::int64_t id = 0;
  std::string grp;
  std::int64_t cat = 0;
  double price = 0;
  std::int64_t qty = 0;
  std::string name;
  static constexpr auto schema =
      plexus::schema("items", col<&ShardItem::id>("id", primary_key), col<&ShardItem::grp>("grp"),
                     col<&ShardItem::cat>("cat"), col<&ShardItem::price>("price"), col<&ShardItem::qty>("qty"),
                     col<&ShardItem::name>("name"))
          .connection("mixed")
          .shard_key("id");
};

}  // namespace

TEST_F(ShardServers, AsyncModelFindersOnAGroupAnswerAsTheBlockingOnes) {
  auto& g = db->shards("mixed");
  for (std::size_t m = 0; m < g.size(); ++m) {
    g.member(m).execute("DROP TABLE IF EXISTS items");
    g.member(m).execute(ddl(g.member(m).name()));
  }
  for (std::int64_t id = 1; id <= 30; ++id)
    g.table("items").insert({{"id", id}, {"grp", "g" + std::to_string(id % 3)}, {"cat", id % 5},
                             {"price", 1.5 * static_cast<double>(id)}, {"qty", id % 7}, {"name", "n" + std::to_string(id)}});
  auto items = db->model<ShardItem>();
  asio::io_context io;
  std::exception_ptr failed;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        // By the shard key: the owning member alone.
        for (std::int64_t id : {1, 7, 22, 30}) {
          const auto found = co_await async_find(items, Value(id), asio::use_awaitable);
          EXPECT_TRUE(found && found->id == id && found->name == "n" + std::to_string(id)) << id;
        }
        EXPECT_FALSE((co_await async_find(items, Value(999), asio::use_awaitable)).has_value());
        // Across the members, merged as get() merges them.
        const auto blocking = items.where("qty", ">=", 3).order_by("price", "desc").limit(9).get();
        const auto awaited =
            co_await async_get(items.where("qty", ">=", 3).order_by("price", "desc").limit(9), asio::use_awaitable);
        EXPECT_EQ(awaited.size(), 9u);
        EXPECT_EQ(awaited.size(), blocking.size());
        for (std::size_t i = 0; i < awaited.size() && i < blocking.size(); ++i) EXPECT_EQ(awaited[i].id, blocking[i].id);
        EXPECT_EQ((co_await async_all(items, asio::use_awaitable)).size(), 30u);
        const auto cheapest = co_await async_first(items.query().order_by("price"), asio::use_awaitable);
        EXPECT_TRUE(cheapest && cheapest->id == 1);
      },
      [&](std::exception_ptr e) { failed = e; });
  io.run();
  if (failed) std::rethrow_exception(failed);
}

TEST_F(ShardServers, AsyncReadsAgreeWithOneDatabaseAsTheBlockingReadsDo) {
  auto& g = db->shards("mixed");
  auto [compared, refused] = test::merge_oracle(g, db->connection("one"), 424243, 200, ddl,
                                                [&](const QueryBuilder& q) { return read_async(g, q); });
  EXPECT_GE(compared, 150) << "refused " << refused;
  std::printf("figures: async merge oracle (PostgreSQL x2, MariaDB, SQLite): %d queries identical to one database, "
              "%d refused\n", compared, refused);
}

TEST_F(ShardServers, AsyncFanOutAsksTheServerMembersFromTheLoopsOwnThread) {
  auto& g = db->shards("mixed");
  for (std::size_t m = 0; m < g.size(); ++m) {
    g.member(m).execute("DROP TABLE IF EXISTS items");
    g.member(m).execute(ddl(g.member(m).name()));
  }
  for (std::int64_t id = 1; id <= 40; ++id)
    g.table("items").insert({{"id", id}, {"grp", "g" + std::to_string(id % 3)}, {"cat", id % 5}, {"price", 1.5 * static_cast<double>(id)},
                             {"qty", id}, {"name", "n" + std::to_string(id)}});
  std::mutex mu;
  std::map<std::string, std::set<std::thread::id>> threads;  // member -> threads its statements started on
  std::vector<HookHandle> hooks;
  for (std::size_t m = 0; m < g.size(); ++m)
    hooks.push_back(g.member(m).on_before_query([&](const QueryEvent& e) {
      std::lock_guard lock(mu);
      threads[std::string(e.connection)].insert(std::this_thread::get_id());
    }));

  const Result all = read_async(g, g.table("items").select({"id", "qty"}).order_by("qty", "desc").limit(7));
  EXPECT_EQ(all.size(), 7u);
  EXPECT_EQ(all[0][0].as<std::int64_t>(), 40);
  EXPECT_EQ(all[6][0].as<std::int64_t>(), 34);
  const auto here = std::this_thread::get_id();
  ASSERT_EQ(threads.size(), g.size()) << "every member asked";
  for (const char* pg : {"pg1", "pg2"}) EXPECT_EQ(threads[pg], std::set<std::thread::id>{here}) << pg << " waited on the loop";
  EXPECT_EQ(threads["lite"].count(here), 0u) << "SQLite runs on the worker pool, not the loop";

  // A keyed read asks its one member, as written.
  threads.clear();
  const Result one = read_async(g, g.table("items").where("id", 17));
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0]["name"].as<std::string>(), "n17");
  EXPECT_EQ(threads.size(), 1u);
  EXPECT_TRUE(threads.count(g.member_names()[g.index_of(17)]));
  // The same figures as the blocking get().
  auto totals = [&] {
    std::vector<Expr> columns{Expr("grp"), Expr(raw("SUM(qty) AS total"))};
    return g.table("items").select(columns).group_by({"grp"}).order_by("grp");
  };
  const Result blocking = totals().get();
  const Result async = read_async(g, totals());
  ASSERT_EQ(async.size(), blocking.size());
  for (std::size_t r = 0; r < blocking.size(); ++r) {
    EXPECT_EQ(async[r][0].as<std::string>(), blocking[r][0].as<std::string>());
    EXPECT_EQ(async[r][1].as<std::int64_t>(), blocking[r][1].as<std::int64_t>());
  }
  for (auto& h : hooks) h.remove();
}

TEST_F(ShardServers, AsyncReadsAreRefusedAndFailAsTheBlockingReadsDo) {
  auto& g = db->shards("mixed");
  for (std::size_t m = 0; m < g.size(); ++m) {
    g.member(m).execute("DROP TABLE IF EXISTS items");
    g.member(m).execute(ddl(g.member(m).name()));
  }
  // Refused before anything runs: a DISTINCT count of a column other than the key.
  auto distinct = [&] {
    std::vector<Expr> count{Expr(raw("COUNT(DISTINCT cat) AS n"))};
    return g.table("items").select(count);
  };
  const std::string blocking_refusal = error_of([&] { (void)distinct().get(); });
  ASSERT_NE(blocking_refusal, "");
  EXPECT_EQ(error_of([&] { (void)read_async(g, distinct()); }), blocking_refusal);
  EXPECT_THROW((void)read_async(g, distinct()), UsageError);
  // A member's error (a column no member has) fails the read, naming a member's connection.
  auto unknown = [&] { return g.table("items").select({"no_such_column"}).order_by("id"); };
  EXPECT_THROW((void)unknown().get(), Error);
  const std::string failed = error_of([&] { (void)read_async(g, unknown()); });
  EXPECT_NE(failed.find("no_such_column"), std::string::npos) << failed;
  bool names_a_member = false;
  for (const auto& m : g.member_names()) names_a_member = names_a_member || failed.find("'" + m + "'") != std::string::npos;
  EXPECT_TRUE(names_a_member) << failed;
}

TEST_F(ShardServers, AsyncWritesThroughAGroupGoWhereTheBlockingOnesGo) {
  auto& g = db->shards("mixed");
  for (std::size_t m = 0; m < g.size(); ++m) {
    g.member(m).execute("DROP TABLE IF EXISTS items");
    g.member(m).execute(ddl(g.member(m).name()));
  }
  auto where_is = [&](std::int64_t id) {
    std::vector<std::size_t> at;
    for (std::size_t m = 0; m < g.size(); ++m)
      if (g.member(m).query("SELECT count(*) FROM items WHERE id = ?", {id}, Intent::write)[0][0].as<int>() > 0) at.push_back(m);
    return at;
  };
  asio::io_context io;
  std::exception_ptr failed;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        for (std::int64_t id = 1; id <= 20; ++id) {
          const Fields row{{"id", id}, {"grp", "g"}, {"cat", 1}, {"price", 2.5}, {"qty", id}, {"name", "n"}};
          const Result r = co_await async_insert(g, g.table("items"), row, asio::use_awaitable);
          EXPECT_EQ(r.affected_rows(), 1u);
        }
        const Fields seven{{"name", "seven"}};
        EXPECT_EQ(co_await async_update(g, g.table("items").where("id", 7), seven, asio::use_awaitable), 1u);
        // Every member at once, when asked for: the rows changed, summed.
        const Fields nine{{"cat", 9}};
        ShardGroup& every = g.every_shard();
        EXPECT_EQ(co_await async_update(every, every.table("items").where("qty", ">", 10), nine, asio::use_awaitable), 10u);
        EXPECT_EQ(co_await async_remove(g, g.table("items").where("id", 3), asio::use_awaitable), 1u);
        // increment by key, and on every member; upsert split by owner, the members at once.
        EXPECT_EQ(co_await async_increment(g, g.table("items").where("id", 8), "qty", 100, {}, asio::use_awaitable), 1u);
        EXPECT_EQ(co_await async_increment(every, every.table("items").where("id", "<=", 2), "qty", 1, {}, asio::use_awaitable), 2u);
        const std::vector<Fields> upserts{
            {{"id", 4}, {"grp", "g"}, {"cat", 1}, {"price", 2.5}, {"qty", 44}, {"name", "four"}},
            {{"id", 21}, {"grp", "g"}, {"cat", 1}, {"price", 2.5}, {"qty", 21}, {"name", "n"}},
            {{"id", 22}, {"grp", "g"}, {"cat", 1}, {"price", 2.5}, {"qty", 22}, {"name", "n"}}};
        const std::vector<std::string> by_id{"id"}, set_cols{"qty", "name"};
        EXPECT_GE(co_await async_upsert(g, g.table("items"), upserts, by_id, set_cols, asio::use_awaitable), 3u);
        co_await async_remove(g, g.table("items").where("id", 21), asio::use_awaitable);
        co_await async_remove(g, g.table("items").where("id", 22), asio::use_awaitable);
      },
      [&](std::exception_ptr e) { failed = e; });
  io.run();
  if (failed) std::rethrow_exception(failed);
  for (std::int64_t id = 1; id <= 20; ++id)
    EXPECT_EQ(where_is(id), id == 3 ? std::vector<std::size_t>{} : std::vector<std::size_t>{g.index_of(id)}) << "id " << id;
  EXPECT_EQ(g.member(g.index_of(7)).scalar("SELECT name FROM items WHERE id = 7").as<std::string>(), "seven");
  EXPECT_EQ(g.member(g.index_of(8)).scalar("SELECT qty FROM items WHERE id = 8").as<int>(), 108);
  EXPECT_EQ(g.member(g.index_of(1)).scalar("SELECT qty FROM items WHERE id = 1").as<int>(), 2);
  EXPECT_EQ(g.member(g.index_of(4)).scalar("SELECT name FROM items WHERE id = 4").as<std::string>(), "four");
  EXPECT_EQ(g.member(g.index_of(4)).scalar("SELECT qty FROM items WHERE id = 4").as<int>(), 44);
  EXPECT_EQ(g.table("items").where("cat", 9).count(), 10);
  EXPECT_EQ(g.table("items").count(), 19);
  // Refused at the call, before anything runs: a write that names no key,
  // and a change of the key (a move, which only the blocking API runs).
  const Fields nobody{{"name", "x"}};
  EXPECT_THROW((void)async_update(g, g.table("items").where("qty", 5), nobody, asio::use_future), UsageError);
  const Fields rekey{{"id", 500}};
  EXPECT_THROW((void)async_update(g, g.table("items").where("id", 5), rekey, asio::use_future), UsageError);
  EXPECT_THROW((void)async_remove(g, g.table("items").where("qty", 5), asio::use_future), UsageError);
  EXPECT_THROW((void)async_increment(g, g.table("items").where("id", 5), "id", 1, {}, asio::use_future), UsageError)
      << "a key change by increment";
  EXPECT_EQ(g.table("items").where("name", "x").count(), 0);
  EXPECT_EQ(where_is(5), std::vector<std::size_t>{g.index_of(5)});
}
