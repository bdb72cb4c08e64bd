// list_tables / describe_table: the engine's catalog queries, run like any
// other query (hooks, metrics, routing to the primary).
#include "plexus/db/catalog.hpp"

#include <string>

#include "db/connection_core.hpp"
#include "plexus/db/connection.hpp"
#include "plexus/driver/engine.hpp"
#include "plexus/driver/grammar.hpp"

namespace plexus {
namespace {

driver::CatalogQueries catalog_of(ConnectionRegistry& db, Connection& conn) {
  auto q = db.engines().get(conn.type()).catalog();
  if (!q)
    throw ConfigError("connection '" + conn.name() + "': engine " + conn.type() +
                      " does not describe its tables (its descriptor has no catalog queries)");
  return *q;
}

std::optional<std::int64_t> opt_int(const Value& v) {
  if (v.is_null()) return std::nullopt;
  // Engines answer with integers, decimals as text, or reals (an estimate).
  if (v.type() == Value::Type::integer) return v.raw_int();
  if (v.type() == Value::Type::real) return static_cast<std::int64_t>(v.raw_real());
  return static_cast<std::int64_t>(std::stod(v.to_string()));
}

}  // namespace

std::vector<ColumnText> text_rules(Connection& conn, std::string_view table) {
  const driver::Engine& engine = detail::core_of(conn).engine;
  const auto q = engine.catalog();
  if (!q || q->collations.empty()) return {};
  std::vector<ColumnText> out;
  const Result r = conn.on_primary().query(q->collations, {Value(std::string(table))}, Intent::read);
  for (auto& [column, collation] : engine.read_collations(r)) {
    const driver::TextRules rules = engine.text_rules(collation);
    out.push_back({std::move(column), std::move(collation), rules.binary_order, rules.case_sensitive_like});
  }
  return out;
}

std::vector<TableInfo> list_tables(ConnectionRegistry& db, std::string_view connection) {
  auto& conn = db.connection(connection);
  const auto q = catalog_of(db, conn);
  auto primary = conn.on_primary();
  std::vector<TableInfo> out;
  for (const auto& row : primary.query(q.tables, {}, Intent::read)) {
    TableInfo t;
    t.name = row["name"].to_string();
    t.rows = opt_int(row["rows"]);
    t.bytes = opt_int(row["bytes"]);
    out.push_back(std::move(t));
  }
  if (q.count_rows)
    for (auto& t : out) {
      std::string sql = "SELECT COUNT(*) FROM ";
      primary.grammar().quote(sql, t.name);
      t.rows = primary.query(sql, {}, Intent::read).front()[0].as<std::int64_t>();
      t.rows_exact = true;
    }
  return out;
}

TableDescription describe_table(ConnectionRegistry& db, std::string_view connection, std::string_view table) {
  auto& conn = db.connection(connection);
  const auto q = catalog_of(db, conn);
  auto primary = conn.on_primary();
  TableDescription d{conn.name(), std::string(table), {}, {}};
  for (const auto& row : primary.query(q.columns, {Value(std::string(table))}, Intent::read)) {
    const auto& def = row["default_value"];
    d.columns.push_back({row["name"].to_string(), row["type"].to_string(), row["nullable"].as<bool>(),
                         def.is_null() ? std::nullopt : std::optional<std::string>(def.to_string()),
                         row["primary_key"].as<bool>(), {}, true, true});
  }
  if (d.columns.empty())
    throw UsageError("connection '" + conn.name() + "' has no table '" + std::string(table) +
                     "' (plexus db show " + conn.name() + " lists its tables)");
  for (const auto& t : text_rules(conn, table))
    for (auto& c : d.columns)
      if (c.name == t.column) {
        c.collation = t.collation;
        c.binary_order = t.binary_order;
        c.case_sensitive_like = t.case_sensitive_like;
      }
  for (const auto& row : primary.query(q.indexes, {Value(std::string(table))}, Intent::read))
    d.indexes.push_back({row["name"].to_string(), row["columns"].is_null() ? "" : row["columns"].to_string(),
                         row["is_unique"].as<bool>(), row["is_primary"].as<bool>()});
  return d;
}

}  // namespace plexus
