// A compiled query: SQL text for one dialect plus its bound values.
#pragma once

#include <string>
#include <vector>

#include "plexus/core/value.hpp"

namespace plexus {

struct Query {
  std::string sql;
  std::vector<Value> bindings;
};

/// A raw SQL fragment with `?` placeholders, used where an identifier is not
/// enough: `raw("COUNT(*) AS total")`, `where_raw("lower(email) = ?", {x})`.
/// Its text is trusted: never build it from user input.
struct Raw {
  std::string sql;
  std::vector<Value> bindings;
};

[[nodiscard]] inline Raw raw(std::string sql, std::vector<Value> bindings = {}) {
  return Raw{std::move(sql), std::move(bindings)};
}

}  // namespace plexus
