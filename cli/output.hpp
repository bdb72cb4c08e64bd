// Table and JSON rendering for the plexus command.
#pragma once

#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "plexus/plexus.hpp"

namespace plexus::cli {

/// How a value reads in a table cell: SQL NULL as `NULL`; text that could be
/// taken for something else (the word NULL, leading or trailing blanks, a
/// quote first) in double quotes; control characters and invalid UTF-8 as
/// escapes (\n, \t, \x01), so one row is one line.
std::string cell_text(const Value& v);
/// Columns a string takes on a terminal (wide characters count two).
std::size_t display_width(std::string_view utf8);

/// A table with a rule under the header; `rows` of cells, already rendered.
/// "1.5 MB", "12 kB", "512 B".
std::string human_bytes(std::int64_t bytes);

void print_grid(std::ostream& out, const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows);
void print_table(std::ostream& out, const Result& r);
/// A value as JSON that reads back to exactly that value: null, true/false,
/// numbers, text as a string; what JSON cannot hold as such is an object
/// naming it: {"real": "NaN" | "Infinity" | "-Infinity"}, {"text_hex": …}
/// for text that is not UTF-8, {"bytes_hex": …} for bytes.
nlohmann::json to_json(const Value& v);
/// A name or text: a string when it is UTF-8, else {"text_hex": …}.
nlohmann::json text_json(std::string_view s);
/// Indented JSON text; never throws on a string that is not UTF-8 (every
/// value and name is encoded by to_json() first; this is the net under it).
std::string dump(const nlohmann::json& j);
/// {"columns": [...], "rows": [[...], ...], "affected_rows": n[, "last_insert_id": id]}:
/// columns and values in the order of the result, duplicates kept.
nlohmann::json to_json(const Result& r);
nlohmann::json to_json(const ConnectionHealth& h);
nlohmann::json to_json(const Error& e);
void print_health(std::ostream& out, const std::vector<ConnectionHealth>& all);
nlohmann::json to_json(const PendingReport& r);
void print_pending(std::ostream& out, const PendingReport& r);
nlohmann::json to_json(const RecoveryReport& r, const std::string& coordinator);
void print_recovery(std::ostream& out, const RecoveryReport& r, const std::string& coordinator);
nlohmann::json to_json(const CopySummary& s);
/// {"metrics": [{"name", "type", "help", "samples": [{"name", "labels": {…}, "value"}]}]}; NaN as null.
nlohmann::json to_json(const Metrics& m);
/// {"targets": [{"connection", "state", "version", "applied", "error", "sql"}], "done", "failed", "untouched"}
nlohmann::json to_json(const MigrationReport& r);
/// The resolved configuration: engines by canonical name, every password and
/// secret engine option replaced by "***".
nlohmann::json config_json(const Database& db);
void print_copy(std::ostream& out, const CopySummary& s);

}  // namespace plexus::cli
