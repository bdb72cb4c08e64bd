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
  std::vector<std::string> capture_sql(std::string_view table, std::string_view key,
                                       std::string_view key_type) const override {
    std::string t, k, changes, fn;
    quote(t, table);
    quote(k, key);
    quote(changes, "plexus_changes_" + std::string(table));
    quote(fn, "plexus_capture_" + std::string(table));
    // FOR SHARE: sealing the fence (an UPDATE of its row) waits for the
    // writes under way, and a write after it reads the sealed row.
    return {"CREATE TABLE IF NOT EXISTS " + changes + " (seq BIGSERIAL PRIMARY KEY, k " + std::string(key_type) + ")",
            "CREATE OR REPLACE FUNCTION " + fn + "() RETURNS trigger LANGUAGE plpgsql AS $plexus$\n"
            "DECLARE s integer;\n"
            "BEGIN\n"
            "  SELECT sealed INTO s FROM plexus_reshard_fence WHERE tbl = '" + std::string(table) + "' FOR SHARE;\n"
            "  IF s = 1 THEN RAISE EXCEPTION '" + sealed_message(table) + "' USING ERRCODE = '55000'; END IF;\n"
            "  IF TG_OP <> 'INSERT' THEN INSERT INTO " + changes + " (k) VALUES (OLD." + k + "); END IF;\n"
            "  IF TG_OP <> 'DELETE' THEN INSERT INTO " + changes + " (k) VALUES (NEW." + k + "); END IF;\n"
            "  RETURN NULL;\n"
            "END $plexus$",
            "DROP TRIGGER IF EXISTS " + fn + " ON " + t,
            "CREATE TRIGGER " + fn + " AFTER INSERT OR UPDATE OR DELETE ON " + t + " FOR EACH ROW EXECUTE FUNCTION " + fn + "()"};
  }
  std::vector<std::string> drop_capture_sql(std::string_view table) const override {
    std::string t, changes, fn;
    quote(t, table);
    quote(changes, "plexus_changes_" + std::string(table));
    quote(fn, "plexus_capture_" + std::string(table));
    return {"DROP TRIGGER IF EXISTS " + fn + " ON " + t, "DROP FUNCTION IF EXISTS " + fn + "()",
            "DROP TABLE IF EXISTS " + changes};
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
