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
