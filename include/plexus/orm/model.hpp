// Typed models bound to the connection that owns their table.
//
//   auto users = db.model<User>();                 // bound to User::schema's connection
//   auto u = users.find(1);                         // std::optional<Entity<User>>
//   auto admins = users.where("is_admin", true).get();
//   auto old = users.on("analytics").where("id", 1).first();   // one query elsewhere (the seed's .db())
//   auto Product = db.model<ProductRow>().bind("db_one");       // objection's bindKnex
//   users.save(*u);                                 // back to the database it came from
//
// Relations (has_many, belongs_to, …) are in plexus/orm/relations.hpp.
#pragma once

#include <array>
#include <chrono>
#include <functional>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "plexus/core/on_demand.hpp"
#include "plexus/core/error.hpp"
#include "plexus/db/registry.hpp"
#include "plexus/orm/entity.hpp"
#include "plexus/orm/schema.hpp"
#include "plexus/query/builder.hpp"
#include "plexus/shard/shard_group.hpp"

namespace plexus {

template <class T>
class ModelQuery;
namespace async_detail {
/// What the asynchronous API reads of a model query (include/plexus/async.hpp).
template <class T>
struct ModelQueryAccess;
}  // namespace async_detail

template <class T>
class Model {
  static_assert(Modeled<T>, "plexus::Model<T>: T needs a `static constexpr auto schema = plexus::schema(...)`");

 public:
  /// An empty `connection` leaves the model unbound until bind().
  /// `connection` may name a shard group: the model then routes by its schema's shard_key().
  Model(ConnectionRegistry& db, std::string connection) : m_db(&db), m_conn(std::move(connection)) {
    // Unknown names fail here, not at the first query. A Database never drops
    // a connection or a group, so the pointer stays good while it lives.
    if (m_conn.empty()) return;
    m_home = &m_db->queryable(m_conn);
    m_sharded = m_home->planning_target() != nullptr;
    if (!m_sharded) m_bound = &m_db->connection(m_conn);
    m_kept_name = m_bound ? &m_bound->name() : &m_db->shards(m_conn).name();
    if constexpr (!T::schema.shard_key_name().empty()) {
      if (m_sharded && m_db->shards(m_conn).key() != T::schema.shard_key_name())
        throw ConfigError("model '" + std::string(T::schema.table()) + "' declares shard_key(\"" +
                          std::string(T::schema.shard_key_name()) + "\") but shard group '" + m_conn +
                          "' routes by key '" + m_db->shards(m_conn).key() + "'; make them the same column");
      if (!m_sharded)
        throw ConfigError("model '" + std::string(T::schema.table()) + "' declares shard_key(\"" +
                          std::string(T::schema.shard_key_name()) + "\") but is bound to connection '" + m_conn +
                          "', not a shard group; bind it to a group ([shards.NAME]) or remove shard_key()");
    }
  }

  [[nodiscard]] const std::string& connection_name() const noexcept { return m_conn; }
  /// @throws ConfigError when the model is bound to no connection.
  [[nodiscard]] Connection& connection() const {
    if (m_sharded)
      throw UsageError("model '" + std::string(T::schema.table()) + "' lives on shard group '" + m_conn +
                       "', not on one connection: query it through the model, or a member with db.shards(\"" + m_conn +
                       "\").shard(key)");
    (void)home();
    return *m_bound;
  }
  /// Where the model's statements run: its connection or its shard group.
  [[nodiscard]] Queryable& home() const {
    if (m_conn.empty())
      throw ConfigError("model '" + std::string(T::schema.table()) +
                        "' is bound to no connection: its schema declares none and no default connection is "
                        "configured; call .bind(\"name\") or declare .connection(\"name\") in its schema");
    return *m_home;
  }
  [[nodiscard]] ConnectionRegistry& database() const noexcept { return *m_db; }

