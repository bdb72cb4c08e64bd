// Relations between models, each loaded on the related model's own
// connection with one query per relation per batch (`WHERE fk IN (…)`), so a
// relation across databases works like any other.
//
//   struct User { …; std::vector<Post> posts; std::vector<AnalyticsEvent> events; };
//   constexpr auto posts = plexus::has_many<&User::posts, &Post::user_id>();
//   auto users = db.model<User>().with(posts).get();             // 2 queries
//   auto buyers = db.model<User>().query()
//       .where_has(events, [](plexus::QueryBuilder& q) { q.where("event_type", "purchase"); })
//       .get();                                                   // 2 queries when events live elsewhere
#pragma once

#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "plexus/orm/model.hpp"

namespace plexus {
namespace detail {

template <class F>
struct element_of {
  using type = F;
};
template <class E>
struct element_of<std::vector<E>> {
  using type = E;
};
template <class E>
struct element_of<std::optional<E>> {
  using type = E;
};
template <class E>
struct strip_entity {
  using type = E;
};
template <class E>
struct strip_entity<Entity<E>> {
  using type = E;
};
/// The model type behind a relation member (vector<R>, optional<R>, vector<Entity<R>>, …).
template <auto Member>
using related_of = typename strip_entity<typename element_of<typename member_traits<decltype(Member)>::field>::type>::type;

/// The column name a schema gives to `Member`.
template <class R, auto Member>
constexpr std::string_view column_name() {
  std::string_view found;
  R::schema.for_each([&](const auto& c, std::size_t) {
    if constexpr (std::is_same_v<std::remove_cv_t<decltype(c.member)>, decltype(Member)>) {
      if (c.member == Member) found = c.name;
    }
  });
  return found;
}

template <class R>
constexpr std::string_view key_column() {
  return std::get<R::schema.key_index()>(R::schema.columns()).name;
}

/// Distinct non-null values, in first-seen order.
inline std::vector<Value> distinct_values(std::vector<Value> in) {
  std::vector<Value> out;
  std::set<std::string> seen;
  for (auto& v : in)
    if (!v.is_null() && seen.insert(match_key(v)).second) out.push_back(std::move(v));
  return out;
}

constexpr std::size_t kInBatch = 1000;

/// Calls fn(batch) for consecutive batches of at most kInBatch keys (one IN list each).
template <class F>
void for_each_batch(const std::vector<Value>& keys, F&& fn) {
  for (std::size_t i = 0; i < keys.size(); i += kInBatch)
    fn(std::vector<Value>(keys.begin() + static_cast<std::ptrdiff_t>(i),
                          keys.begin() + static_cast<std::ptrdiff_t>(std::min(keys.size(), i + kInBatch))));
}

/// All R whose `column` is in `keys`, one query per batch on R's own connection.
template <class R>
std::vector<Entity<R>> load_in(ConnectionRegistry& db, std::string_view column, const std::vector<Value>& keys) {
  std::vector<Entity<R>> out;
  for_each_batch(keys, [&](std::vector<Value> batch) {
    auto part = ModelQuery<R>(db, connection_of<R>(db)).where_in(column, std::move(batch)).get();
    std::move(part.begin(), part.end(), std::back_inserter(out));
  });
  return out;
}

/// R by primary key (match_key text), loaded for `keys` on R's own connection.
template <class R>
std::unordered_map<std::string, Entity<R>> load_by_key(ConnectionRegistry& db, const std::vector<Value>& keys) {
  std::unordered_map<std::string, Entity<R>> by_key;
  if (!keys.empty())
    for (auto& r : load_in<R>(db, key_column<R>(), keys)) by_key.emplace(match_key(key_of<R>(r)), std::move(r));
  return by_key;
}

/// Values of `column` from a related query, or the query itself as a
/// subquery when both sides share a connection.
inline void restrict_to(QueryBuilder& target, std::string_view target_column, QueryBuilder related,
                        std::string_view related_column, bool same_connection) {
  related.select({Expr(related_column)});
  if (same_connection) {
    target.where_in(target_column, related);
    return;
  }
  std::vector<Value> values;
  for (Row r : related.get()) values.push_back(r[0]);
  target.where_in(target_column, distinct_values(std::move(values)));
}

template <class E, class R>
E element_from(Entity<R>&& e) {
  if constexpr (std::is_same_v<E, Entity<R>>) return std::move(e);
  else return static_cast<R&&>(std::move(e));
}

}  // namespace detail

/// Parent has many R; `ForeignKey` is R's member referring to the parent's key.
template <auto Target, auto ForeignKey, bool One = false>
struct HasMany {
  using Related = detail::related_of<Target>;
  static constexpr std::string_view fk = detail::column_name<Related, ForeignKey>();
  static_assert(!fk.empty(), "has_many/has_one: the foreign key member is not a column of the related schema");

  template <class P>
  void eager(ConnectionRegistry& db, std::vector<Entity<P>>& parents) const {
    std::vector<Value> keys;
    for (const auto& p : parents) keys.push_back(detail::key_of<P>(p));
    keys = detail::distinct_values(std::move(keys));
    std::unordered_map<std::string, std::vector<Entity<Related>>> by_key;
    if (!keys.empty())
      for (auto& r : detail::load_in<Related>(db, fk, keys)) by_key[detail::match_key(Value(r.*ForeignKey))].push_back(std::move(r));
    using Field = typename detail::member_traits<decltype(Target)>::field;
    using Elem = typename detail::element_of<Field>::type;
    for (auto& p : parents) {
      auto it = by_key.find(detail::match_key(detail::key_of<P>(p)));
      Field& out = p.*Target;
      out = Field{};
      if (it == by_key.end()) continue;
      if constexpr (One) {
        out = detail::element_from<Elem>(std::move(it->second.front()));
      } else {
        for (auto& r : it->second) out.push_back(detail::element_from<Elem>(std::move(r)));
      }
    }
  }

