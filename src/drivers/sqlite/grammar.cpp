// SQLite dialect: "double quotes", ?, LIMIT -1 for a bare OFFSET, ON CONFLICT upserts.
#include "drivers/sqlite/grammar.hpp"

namespace plexus::engine::sqlite {
namespace {

class SqliteGrammar final : public Grammar {
 public:
  SqliteGrammar() : Grammar('"') {}
  std::string_view name() const noexcept override { return "sqlite"; }
  void placeholder(std::string& out, std::size_t) const override { out += '?'; }
  void limit_offset(std::string& out, std::optional<std::uint64_t> limit,
                    std::optional<std::uint64_t> offset) const override {
    if (offset && !limit) {
      out += " LIMIT -1 OFFSET " + std::to_string(*offset);
      return;
    }
    Grammar::limit_offset(out, limit, offset);
  }
  bool supports_returning() const noexcept override { return true; }  // SQLite ≥ 3.35
  std::string_view row_lock() const noexcept override { return {}; }
  std::size_t max_parameters() const noexcept override { return 32766; }
  SqlSyntax syntax() const noexcept override {
    return {.bracket_identifiers = true};
  }
  std::string_view database_identity_sql() const noexcept override {
    return "SELECT file FROM pragma_database_list WHERE name = 'main'";
  }
  std::vector<std::string> capture_sql(std::string_view table, std::string_view key,
                                       std::string_view key_type) const override {
    std::string t, k, changes, fence = "'";
    quote(t, table);
    quote(k, key);
    quote(changes, "plexus_changes_" + std::string(table));
    fence += std::string(table) + "'";
    const std::string refuse = "SELECT RAISE(ABORT, '" + sealed_message(table) +
                               "') FROM plexus_reshard_fence WHERE tbl = " + fence + " AND sealed = 1;\n";
    auto trigger = [&](std::string_view suffix, std::string_view event, std::string body) {
      std::string name;
      quote(name, "plexus_capture_" + std::string(table) + std::string(suffix));
      return "CREATE TRIGGER IF NOT EXISTS " + name + " AFTER " + std::string(event) + " ON " + t + " BEGIN\n" + refuse +
             body + "END";
    };
    const std::string old_key = "INSERT INTO " + changes + " (k) VALUES (OLD." + k + ");\n";
    const std::string new_key = "INSERT INTO " + changes + " (k) VALUES (NEW." + k + ");\n";
    return {"CREATE TABLE IF NOT EXISTS " + changes + " (seq INTEGER PRIMARY KEY AUTOINCREMENT, k " +
                std::string(key_type) + ")",
            trigger("_i", "INSERT", new_key), trigger("_u", "UPDATE", old_key + new_key), trigger("_d", "DELETE", old_key)};
  }
  std::vector<std::string> drop_capture_sql(std::string_view table) const override {
    return drop_per_event_capture_sql(table);
  }
  void upsert_tail(std::string& out, std::span<const std::string> unique_by,
                   std::span<const std::string> update) const override {
    on_conflict_tail(out, unique_by, update);
  }
};

}  // namespace

const Grammar& grammar() {
  static const SqliteGrammar g;
  return g;
}

}  // namespace plexus::engine::sqlite