  /// The same model working inside `tx` (its writes and finds join the
  /// transaction): `users.in(tx).create({...})`.
  /// @throws UsageError when the transaction is on another connection.
  [[nodiscard]] Model in(Transaction& tx) const {
    if (m_sharded)
      throw UsageError("model '" + std::string(T::schema.table()) + "' lives on shard group '" + m_conn +
                       "': a transaction there spans members; use db.transaction({members…}, fn) with the members' tables");
    if (tx.connection().name() != connection().name())
      throw UsageError("model '" + std::string(T::schema.table()) + "' lives on connection '" + m_conn +
                       "' but the transaction is on '" + tx.connection().name() +
                       "'; open the transaction on '" + m_conn + "'");
    Model m = *this;
    m.m_tx = &tx;
    return m;
  }

  /// The same model bound to another connection (objection's bindKnex).
  [[nodiscard]] Model bind(std::string_view connection) const { return Model(*m_db, std::string(connection)); }
  /// One query on another connection (the seed's Model.db('analytics')).
  [[nodiscard]] ModelQuery<T> on(std::string_view connection) const { return bind(connection).query(); }
  [[nodiscard]] ModelQuery<T> query() const {
    return ModelQuery<T>(*m_db, *m_kept_name, target());  // resolved once, at construction
  }

  [[nodiscard]] ModelQuery<T> where(std::string_view column, Value value) const {
    ModelQuery<T> q = query();  // named, so it is returned without a copy of its builder
    q.where(column, std::move(value));
    return q;
  }
  [[nodiscard]] ModelQuery<T> where(std::string_view column, std::string_view op, Value value) const {
    ModelQuery<T> q = query();
    q.where(column, op, std::move(value));
    return q;
  }
  template <class Rel>
  [[nodiscard]] ModelQuery<T> with(Rel rel) const {
    ModelQuery<T> q = query();
    q.with(rel);
    return q;
  }

  [[nodiscard]] std::optional<Entity<T>> find(const Value& id) const {
    // The hot path of most apps: SQL compiled once per dialect, one bound value,
    // the row hydrated straight from the result.
    Queryable& c = target();
    // Made engaged and filled in place, emptied when no row is found
    // (std::optional's empty state zeroes all of its storage first).
    std::optional<Entity<T>> e(std::in_place);
    if (m_sharded) {  // the builder routes it: to the key's member when the key is the shard key
      auto r = QueryBuilder(c, detail::schema_table<T>()).select(detail::schema_columns<T>()).where(key_name(), id).limit(1).get();
      if (r.empty()) e.reset();
      else detail::hydrate_row<T>(r[0], *e, m_conn);
      return e;
    }
    auto take = [&](Row row) {
      detail::hydrate_row<T>(row, *e, m_conn);
      return false;  // one row by key: the engine need not look for another
    };
    SingleTarget& one = *c.as_single();  // not sharded: one database
    if (one.select_each(detail::find_sql<T>(one.grammar()), std::span<const Value>(&id, 1), RowVisitor(take, RowVisitor::cells)) == 0)
      e.reset();
    return e;
  }
  /// @throws NotFoundError naming the table, the key and the connection.
  [[nodiscard]] Entity<T> find_or_fail(const Value& id) const {
    if (auto e = find(id)) return std::move(*e);
    throw NotFoundError("no row in '" + std::string(T::schema.table()) + "' with " + std::string(key_name()) + " = " +
                        id.to_string() + " on connection '" + m_conn + "'");
  }
  [[nodiscard]] std::vector<Entity<T>> all() const { return query().get(); }

  /// Inserts a new row from attributes (guarded columns are refused).
  Entity<T> create(const Fields& attributes) const {
    Entity<T> e;
    detail::fill<T>(e, attributes);
    save(e);
    return e;
  }
  Entity<T> create(const T& value) const {
    Entity<T> e(value);
    save(e);
    return e;
  }
  Entity<T> create_from_json(std::string_view json) const { return create(fields_from_json(json)); }
  /// Mass assignment: sets the named columns; guarded or unknown ones throw UsageError.
  void fill(T& obj, const Fields& attributes) const { detail::fill<T>(obj, attributes); }
  void fill_from_json(T& obj, std::string_view json) const { detail::fill<T>(obj, fields_from_json(json)); }
  [[nodiscard]] std::string to_json(const T& obj) const { return fields_to_json(detail::to_fields(obj)); }

