// Typed models on every engine, with relations crossing into a second database.
#include <map>

#include "conformance_fixture.hpp"
#include "models.hpp"

using namespace plexus;
using namespace plexus::test;

namespace {

class Models : public Conformance {
 protected:
  void SetUp() override {
    Conformance::SetUp();
    if (IsSkipped()) return;
    auto& users = db->connection("users_db");
    auto& analytics = db->connection("analytics");
    std::string id = id_column();
    for (const char* t : {"plexus_role_user", "plexus_profiles", "plexus_posts", "plexus_users"})
      users.execute(std::string("DROP TABLE IF EXISTS ") + t);
    users.execute("CREATE TABLE plexus_users (id " + id + ", name VARCHAR(100) NOT NULL, email VARCHAR(100) NOT NULL UNIQUE, "
                  "is_admin " + ctx.boolean + " NOT NULL, created_at " + ctx.timestamp + ", updated_at " + ctx.timestamp + ")");
    users.execute("CREATE TABLE plexus_posts (id " + id + ", user_id BIGINT NOT NULL, title VARCHAR(100) NOT NULL)");
    users.execute("CREATE TABLE plexus_profiles (id " + id + ", user_id BIGINT NOT NULL, bio VARCHAR(100) NOT NULL)");
    users.execute("CREATE TABLE plexus_role_user (user_id BIGINT NOT NULL, role_id BIGINT NOT NULL)");
    analytics.execute("CREATE TABLE plexus_events (id INTEGER PRIMARY KEY, user_id INTEGER, event_type TEXT, data TEXT)");
    analytics.execute("CREATE TABLE plexus_roles (id INTEGER PRIMARY KEY, name TEXT)");
    db->on_before_query([this](const QueryEvent& e) {
      if (e.sql.starts_with("SELECT")) ++selects[std::string(e.connection)];
      last_sql[std::string(e.connection)] = std::string(e.sql);
    });
  }
  void TearDown() override {
    if (db && !IsSkipped()) {
      db.reset();
      Database fresh(cfg);
      auto& users = fresh.connection("users_db");
      for (const char* t : {"plexus_role_user", "plexus_profiles", "plexus_posts", "plexus_users"})
        users.execute(std::string("DROP TABLE IF EXISTS ") + t);
    }
    Conformance::TearDown();
  }

  std::string id_column() const {
    return ctx.name == "sqlite" ? "INTEGER PRIMARY KEY"
           : ctx.name == "mysql" ? "BIGINT AUTO_INCREMENT PRIMARY KEY"
                                 : "BIGSERIAL PRIMARY KEY";
  }

  /// Three users, their posts, events in analytics, roles through a pivot.
  void seed() {
    auto users = db->model<User>();
    alice = users.create({{"name", "Alice"}, {"email", "alice@example.com"}}).id;
    bob = users.create({{"name", "Bob"}, {"email", "bob@example.com"}}).id;
    carol = users.create({{"name", "Carol"}, {"email", "carol@example.com"}}).id;
    auto posts = db->model<Post>();
    for (auto [uid, title] : {std::pair{alice, "a1"}, {alice, "a2"}, {bob, "b1"}}) {
      Post p;
      p.user_id = uid;
      p.title = title;
      posts.save(p);
    }
    auto events = db->model<AnalyticsEvent>();
    for (auto [uid, type] : {std::pair{alice, "purchase"}, {bob, "login"}, {carol, "purchase"}, {carol, "login"}})
      events.create({{"user_id", uid}, {"event_type", type}});
    db->model<Profile>().create({{"user_id", bob}, {"bio", "Bob's bio"}});
    auto& analytics = db->connection("analytics");
    analytics.table("plexus_roles").insert_many({{{"id", 1}, {"name", "admin"}}, {{"id", 2}, {"name", "editor"}}});
    db->connection("users_db").table("plexus_role_user").insert_many(
        {{{"user_id", alice}, {"role_id", 1}}, {{"user_id", alice}, {"role_id", 2}}, {{"user_id", carol}, {"role_id", 2}}});
    selects.clear();
  }

