// SQL-aware placeholder scanning shared by drivers and grammars (private).
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace plexus::detail {

/// Copies `sql`, calling `on_placeholder(out)` for every `?` that is outside
/// string literals, quoted identifiers, dollar quotes and comments. `??` is
/// copied as a literal `?`. Returns the number of placeholders seen.
std::size_t rewrite_placeholders(std::string_view sql, std::string& out,
                                 const std::function<void(std::string&)>& on_placeholder);

/// True when `sql` uses PostgreSQL `$1`-style placeholders outside literals.
bool has_dollar_placeholders(std::string_view sql);

/// The highest `$n` outside literals (0 when there is none).
std::size_t max_dollar_placeholder(std::string_view sql);

/// How many statements `sql` holds: `;`-separated parts outside literals and
/// comments that contain more than blanks and comments. Used to explain an
/// engine's refusal; each engine's own parser decides what runs.
std::size_t count_statements(std::string_view sql);

}  // namespace plexus::detail