  /// Inserts a new entity, or updates the changed columns of a loaded one on
  /// the connection it came from.
  void save(Entity<T>& e) const {
    if (!e.exists()) {
      insert(e);
      e.remember(m_conn);
      return;
    }
    if (e.dirty().empty()) return;
    detail::touch<T>(e, false);  // updated_at moves only when something else changed
    Fields changed;
    T::schema.for_each([&](const auto& c, std::size_t) {
      if (e.changed(c)) changed.emplace_back(std::string(c.name), Value(e.*(c.member)));
    });
    const std::string where = e.origin().empty() ? m_conn : e.origin();
    QueryBuilder q(target(where), detail::schema_table<T>());
    pin(q.where(key_name(), detail::key_of(e.m_original)), e.m_original);
    q.update(changed);
    e.remember(where);
  }
  /// A plain struct: inserted when its key is unset (0 / empty), else every column is updated.
  void save(T& obj) const {
    Value key = detail::key_of(obj);
    bool unset = key.is_null() || key == Value(0) || key == Value("");
    if (unset) {
      insert(obj);
      return;
    }
    detail::touch<T>(obj, false);
    Fields all = detail::to_fields(obj);
    all.erase(all.begin() + static_cast<std::ptrdiff_t>(T::schema.key_index()));
    if (m_sharded)  // the shard key names the row's member: it is matched, not set
      std::erase_if(all, [](const auto& f) { return f.first == T::schema.shard_key_name(); });
    QueryBuilder q(target(), detail::schema_table<T>());
    pin(q.where(key_name(), key), obj);
    if (q.update(all) == 0 && m_sharded) move_if_key_changed(key, obj);
  }
  /// Deletes by primary key; true if a row was deleted.
  bool remove(const T& obj) const {
    QueryBuilder q(target(), detail::schema_table<T>());
    return pin(q.where(key_name(), detail::key_of(obj)), obj).remove() > 0;
  }
  bool remove(Entity<T>& e) const {
    const std::string where = e.origin().empty() ? m_conn : e.origin();
    QueryBuilder q(target(where), detail::schema_table<T>());
    bool done = pin(q.where(key_name(), detail::key_of<T>(e)), static_cast<const T&>(e)).remove() > 0;
    e.m_exists = false;
    return done;
  }
  /// column = column + by, in the database and in the entity.
  void increment(Entity<T>& e, std::string_view column, std::int64_t by = 1) const {
    const std::string where = e.origin().empty() ? m_conn : e.origin();
    QueryBuilder q(target(where), detail::schema_table<T>());
    pin(q.where(key_name(), detail::key_of<T>(e)), static_cast<const T&>(e)).increment(column, by);
    bool known = false;
    T::schema.for_each([&](const auto& c, std::size_t) {
      if (c.name != column) return;
      known = true;
      using F = typename std::remove_cvref_t<decltype(c)>::field;
      if constexpr (std::is_integral_v<F> && !std::is_same_v<F, bool>) {
        e.*(c.member) = static_cast<F>(e.*(c.member) + by);
        e.m_original.*(c.member) = e.*(c.member);
      }
    });
    if (!known) detail::throw_unknown_column(T::schema.table(), column);
  }

  /// Loads a relation into already-loaded entities (one query per relation).
  template <class Rel>
  void load(std::vector<Entity<T>>& entities, Rel rel) const {
    rel.template eager<T>(*m_db, entities);
  }
  template <class Rel>
  void load(Entity<T>& entity, Rel rel) const {
    std::vector<Entity<T>> one{std::move(entity)};
    rel.template eager<T>(*m_db, one);
    entity = std::move(one.front());
  }

  [[nodiscard]] static constexpr std::string_view key_name() { return std::get<T::schema.key_index()>(T::schema.columns()).name; }