  std::int64_t alice = 0, bob = 0, carol = 0;
  std::map<std::string, int> selects;
  std::map<std::string, std::string> last_sql;
};

}  // namespace

TEST_P(Models, CreateFindWhereSaveRemove) {
  auto users = db->model<User>();
  EXPECT_EQ(users.connection_name(), "users_db");
  auto john = users.create({{"name", "John"}, {"email", "john@example.com"}});
  EXPECT_GT(john.id, 0);
  EXPECT_TRUE(john.exists());
  EXPECT_EQ(john.origin(), "users_db");
  EXPECT_NE(john.created_at, Timestamp{}) << "created_at is set on insert";

  auto found = users.find(john.id);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->name, "John");
  EXPECT_FALSE(found->is_admin);
  EXPECT_EQ(found->created_at, john.created_at);
  EXPECT_FALSE(users.find(john.id + 1000).has_value());
  try {
    (void)users.find_or_fail(987654);
    FAIL();
  } catch (const NotFoundError& e) {
    EXPECT_NE(std::string(e.what()).find("no row in 'plexus_users' with id = 987654 on connection 'users_db'"), std::string::npos)
        << e.what();
  }

  // save() writes only what changed, back where it came from.
  found->name = "Johnny";
  EXPECT_EQ(found->dirty(), std::vector<std::string>{"name"});
  users.save(*found);
  EXPECT_NE(last_sql["users_db"].find("SET"), std::string::npos);
  EXPECT_EQ(last_sql["users_db"].find("email"), std::string::npos) << last_sql["users_db"];
  EXPECT_TRUE(found->dirty().empty());
  EXPECT_EQ(users.find_or_fail(john.id).name, "Johnny");

  found->is_admin = true;  // guarded against mass assignment, not against code
  users.save(*found);
  auto admins = users.where("is_admin", true).get();
  ASSERT_EQ(admins.size(), 1u);
  EXPECT_EQ(admins[0].email, "john@example.com");
  EXPECT_EQ(users.all().size(), 1u);

  // A changed key is written, and the row is found by the key it was loaded with.
  const std::int64_t old_id = found->id;
  found->id = old_id + 500;
  EXPECT_EQ(found->dirty(), std::vector<std::string>{"id"});
  users.save(*found);
  EXPECT_FALSE(users.find(old_id).has_value());
  ASSERT_TRUE(users.find(old_id + 500).has_value());
  EXPECT_TRUE(found->dirty().empty());

  EXPECT_TRUE(users.remove(*found));
  EXPECT_FALSE(users.find(john.id).has_value());
}

TEST_P(Models, FirstReadsOneRowAndLeavesTheQueryAsItWas) {
  auto users = db->model<User>();
  for (const char* n : {"Ann", "Bea", "Cid"}) (void)users.create({{"name", n}, {"email", std::string(n) + "@x.io"}});
  auto q = users.where("id", ">", 0);
  q.order_by_desc("name").limit(2);
  auto one = q.first();
  ASSERT_TRUE(one.has_value());
  EXPECT_EQ(one->name, "Cid");
  EXPECT_EQ(one->origin(), "users_db");
  EXPECT_NE(last_sql["users_db"].find("LIMIT 1"), std::string::npos) << last_sql["users_db"];
  // The query keeps its own LIMIT 2 afterwards.
  auto two = q.get();
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[1].name, "Bea");
  EXPECT_FALSE(users.where("name", "Nobody").first().has_value());
}

