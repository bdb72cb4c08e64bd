// The merge oracle shared by the SQLite and the mixed-engine shard tests:
// generated rows and queries (ORDER BY several keys with NULLs and ties,
// LIMIT/OFFSET at and past the end, every aggregate, GROUP BY/HAVING,
// DISTINCT) answered by a shard group and by one database holding every row.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <set>
#include <string>

#include "plexus/plexus.hpp"

namespace plexus::test {


inline bool same_value(const Value& a, const Value& b) {
  if (a.is_null() || b.is_null()) return a.is_null() && b.is_null();
  auto num = [](const Value& v) -> std::optional<double> {
    switch (v.type()) {
      case Value::Type::integer: return static_cast<double>(v.raw_int());
      case Value::Type::real: return v.raw_real();
      case Value::Type::text: {
        char* end = nullptr;
        const std::string s = v.raw_text();
        double d = std::strtod(s.c_str(), &end);
        if (!s.empty() && end == s.c_str() + s.size()) return d;
        return std::nullopt;
      }
      default: return std::nullopt;
    }
  };
  auto x = num(a), y = num(b);
  if (x && y) return std::fabs(*x - *y) <= 1e-9 * std::max({1.0, std::fabs(*x), std::fabs(*y)});
  return a.to_string() == b.to_string();
}

inline std::vector<std::string> canonical(const Result& r, const std::vector<std::size_t>& cols) {
  std::vector<std::string> out;
  for (Row row : r) {
    std::string s;
    for (auto c : cols) {
      const Value& v = row[c];
      if (v.type() == Value::Type::real) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.6g", v.raw_real());
        s += buf;
      } else if (v.type() == Value::Type::integer) {
        s += std::to_string(v.raw_int());
      } else {
        s += v.to_string();
      }
      s += "|";
    }
    out.push_back(s);
  }
  return out;
}

struct Shape {
  std::function<void(QueryBuilder&)> build;
  std::string text;
  bool ordered_total = false;  // ORDER BY covers a unique column: rows compare in order
  std::vector<std::string> order_columns;
  bool limited = false;
};