 private:
  template <class Obj>
  void insert(Obj& obj) const {
    detail::touch<T>(obj, true);
    const bool generated = detail::key_is_generated<T>(obj);
    if (!m_sharded) {
      // One connection or transaction: the INSERT compiled once for this model,
      // the struct's values bound in schema order.
      SingleTarget& t = *target().as_single();
      const auto& compiled = detail::insert_sql<T>(t.grammar(), generated);
      constexpr std::size_t key_index = T::schema.key_index();
      detail::InlineValues<T::schema.size()> row;
      T::schema.for_each([&](const auto& c, std::size_t i) {
        if (!(generated && i == key_index)) row.add(obj.*(c.member));
      });
      const std::span<const Value> values = row.span();
      if (!generated) {
        t.execute(compiled.plain, values);
        return;
      }
      std::int64_t id = 0;
      if (!compiled.returning.empty()) {
        id = t.insert_returning_key(KeyedInsert{T::schema.table(), key_name(), compiled.returning, compiled.plain}, values)[0][0]
                 .template as<std::int64_t>();
      } else {
        const auto r = t.execute(compiled.plain, values);
        if (!r.last_insert_id())
          throw UsageError("the engine reported no generated id for the insert into '" + std::string(T::schema.table()) + "'");
        id = *r.last_insert_id();
      }
      detail::set_generated_key<T>(obj, id);
      return;
    }
    Fields fields = detail::to_fields<T>(obj);
    QueryBuilder q(target(), detail::schema_table<T>());
    if (generated) {
      fields.erase(fields.begin() + static_cast<std::ptrdiff_t>(T::schema.key_index()));
      detail::set_generated_key<T>(obj, q.insert_get_id(fields, key_name()));
    } else {
      q.insert(fields);
    }
  }

  /// Where a statement for a row living on `where` runs: the transaction this
  /// model works in when it is on that connection, else the connection.
  Queryable& target(const std::string& where) const {
    if (&where == &m_conn) return target();
    if (m_tx && where == m_tx->connection().name()) return *m_tx;
    return where == m_conn ? home() : m_db->queryable(where);
  }
  /// Where a statement for a row of this model runs: the transaction of in(),
  /// which was checked to be on the model's connection, else its home.
  Queryable& target() const { return m_tx ? static_cast<Queryable&>(*m_tx) : home(); }
  /// A sharded save() that updated nothing: if the row lives under another
  /// shard key, the struct changed its shard key, and the row moves to the
  /// member of the new one (ShardGroup: one commit across both members).
  void move_if_key_changed(const Value& key, const T& obj) const {
    if constexpr (!T::schema.shard_key_name().empty()) {
      if (T::schema.shard_key_name() == key_name()) return;
      QueryBuilder where_now(home(), detail::schema_table<T>());
      const std::string shard_key(T::schema.shard_key_name());
      where_now.select({Expr(shard_key)}).where(key_name(), key);
      const Result found = where_now.get();
      if (found.size() == 0) return;  // no such row: nothing to update, as on one database
      Fields all = detail::to_fields(obj);
      all.erase(all.begin() + static_cast<std::ptrdiff_t>(T::schema.key_index()));
      QueryBuilder q(home(), detail::schema_table<T>());
      q.where(key_name(), key).where(shard_key, Value(found.front()[0])).update(all);
    }
  }
  /// On a shard group, also matches the row's shard key, so a write goes to
  /// the one member holding it (its value in `obj`).
  QueryBuilder& pin(QueryBuilder& q, const T& obj) const {
    if constexpr (!T::schema.shard_key_name().empty()) {
      if (m_sharded && T::schema.shard_key_name() != key_name())
        for (auto& [column, value] : detail::to_fields<T>(obj))
          if (column == T::schema.shard_key_name()) q.where(column, std::move(value));
    }
    return q;
  }

  ConnectionRegistry* m_db;
  std::string m_conn;
  const std::string* m_kept_name = nullptr;  // m_conn as the Database keeps it (what a query refers to)
  Connection* m_bound = nullptr;  // m_conn resolved once (null for a shard group)
  Queryable* m_home = nullptr;    // m_conn as something to query: the connection or the group
  bool m_sharded = false;
  Transaction* m_tx = nullptr;
};

template <class T>
class ModelQuery {
  static_assert(Modeled<T>, "plexus::ModelQuery<T>: T needs a `static constexpr auto schema = plexus::schema(...)`");