TEST_P(Models, ReadsOfEveryRowGrowTheirVectorOnceWhereTheEngineKnowsTheCount) {
  std::vector<Fields> rows;
  for (int i = 0; i < 300; ++i)
    rows.push_back({{"name", "u" + std::to_string(i)}, {"email", "u" + std::to_string(i) + "@x.io"}, {"is_admin", i % 7 == 0},
                    {"created_at", Timestamp{}}, {"updated_at", Timestamp{}}});
  db->connection("users_db").table("plexus_users").insert_many(rows);
  auto all = db->model<User>().all();
  auto typed = db->connection("users_db").select_as<User>("SELECT id, name, email FROM plexus_users");
  ASSERT_EQ(all.size(), 300u);
  ASSERT_EQ(typed.size(), 300u);
  EXPECT_EQ(std::count_if(all.begin(), all.end(), [](const auto& u) { return u.is_admin; }), 43);
  // PostgreSQL and MariaDB hold the whole result before the first row is read
  // and say how many rows it has: the vector is allocated once, to size.
  // SQLite steps row by row and cannot know; its vector grows as usual.
  if (ctx.name != "sqlite") {
    EXPECT_EQ(all.capacity(), all.size());
    EXPECT_EQ(typed.capacity(), typed.size());
  }
}

TEST_P(Models, MassAssignmentGuardsAndJson) {
  auto users = db->model<User>();
  try {
    (void)users.create({{"name", "Eve"}, {"email", "eve@example.com"}, {"is_admin", true}});
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("'is_admin' of 'plexus_users' is guarded"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)users.create({{"name", "Eve"}, {"emial", "x"}}), UsageError);
  EXPECT_THROW((void)users.create({{"id", 5}, {"name", "Eve"}}), UsageError) << "the key is guarded too";
  EXPECT_EQ(users.query().count(), 0) << "a refused assignment inserts nothing";

  auto u = users.create_from_json(R"({"name": "Json", "email": "json@example.com"})");
  auto json = users.to_json(u);
  EXPECT_NE(json.find(R"("name":"Json")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("is_admin":false)"), std::string::npos) << json;
  EXPECT_THROW((void)users.create_from_json("{not json"), UsageError);
  EXPECT_THROW((void)users.create_from_json(R"({"name": {"nested": 1}})"), UsageError);
}

namespace {
struct Account {
  std::int64_t id = 0;
  std::string name;
  std::int64_t balance = 0;
  static constexpr auto schema = plexus::schema("plexus_accounts", col<&Account::id>("id", primary_key),
                                                col<&Account::name>("name", fillable), col<&Account::balance>("balance"))
                                     .connection("analytics");
};
}  // namespace

TEST_P(Models, FillableIsAWhitelist) {
  db->connection("analytics").execute("CREATE TABLE plexus_accounts (id INTEGER PRIMARY KEY, name TEXT, balance INTEGER)");
  auto accounts = db->model<Account>();
  auto a = accounts.create({{"name", "ok"}});
  EXPECT_EQ(a.balance, 0);
  EXPECT_THROW((void)accounts.create({{"name", "x"}, {"balance", 1000000}}), UsageError);
  Account plain;
  plain.name = "direct";
  plain.balance = 5;  // code may set any column
  accounts.save(plain);
  EXPECT_EQ(accounts.find_or_fail(plain.id).balance, 5);
}

TEST_P(Models, IncrementAndPlainStructSave) {
  seed();
  auto posts = db->model<Post>();
  Post p;
  p.user_id = alice;
  p.title = "plain";
  posts.save(p);
  EXPECT_GT(p.id, 0) << "insert sets the generated key";
  p.title = "plain, edited";
  posts.save(p);
  EXPECT_EQ(posts.find_or_fail(p.id).title, "plain, edited");
  EXPECT_EQ(posts.where("user_id", alice).count(), 3);
}

