// Statement: one call of the query API, as a value. Every way of running SQL
// (select, execute, typed and streamed reads, batches, keyed inserts,
// scripts, cursors) becomes one Statement, which a target runs through one
// entry point (Queryable::run) and a connection routes and executes with one
// function each (the router picks a host and hands out a session; the
// executor runs the statement on it).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "plexus/core/result.hpp"
#include "plexus/db/events.hpp"

namespace plexus {

/// A one-row INSERT whose generated key the caller wants
/// (QueryBuilder::insert_get_id): run as `plain` where the session reads the
/// key as the row id (SQLite's INTEGER PRIMARY KEY), else as `returning`.
struct KeyedInsert {
  std::string_view table;
  std::string_view column;
  std::string_view returning;  ///< INSERT … RETURNING column
  std::string_view plain;      ///< the same INSERT without RETURNING
};

struct Statement {
  enum class Kind : std::uint8_t {
    query,       ///< rows or a write's summary, into `*result`
    each,        ///< rows handed to `*visit` as they are read
    batch,       ///< one run per parameter set in `sets`, into `*results`
    insert_key,  ///< `*key`, its generated key into `*result`
    script,      ///< several statements without parameters
    cursor,      ///< rows streamed through `*cursor`, which keeps the session
  };
  Kind kind = Kind::query;
  std::string_view sql;
  std::span<const Value> params = {};
  Intent intent = Intent::write;
  Result* result = nullptr;                   ///< query, insert_key
  const RowVisitor* visit = nullptr;          ///< each
  std::span<const std::vector<Value>> sets = {};  ///< batch
  std::vector<Result>* results = nullptr;     ///< batch
  const KeyedInsert* key = nullptr;           ///< insert_key
  std::optional<Cursor>* cursor = nullptr;    ///< cursor

  /// Rows of this statement have reached the caller: it cannot move to another host.
  [[nodiscard]] bool started() const noexcept { return visit && visit->calls() > 0; }
};

}  // namespace plexus