 public:
  /// A query on `connection` (a connection or a shard group of `db`); `on`: a
  /// transaction on that connection to run in, else the connection.
  ModelQuery(ConnectionRegistry& db, std::string_view connection, Queryable* on = nullptr)
      : ModelQuery(db, kept_name(db, connection), on ? *on : db.queryable(connection)) {}

  ModelQuery& where(std::string_view c, Value v) { return fwd([&] { m_q.where(c, std::move(v)); }); }
  ModelQuery& where(std::string_view c, std::string_view op, Value v) { return fwd([&] { m_q.where(c, op, std::move(v)); }); }
  ModelQuery& where(const std::function<void(QueryBuilder&)>& g) { return fwd([&] { m_q.where(g); }); }
  ModelQuery& or_where(std::string_view c, Value v) { return fwd([&] { m_q.or_where(c, std::move(v)); }); }
  ModelQuery& or_where(std::string_view c, std::string_view op, Value v) { return fwd([&] { m_q.or_where(c, op, std::move(v)); }); }
  ModelQuery& where_in(std::string_view c, std::vector<Value> v) { return fwd([&] { m_q.where_in(c, std::move(v)); }); }
  ModelQuery& where_in(std::string_view c, std::initializer_list<Value> v) { return where_in(c, std::vector<Value>(v)); }
  ModelQuery& where_not_in(std::string_view c, std::vector<Value> v) { return fwd([&] { m_q.where_not_in(c, std::move(v)); }); }
  ModelQuery& where_null(std::string_view c) { return fwd([&] { m_q.where_null(c); }); }
  ModelQuery& where_not_null(std::string_view c) { return fwd([&] { m_q.where_not_null(c); }); }
  ModelQuery& where_between(std::string_view c, Value a, Value b) { return fwd([&] { m_q.where_between(c, std::move(a), std::move(b)); }); }
  ModelQuery& where_raw(std::string sql, std::vector<Value> b = {}) { return fwd([&] { m_q.where_raw(std::move(sql), std::move(b)); }); }
  ModelQuery& order_by(std::string_view c, std::string_view dir = "asc") { return fwd([&] { m_q.order_by(c, dir); }); }
  ModelQuery& order_by_desc(std::string_view c) { return order_by(c, "desc"); }
  ModelQuery& limit(std::int64_t n) { return fwd([&] { m_q.limit(n); }); }
  ModelQuery& offset(std::int64_t n) { return fwd([&] { m_q.offset(n); }); }

  /// Eager-loads a relation: one query per relation for the whole result,
  /// on the related model's own connection.
  template <class Rel>
  ModelQuery& with(Rel rel) {
    m_extras.get().eager.push_back(
        [rel, db = m_db](std::vector<Entity<T>>& parents) { rel.template eager<T>(*db, parents); });
    return *this;
  }
  /// Keeps rows that have at least one related row matching `constrain`. When
  /// the related model lives on another connection this runs as two queries.
  template <class Rel, class F>
  ModelQuery& where_has(Rel rel, F&& constrain) {
    m_extras.get().deferred.push_back(
        [rel, db = m_db, conn = *m_conn, c = std::function<void(QueryBuilder&)>(std::forward<F>(constrain))](
            QueryBuilder& q) { rel.template constrain<T>(*db, conn, q, c); });
    return *this;
  }
  template <class Rel>
  ModelQuery& where_has(Rel rel) {
    return where_has(rel, [](QueryBuilder&) {});
  }

  /// Joins another model's table. Both schemas must declare the same
  /// connection: a join cannot cross databases, and this is checked at compile time.
  template <Modeled R>
  ModelQuery& join(std::string_view first, std::string_view op, std::string_view second) {
    static_assert(T::schema.connection_name() == R::schema.connection_name(),
                  "plexus: these models' schemas declare different connections, and a SQL join cannot cross "
                  "databases; load the other model with with() or filter with where_has(), which run one query "
                  "per connection");
    m_q.join(R::schema.table(), first, op, second);
    return *this;
  }