TEST_P(Models, BindKnexBindsModelsToTwoDatabases) {
  // The objection.js post: Product on db_one, Category on db_two.
  auto& one = db->connection("users_db");
  auto& two = db->connection("analytics");
  one.execute("DROP TABLE IF EXISTS products");
  one.execute("CREATE TABLE products (id " + id_column() + ", name VARCHAR(50), price " + ctx.real + ")");
  two.execute("CREATE TABLE categories (id INTEGER PRIMARY KEY, name TEXT)");
  auto ProductModel = db->model<Product>().bind("users_db");
  auto CategoryModel = db->model<Category>().bind("analytics");
  ProductModel.create({{"name", "Keyboard"}, {"price", 49.5}});
  CategoryModel.create({{"name", "Peripherals"}});
  selects.clear();
  auto products = ProductModel.all();
  auto categories = CategoryModel.all();
  ASSERT_EQ(products.size(), 1u);
  ASSERT_EQ(categories.size(), 1u);
  EXPECT_EQ(products[0].name, "Keyboard");
  EXPECT_EQ(categories[0].name, "Peripherals");
  EXPECT_EQ(selects["users_db"], 1);
  EXPECT_EQ(selects["analytics"], 1);
  EXPECT_EQ(products[0].origin(), "users_db");
  EXPECT_EQ(categories[0].origin(), "analytics");
  EXPECT_THROW((void)db->model<Product>().bind("db_three"), ConfigError);
  one.execute("DROP TABLE products");
}

TEST_P(Models, OnSwitchesOneQueryAndSaveGoesBackThere) {
  seed();
  // The same table in both databases; .on("analytics") is the seed's .db('analytics').
  auto& analytics = db->connection("analytics");
  analytics.execute("CREATE TABLE plexus_posts (id INTEGER PRIMARY KEY, user_id INTEGER, title TEXT)");
  analytics.execute("INSERT INTO plexus_posts (id, user_id, title) VALUES (1, 1, 'archived')");
  auto posts = db->model<Post>();
  auto archived = posts.on("analytics").where("title", "archived").first();
  ASSERT_TRUE(archived.has_value());
  EXPECT_EQ(archived->origin(), "analytics");
  archived->title = "archived, edited";
  posts.save(*archived);  // the model is bound to users_db; the entity came from analytics
  EXPECT_EQ(analytics.scalar("SELECT title FROM plexus_posts WHERE id = 1").as<std::string>(), "archived, edited");
  EXPECT_EQ(posts.where("title", "archived, edited").count(), 0) << "users_db was not touched";
  EXPECT_EQ(posts.query().count(), 3) << "back to users_db for the next query";
}

TEST_P(Models, EagerLoadingRunsOneQueryPerRelationOnItsOwnConnection) {
  seed();
  auto users = db->model<User>().query().with(posts_of_user).with(events_of_user).with(profile_of_user).order_by("id").get();
  ASSERT_EQ(users.size(), 3u);
  EXPECT_EQ(selects["users_db"], 3) << "users, posts, profiles";
  EXPECT_EQ(selects["analytics"], 1) << "events: one query for all users";
  EXPECT_EQ(users[0].posts.size(), 2u);
  EXPECT_EQ(users[1].posts.size(), 1u);
  EXPECT_TRUE(users[2].posts.empty());
  EXPECT_EQ(users[0].events.size(), 1u);
  EXPECT_EQ(users[2].events.size(), 2u);
  EXPECT_EQ(users[2].events[0].event_type, "purchase");
  EXPECT_FALSE(users[0].profile.has_value());
  ASSERT_TRUE(users[1].profile.has_value());
  EXPECT_EQ(users[1].profile->bio, "Bob's bio");
}

TEST_P(Models, FirstWithEagerLoadingLoadsTheRelationsOfThatOneRow) {
  seed();
  auto first = db->model<User>().query().with(posts_of_user).with(events_of_user).order_by("id").first();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->origin(), "users_db");
  EXPECT_TRUE(first->exists());
  EXPECT_EQ(first->posts.size(), 2u);
  EXPECT_EQ(first->events.size(), 1u);
  EXPECT_EQ(selects["users_db"], 2) << "the user, then its posts";
  EXPECT_EQ(selects["analytics"], 1) << "its events";
  EXPECT_TRUE(first->dirty().empty()) << "loaded as it is stored";

  auto none = db->model<User>().query().with(posts_of_user).where("id", -1).first();
  EXPECT_FALSE(none.has_value());
}

