// PostgreSQL dialect: "double quotes", $n placeholders, RETURNING, ON CONFLICT upserts.
#include "drivers/postgres/grammar.hpp"

namespace plexus::engine::postgres {
namespace {

class PostgresGrammar final : public Grammar {
 public:
  PostgresGrammar() : Grammar('"') {}
  std::string_view name() const noexcept override { return "postgres"; }
  void placeholder(std::string& out, std::size_t n) const override {
    out += '$';
    out += std::to_string(n);
  }
  bool supports_returning() const noexcept override { return true; }
  // PostgreSQL sorts NULLs as the largest value: say where they go.
  void order_nulls_low(std::string& out, std::string_view column, bool desc) const override {
    out += column;
    out += desc ? " DESC NULLS LAST" : " ASC NULLS FIRST";
  }
  bool native_ilike() const noexcept override { return true; }
  std::size_t max_parameters() const noexcept override { return 65535; }
  SqlSyntax syntax() const noexcept override {
    return {.escape_strings = true, .dollar_quotes = true};
  }
  std::string_view database_identity_sql() const noexcept override {
    return "SELECT system_identifier::text || ':' || current_database() FROM pg_control_system()";
  }
  void upsert_tail(std::string& out, std::span<const std::string> unique_by,
                   std::span<const std::string> update) const override {
    on_conflict_tail(out, unique_by, update);
  }
};

}  // namespace

const Grammar& grammar() {
  static const PostgresGrammar g;
  return g;
}

}  // namespace plexus::engine::postgres