  [[nodiscard]] std::vector<Entity<T>> get() {
    std::vector<Entity<T>> entities;
    read([&](Row row) { detail::hydrate_row<T>(row, entities.emplace_back(), *m_conn); }, &entities);
    if (m_extras.made())
      for (auto& load : m_extras->eager) load(entities);
    return entities;
  }
  /// The first row (LIMIT 1; the read stops after it), or nullopt.
  [[nodiscard]] std::optional<Entity<T>> first() {
    // The one object returned (NRVO): no move of the entity. Made engaged and
    // filled in place, emptied when there is no row (as find() does).
    std::optional<Entity<T>> one(std::in_place);
    if (read([&](Row row) { detail::hydrate_row<T>(row, *one, *m_conn); return false; }, nullptr) == 0) one.reset();
    if (one && m_extras.made() && !m_extras->eager.empty()) {
      std::vector<Entity<T>> loaded;
      loaded.push_back(std::move(*one));
      for (auto& load : m_extras->eager) load(loaded);
      *one = std::move(loaded.front());
    }
    return one;
  }
  [[nodiscard]] std::int64_t count() { return prepared().count(); }
  [[nodiscard]] Query to_sql() const { return prepared().to_sql(); }
  [[nodiscard]] const std::string& connection_name() const noexcept { return *m_conn; }
  /// The underlying builder, for anything the model query does not wrap.
  [[nodiscard]] QueryBuilder& builder() noexcept { return m_q; }

 private:
  friend class Model<T>;
  friend struct async_detail::ModelQueryAccess<T>;
  /// `name`: the connection's or group's name as the Database keeps it (it
  /// lives as long as the Database, which a query outlives no more than its target).
  ModelQuery(ConnectionRegistry& db, const std::string& name, Queryable& target)
      : m_db(&db), m_conn(&name), m_q(target, detail::schema_shape<T>().table, detail::schema_shape<T>().columns) {}
  static const std::string& kept_name(ConnectionRegistry& db, std::string_view name) {
    return db.has_connection(name) ? db.connection(name).name() : db.shards(name).name();
  }
  template <class F>
  ModelQuery& fwd(F&& f) {
    f();
    return *this;
  }
  QueryBuilder prepared() const {
    QueryBuilder q = m_q;
    if (m_extras.made())
      for (const auto& d : m_extras->deferred) d(q);
    return q;
  }
  /// Runs the read row by row, into `all` (every row) or, without it, the
  /// first row only; the builder is copied only when where_has constraints
  /// must be added to it.
  template <class F>
  std::uint64_t read(F&& take, std::vector<Entity<T>>* all) {
    RowVisitor visit(take, RowVisitor::cells);  // hydrate_row reads every column through read_cell()
    if (all) visit.collecting_into(*all);
    const bool first_only = all == nullptr;
    if (!m_extras.made() || m_extras->deferred.empty()) return m_q.each(visit, first_only);
    return prepared().each(visit, first_only);
  }

  ConnectionRegistry* m_db;
  const std::string* m_conn;  ///< the name as the Database keeps it
  QueryBuilder m_q;
  /// What a query adds beyond its builder, made by the first with() or where_has().
  struct Extras {
    std::vector<std::function<void(std::vector<Entity<T>>&)>> eager;  ///< with(): loads after the rows
    std::vector<std::function<void(QueryBuilder&)>> deferred;        ///< where_has(): added to a copy of the builder
  };
  detail::OnDemand<Extras> m_extras;
};

/// select_as<T>() and get_as<T>() on a model struct: columns matched by name.
template <Modeled T>
struct RowReader<T> {
  static constexpr bool reads_cells = true;  // every column through read_cell()
  explicit RowReader(const Columns& cols) noexcept : reader(cols) {}
  T read(Row row) const {
    T obj{};
    reader.read(row, obj);
    return obj;
  }
  /// Fills a default-constructed T where it will live (no move of T per row).
  void read_into(Row row, T& obj) const { reader.read(row, obj); }
  detail::ModelReader<T> reader;
};

/// The connection name a model's schema declares, or the Database's default.
template <Modeled T>
std::string connection_of(ConnectionRegistry& db) {
  constexpr std::string_view declared = T::schema.connection_name();
  return declared.empty() ? db.connection().name() : std::string(declared);
}

}  // namespace plexus