TEST_P(Models, BelongsToAndBelongsToManyAcrossDatabases) {
  seed();
  auto posts = db->model<Post>().query().with(author_of_post).order_by("id").get();
  ASSERT_EQ(posts.size(), 3u);
  ASSERT_TRUE(posts[2].author.has_value());
  EXPECT_EQ(posts[2].author->name, "Bob");
  EXPECT_EQ(selects["users_db"], 2);

  selects.clear();
  auto users = db->model<User>().query().with(roles_of_user).order_by("id").get();
  EXPECT_EQ(selects["users_db"], 2) << "users and the pivot";
  EXPECT_EQ(selects["analytics"], 1) << "roles live in analytics";
  ASSERT_EQ(users[0].roles.size(), 2u);
  EXPECT_EQ(users[0].roles[1].name, "editor");
  EXPECT_TRUE(users[1].roles.empty());
  EXPECT_EQ(users[2].roles.size(), 1u);
}

TEST_P(Models, LazyLoading) {
  seed();
  auto users = db->model<User>();
  auto a = users.find_or_fail(alice);
  EXPECT_TRUE(a.posts.empty());
  users.load(a, posts_of_user);
  users.load(a, events_of_user);
  EXPECT_EQ(a.posts.size(), 2u);
  EXPECT_EQ(a.events.size(), 1u);
}

TEST_P(Models, WhereHasAcrossConnectionsRunsTwoQueries) {
  seed();
  auto buyers = db->model<User>()
                    .query()
                    .where_has(events_of_user, [](QueryBuilder& q) { q.where("event_type", "purchase"); })
                    .order_by("id")
                    .get();
  ASSERT_EQ(buyers.size(), 2u);
  EXPECT_EQ(buyers[0].name, "Alice");
  EXPECT_EQ(buyers[1].name, "Carol");
  EXPECT_EQ(selects["analytics"], 1);
  EXPECT_EQ(selects["users_db"], 1);

  selects.clear();
  auto authors = db->model<User>().query().where_has(posts_of_user).order_by("id").get();
  ASSERT_EQ(authors.size(), 2u);
  EXPECT_EQ(selects["users_db"], 1) << "same connection: one query with a subquery";
  EXPECT_NE(last_sql["users_db"].find("IN (SELECT"), std::string::npos) << last_sql["users_db"];

  selects.clear();
  auto editors = db->model<User>().query().where_has(roles_of_user, [](QueryBuilder& q) { q.where("name", "editor"); }).get();
  EXPECT_EQ(editors.size(), 2u);
}

TEST_P(Models, ACopiedQueryKeepsItsOwnRelationsAndConditions) {
  seed();
  auto base = db->model<User>().query().order_by("id");
  auto with_posts = base;  // copied before with(): the original stays without it
  with_posts.with(posts_of_user);
  auto buyers = with_posts;  // copied after: keeps with(), and has where_has() alone
  buyers.where_has(events_of_user, [](QueryBuilder& q) { q.where("event_type", "purchase"); });

  selects.clear();
  auto plain = base.get();
  ASSERT_EQ(plain.size(), 3u);
  EXPECT_TRUE(plain[0].posts.empty());
  EXPECT_EQ(selects["users_db"], 1) << "no relation loaded";

  selects.clear();
  auto loaded = with_posts.get();
  ASSERT_EQ(loaded.size(), 3u);
  EXPECT_EQ(loaded[0].posts.size(), 2u);
  EXPECT_EQ(selects["analytics"], 0) << "the copy's where_has() is not in the query it was copied from";

  auto bought = buyers.get();
  ASSERT_EQ(bought.size(), 2u);
  EXPECT_EQ(bought[0].name, "Alice");
  EXPECT_EQ(bought[0].posts.size(), 2u);
  EXPECT_EQ(bought[1].name, "Carol");
  EXPECT_TRUE(bought[1].posts.empty());
}

