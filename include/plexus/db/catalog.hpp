// What a connection holds: its tables with row estimates and sizes, and a
// table's columns and indexes, from each engine's own catalog (the engine
// descriptor's CatalogQueries). Used by `plexus db show` and `plexus db table`.
//
//   for (const auto& t : plexus::list_tables(db, "users_db")) std::cout << t.name << "\n";
//   auto users = plexus::describe_table(db, "users_db", "users");
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "plexus/db/registry.hpp"

namespace plexus {

struct TableInfo {
  std::string name;
  std::optional<std::int64_t> rows;   ///< nullopt: the engine has no estimate yet
  bool rows_exact = false;            ///< counted, not estimated
  std::optional<std::int64_t> bytes;  ///< data and indexes; nullopt: unknown
};

struct ColumnInfo {
  std::string name;
  std::string type;  ///< as the engine spells it: "integer", "varchar(255)", "TEXT"
  bool nullable = true;
  std::optional<std::string> default_value;  ///< the default's SQL expression
  bool primary_key = false;
  std::string collation;            ///< how its text compares ("" for a column that is not text)
  bool binary_order = true;         ///< text orders and groups by its bytes
  bool case_sensitive_like = true;  ///< LIKE tells 'a' from 'A' (SQLite's LIKE never does)
};

/// How one column compares text on one connection (see ColumnInfo).
struct ColumnText {
  std::string column;
  std::string collation;
  bool binary_order = true;
  bool case_sensitive_like = true;
};

struct IndexInfo {
  std::string name;
  std::string columns;  ///< "user_id, created_at" (expressions as the engine prints them)
  bool unique = false;
  bool primary = false;
};

struct TableDescription {
  std::string connection;
  std::string table;
  std::vector<ColumnInfo> columns;
  std::vector<IndexInfo> indexes;
};

/// The tables of a connection (on its primary), by name.
/// @throws ConfigError for an unknown connection or an engine without a catalog;
///         the engine's error when the database does not answer.
[[nodiscard]] std::vector<TableInfo> list_tables(ConnectionRegistry& db, std::string_view connection);

/// How each column of `table` compares text on `conn` (its primary), from
/// the engine's catalog: empty when the engine cannot tell or has no such table.
[[nodiscard]] std::vector<ColumnText> text_rules(Connection& conn, std::string_view table);

/// A table's columns (in order) and indexes.
/// @throws UsageError naming the connection when it has no such table.
[[nodiscard]] TableDescription describe_table(ConnectionRegistry& db, std::string_view connection, std::string_view table);

}  // namespace plexus