  template <class P>
  void constrain(ConnectionRegistry& db, const std::string& parent_conn, QueryBuilder& q,
                 const std::function<void(QueryBuilder&)>& c) const {
    std::string rconn = connection_of<Related>(db);
    QueryBuilder related = db.queryable(rconn).table(Related::schema.table());
    c(related);
    detail::restrict_to(q, Model<P>::key_name(), std::move(related), fk, rconn == parent_conn && !db.has_shard_group(rconn));
  }
};

/// Child belongs to an owner; `ForeignKey` is the child's member holding the owner's key.
template <auto Target, auto ForeignKey>
struct BelongsTo {
  using Owner = detail::related_of<Target>;

  template <class C>
  void eager(ConnectionRegistry& db, std::vector<Entity<C>>& children) const {
    std::vector<Value> keys;
    for (const auto& c : children) keys.emplace_back(c.*ForeignKey);
    keys = detail::distinct_values(std::move(keys));
    auto by_key = detail::load_by_key<Owner>(db, keys);
    using Field = typename detail::member_traits<decltype(Target)>::field;
    using Elem = typename detail::element_of<Field>::type;
    for (auto& c : children) {
      auto it = by_key.find(detail::match_key(Value(c.*ForeignKey)));
      c.*Target = Field{};
      if (it != by_key.end()) {
        Entity<Owner> copy = it->second;
        c.*Target = detail::element_from<Elem>(std::move(copy));
      }
    }
  }

  template <class C>
  void constrain(ConnectionRegistry& db, const std::string& child_conn, QueryBuilder& q,
                 const std::function<void(QueryBuilder&)>& c) const {
    std::string oconn = connection_of<Owner>(db);
    QueryBuilder owners = db.queryable(oconn).table(Owner::schema.table());
    c(owners);
    constexpr std::string_view fk = detail::column_name<C, ForeignKey>();
    static_assert(!fk.empty(), "belongs_to: the foreign key member is not a column of this schema");
    detail::restrict_to(q, fk, std::move(owners), detail::key_column<Owner>(), oconn == child_conn && !db.has_shard_group(oconn));
  }
};

/// Many-to-many through a pivot table on the parent's connection.
template <auto Target>
struct BelongsToMany {
  using Related = detail::related_of<Target>;
  std::string_view pivot;         ///< pivot table
  std::string_view parent_key;    ///< pivot column holding the parent's key
  std::string_view related_key;   ///< pivot column holding the related key

  template <class P>
  void eager(ConnectionRegistry& db, std::vector<Entity<P>>& parents) const {
    std::vector<Value> keys;
    for (const auto& p : parents) keys.push_back(detail::key_of<P>(p));
    keys = detail::distinct_values(std::move(keys));
    std::unordered_map<std::string, std::vector<Value>> links;  // parent key → related keys
    std::vector<Value> related_keys;
    auto& pconn = db.queryable(connection_of<P>(db));
    detail::for_each_batch(keys, [&](std::vector<Value> batch) {
      for (Row r : pconn.table(pivot).select({Expr(parent_key), Expr(related_key)}).where_in(parent_key, std::move(batch)).get()) {
        links[detail::match_key(r[0])].push_back(r[1]);
        related_keys.push_back(r[1]);
      }
    });
    auto by_key = detail::load_by_key<Related>(db, detail::distinct_values(std::move(related_keys)));
    using Field = typename detail::member_traits<decltype(Target)>::field;
    using Elem = typename detail::element_of<Field>::type;
    for (auto& p : parents) {
      Field& out = p.*Target;
      out = Field{};
      auto it = links.find(detail::match_key(detail::key_of<P>(p)));
      if (it == links.end()) continue;
      for (const auto& rk : it->second)
        if (auto r = by_key.find(detail::match_key(rk)); r != by_key.end()) {
          Entity<Related> copy = r->second;
          out.push_back(detail::element_from<Elem>(std::move(copy)));
        }
    }
  }

  template <class P>
  void constrain(ConnectionRegistry& db, const std::string& parent_conn, QueryBuilder& q,
                 const std::function<void(QueryBuilder&)>& c) const {
    std::string rconn = connection_of<Related>(db);
    QueryBuilder related = db.queryable(rconn).table(Related::schema.table());
    c(related);
    QueryBuilder links = db.queryable(parent_conn).table(pivot);
    detail::restrict_to(links, related_key, std::move(related), detail::key_column<Related>(), rconn == parent_conn && !db.has_shard_group(rconn));
    detail::restrict_to(q, Model<P>::key_name(), std::move(links), parent_key, !db.has_shard_group(parent_conn));
  }
};

template <auto Target, auto ForeignKey>
constexpr HasMany<Target, ForeignKey> has_many() {
  return {};
}
template <auto Target, auto ForeignKey>
constexpr HasMany<Target, ForeignKey, true> has_one() {
  return {};
}
template <auto Target, auto ForeignKey>
constexpr BelongsTo<Target, ForeignKey> belongs_to() {
  return {};
}
template <auto Target>
constexpr BelongsToMany<Target> belongs_to_many(std::string_view pivot, std::string_view parent_key,
                                                std::string_view related_key) {
  return {pivot, parent_key, related_key};
}

}  // namespace plexus