TEST_P(Models, JoinOnTheSameConnection) {
  seed();
  auto rows = db->model<User>().query().join<Post>("plexus_posts.user_id", "=", "plexus_users.id").where("plexus_posts.title", "b1").get();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].name, "Bob");
}

TEST_P(Models, SeedQueryBuilderExamples) {
  seed();
  // getUserMetrics: the metrics query on analytics.
  auto& analytics = db->connection("analytics");
  analytics.execute("CREATE TABLE user_metrics (user_id INTEGER, total_purchases INTEGER, avg_purchase_amount REAL, last_purchase_date TEXT)");
  analytics.table("user_metrics").insert_many({{{"user_id", alice}, {"total_purchases", 3}, {"avg_purchase_amount", 10.0}, {"last_purchase_date", "2024-01-02"}},
                                               {{"user_id", bob}, {"total_purchases", 0}, {"avg_purchase_amount", 0.0}, {"last_purchase_date", nullptr}}});
  auto metrics = db->table("user_metrics", "analytics")
                     .select({"user_id", "total_purchases", "avg_purchase_amount", "last_purchase_date"})
                     .where("total_purchases", ">", 0)
                     .order_by("total_purchases", "DESC")
                     .limit(100)
                     .get();
  ASSERT_EQ(metrics.size(), 1u);
  EXPECT_EQ(metrics[0]["user_id"].as<std::int64_t>(), alice);

  // getUserFromShard: query('users', 'users_db').where('id', '=', userId).limit(1).first()
  auto user = db->table("plexus_users", "users_db").where("id", "=", bob).limit(1).first();
  ASSERT_TRUE(user.has_value());
  EXPECT_EQ(user->get<std::string>("name"), "Bob");

  // getUserWithOrderStats: aggregates with raw expressions.
  auto stats = db->table("plexus_events", "analytics")
                   .select({raw("COUNT(*) AS total"), raw("MAX(event_type) AS last_type")})
                   .where("user_id", "=", carol)
                   .first();
  EXPECT_EQ(stats->get<int>("total"), 2);
}

INSTANTIATE_TEST_SUITE_P(Engines, Models, ::testing::Values("sqlite", "postgres", "pgbouncer", "mysql"),
                         [](const auto& p) { return p.param; });

TEST_P(Models, InATransactionModelsCommitOrRollBackWithIt) {
  auto users = db->model<User>();
  auto& users_conn = db->connection("users_db");
  try {
    users_conn.transaction([&](Transaction& tx) {
      auto in_tx = users.in(tx);
      auto ann = in_tx.create({{"name", "Ann"}, {"email", "ann@example.com"}});
      EXPECT_TRUE(in_tx.find(ann.id).has_value()) << "the transaction sees its own insert";
      EXPECT_EQ(in_tx.where("name", "Ann").get().size(), 1u);
      throw std::runtime_error("undo");
    });
  } catch (const std::runtime_error&) {
  }
  EXPECT_TRUE(users.where("name", "Ann").get().empty()) << "rolled back with the transaction";

  users_conn.transaction([&](Transaction& tx) {
    auto in_tx = users.in(tx);
    auto robert = in_tx.create({{"name", "Bob"}, {"email", "bob@example.com"}});
    robert.name = "Robert";
    in_tx.save(robert);
  });
  auto all = users.all();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].name, "Robert");

  // A transaction on another connection is refused, naming both.
  auto& other = db->connection("analytics");
  auto tx = other.begin();
  try {
    (void)users.in(tx);
    FAIL() << "a model cannot join another connection's transaction";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("'users_db'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'analytics'"), std::string::npos) << e.what();
  }
  tx.rollback();
}