/// Loads the same generated rows into the group and into `one`, then runs
/// `queries` generated queries on both: each answer must agree, or the group
/// must refuse it (only for DISTINCT aggregates of a non-key column).
/// `ddl_for` gives each member's DDL (a binary collation on MariaDB).
/// `read` runs a builder on the group (default: get(); the asynchronous
/// suite passes async_get, so both APIs answer the same generated queries).
inline std::pair<int, int> merge_oracle(ShardGroup& g, Connection& one, std::uint64_t seed, int queries,
                                        const std::function<std::string(const std::string& conn)>& ddl_for,
                                        const std::function<Result(const QueryBuilder&)>& read = {}) {
  for (std::size_t m = 0; m < g.size(); ++m) {
    g.member(m).execute("DROP TABLE IF EXISTS items");
    g.member(m).execute(ddl_for(g.member(m).name()));
  }
  one.execute("DROP TABLE IF EXISTS items");
  one.execute(ddl_for(one.name()));
  std::mt19937_64 rng(seed);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<std::uint64_t>(n)); };
  const char* groups[] = {"a", "b", "c", "d", "B", "aa"};
  for (std::int64_t id = 1; id <= 400; ++id) {
    Fields row{{"id", id},
               {"grp", pick(10) == 0 ? Value() : Value(groups[pick(6)])},
               {"cat", pick(6) == 0 ? Value() : Value(pick(5))},
               {"price", pick(7) == 0 ? Value() : Value(static_cast<double>(pick(2000)) / 8.0)},
               {"qty", pick(20) - 5},
               {"name", pick(5) == 0 ? Value() : Value("n" + std::to_string(pick(50)))}};
    g.table("items").insert(row);
    one.table("items").insert(row);
  }
  for (std::size_t m = 0; m < g.size(); ++m)
    EXPECT_GT(g.member(m).scalar("SELECT count(*) FROM items").as<int>(), 40) << "rows spread";

  const std::vector<std::string> columns = {"id", "grp", "cat", "price", "qty", "name"};
  const std::vector<std::string> numeric = {"cat", "price", "qty", "id"};
  int compared = 0, refused = 0;
  for (int n = 0; n < queries; ++n) {
    Shape s;
    std::vector<std::function<void(QueryBuilder&)>> steps;
    std::string text;
    // WHERE
    switch (pick(5)) {
      case 0: {
        int q = pick(10) - 3;
        steps.push_back([q](QueryBuilder& b) { b.where("qty", ">", q); });
        text += " qty>" + std::to_string(q);
        break;
      }
      case 1: steps.push_back([](QueryBuilder& b) { b.where_null("cat"); }); text += " cat null"; break;
      case 2: {
        std::string gname = groups[pick(6)];
        steps.push_back([gname](QueryBuilder& b) { b.where("grp", gname); });
        text += " grp=" + gname;
        break;
      }
      default: break;
    }
    const int kind = pick(3);
    if (kind == 0) {  // rows: columns, DISTINCT, ORDER BY, LIMIT/OFFSET
      std::vector<std::string> cols;
      for (const auto& c : columns)
        if (pick(2)) cols.push_back(c);
      const bool distinct = pick(4) == 0 && !cols.empty();
      std::vector<std::pair<std::string, bool>> order;
      for (int k = pick(4); k > 0; --k) order.emplace_back(columns[static_cast<std::size_t>(pick(6))], pick(2));
      if (distinct)  // DISTINCT orders by selected columns only
        std::erase_if(order, [&](const auto& o) { return std::find(cols.begin(), cols.end(), o.first) == cols.end(); });
      if (pick(2) && !distinct) order.emplace_back("id", pick(2));  // sometimes a total order
      std::optional<int> limit, offset;
      if (pick(2)) limit = pick(30);
      if (pick(3) == 0) offset = pick(400);
      steps.push_back([=](QueryBuilder& b) {
        if (!cols.empty()) {
          std::vector<Expr> e(cols.begin(), cols.end());
          b.select(e);
        }
        if (distinct) b.distinct();
        for (const auto& [c, desc] : order) b.order_by(c, desc ? "desc" : "asc");
        if (limit) b.limit(static_cast<std::uint64_t>(*limit));
        if (offset) b.offset(static_cast<std::uint64_t>(*offset));
      });
      text += " rows cols=" + std::to_string(cols.size()) + (distinct ? " distinct" : "") + " order=" +
              std::to_string(order.size()) + (limit ? " limit " + std::to_string(*limit) : "") +
              (offset ? " offset " + std::to_string(*offset) : "");
      for (const auto& [c, desc] : order) s.order_columns.push_back(c);
      s.ordered_total = !order.empty() && order.back().first == "id";
      s.limited = limit || offset;
    } else {  // aggregates, maybe grouped, HAVING, ORDER BY, LIMIT
      const bool grouped = kind == 2;
      std::vector<std::string> aggs;
      const char* fns[] = {"COUNT", "SUM", "MIN", "MAX", "AVG"};
      for (int k = 1 + pick(3); k > 0; --k) {
        std::string fn = fns[pick(5)];
        std::string col = pick(5) == 0 && fn == "COUNT" ? "*" : numeric[static_cast<std::size_t>(pick(4))];
        if (pick(12) == 0) col = "DISTINCT " + (pick(2) ? std::string("cat") : std::string("id"));
        if (col == "*" && fn != "COUNT") col = "qty";
        aggs.push_back(fn + "(" + col + ") AS a" + std::to_string(aggs.size()));
      }
      std::string having;
      std::optional<int> limit;
      bool order_by_group = false, order_by_agg = false, desc = pick(2);
      if (grouped && pick(2)) having = "a0";
      if (grouped) {
        order_by_group = pick(2);
        order_by_agg = !order_by_group && pick(2);
        if (pick(2)) limit = pick(5);
      }
      const int hv = pick(8);
      steps.push_back([=](QueryBuilder& b) {
        std::vector<Expr> e;
        if (grouped) e.emplace_back("grp");
        for (const auto& a : aggs) e.emplace_back(raw(a));
        b.select(e);
        if (grouped) b.group_by({"grp"});
        if (!having.empty()) b.having(having, ">", hv);
        if (order_by_group) b.order_by("grp", desc ? "desc" : "asc");
        if (order_by_agg) b.order_by("a0", desc ? "desc" : "asc").order_by("grp");
        if (limit) b.limit(static_cast<std::uint64_t>(*limit));
      });
      text += std::string(grouped ? " grouped" : " aggregate");
      for (const auto& a : aggs) text += " " + a;
      if (!having.empty()) text += " having a0>" + std::to_string(hv);
      if (order_by_group || order_by_agg) {
        s.order_columns = order_by_group ? std::vector<std::string>{"grp"} : std::vector<std::string>{"a0", "grp"};
        s.ordered_total = true;  // one row per group
      }
      s.limited = limit.has_value();
      if (!grouped) s.ordered_total = true;  // one row
    }
    auto build = [&](QueryBuilder b) {
      for (auto& st : steps) st(b);
      return b;
    };
    Result expected = build(one.table("items")).get();
    Result got;
    try {
      got = read ? read(build(g.table("items"))) : build(g.table("items")).get();
    } catch (const UsageError& e) {
      ++refused;
      const std::string why = e.what();
      // Refusals are for what cannot be merged exactly: DISTINCT aggregates of non-key columns.
      EXPECT_NE(why.find("DISTINCT"), std::string::npos) << text << ": " << why;
      continue;
    }
    ++compared;
    EXPECT_EQ(got.columns().size(), expected.columns().size()) << text;
    if (got.columns().size() != expected.columns().size()) continue;
    std::vector<std::size_t> all(expected.columns().size());
    for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
    EXPECT_EQ(got.size(), expected.size()) << text;
    if (got.size() != expected.size()) continue;
    std::vector<std::size_t> keys;  // the order keys that are selected (others cannot be compared)
    for (const auto& c : s.order_columns)
      if (auto at = expected.columns().find(c)) keys.push_back(*at);
    if (s.ordered_total) {
      for (std::size_t r = 0; r < got.size(); ++r) {
        for (auto c : all) {
          EXPECT_TRUE(same_value(got[r][c], expected[r][c]))
              << text << " row " << r << " col " << c << ": " << got[r][c].to_string() << " vs " << expected[r][c].to_string();
        }
      }
    } else {
      if (!keys.empty()) {
        EXPECT_EQ(canonical(got, keys), canonical(expected, keys)) << text;  // the order of the keys
      }
      if (!s.limited) {
        auto a = canonical(got, all), b = canonical(expected, all);
        std::sort(a.begin(), a.end());
        std::sort(b.begin(), b.end());
        EXPECT_EQ(a, b) << text;
      } else {  // which of several tied rows a LIMIT keeps is the database's choice: each must exist
        QueryBuilder unlimited = build(one.table("items"));
        unlimited.limit(1000000).offset(0);
        auto pool = canonical(unlimited.get(), all);
        std::multiset<std::string> available(pool.begin(), pool.end());
        for (const auto& row : canonical(got, all)) {
          auto it = available.find(row);
          EXPECT_NE(it, available.end()) << text << ": row " << row << " is not in the answer";
          if (it != available.end()) available.erase(it);
        }
      }
    }
  }
  return {compared, refused};
}

}  // namespace plexus::test
