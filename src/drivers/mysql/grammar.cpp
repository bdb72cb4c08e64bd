// MySQL / MariaDB dialect: `backticks`, ?, LIMIT for a bare OFFSET, ON DUPLICATE KEY UPDATE.
#include "drivers/mysql/grammar.hpp"

namespace plexus::engine::mysql {
namespace {

class MysqlGrammar final : public Grammar {
 public:
  MysqlGrammar() : Grammar('`') {}
  std::string_view name() const noexcept override { return "mysql"; }
  void placeholder(std::string& out, std::size_t) const override { out += '?'; }
  void limit_offset(std::string& out, std::optional<std::uint64_t> limit,
                    std::optional<std::uint64_t> offset) const override {
    if (offset && !limit) {
      out += " LIMIT 18446744073709551615 OFFSET " + std::to_string(*offset);
      return;
    }
    Grammar::limit_offset(out, limit, offset);
  }
  bool supports_returning() const noexcept override { return false; }  // MySQL has none; use last insert id
  std::size_t max_parameters() const noexcept override { return 65535; }
  SqlSyntax syntax() const noexcept override {
    return {.backslash_escapes = true, .hash_comments = true};
  }
  std::string_view database_identity_sql() const noexcept override {
    return "SELECT CONCAT(@@hostname, ':', @@port, ':', @@datadir, ':', DATABASE())";
  }
  std::vector<std::string> capture_sql(std::string_view table, std::string_view key,
                                       std::string_view key_type) const override {
    std::string t, k, changes;
    quote(t, table);
    quote(k, key);
    quote(changes, "plexus_changes_" + std::string(table));
    std::vector<std::string> out{"CREATE TABLE IF NOT EXISTS " + changes + " (seq BIGINT AUTO_INCREMENT PRIMARY KEY, k " +
                                 std::string(key_type) + ") ENGINE=InnoDB"};
    // LOCK IN SHARE MODE: sealing the fence (an UPDATE of its row) waits for
    // the writes under way, and a write after it reads the sealed row.
    const std::string refuse = "  DECLARE s INT DEFAULT 0;\n"
                               "  SELECT sealed INTO s FROM plexus_reshard_fence WHERE tbl = '" + std::string(table) +
                               "' LOCK IN SHARE MODE;\n"
                               "  IF s = 1 THEN SIGNAL SQLSTATE '55000' SET MESSAGE_TEXT = '" + sealed_message(table) +
                               "'; END IF;\n";
    const std::string old_key = "  INSERT INTO " + changes + " (k) VALUES (OLD." + k + ");\n";
    const std::string new_key = "  INSERT INTO " + changes + " (k) VALUES (NEW." + k + ");\n";
    const std::pair<const char*, std::string> events[] = {
        {"INSERT", new_key}, {"UPDATE", old_key + new_key}, {"DELETE", old_key}};
    for (const auto& [event, body] : events) {
      std::string name;
      quote(name, "plexus_capture_" + std::string(table) + "_" + static_cast<char>(event[0] + ('a' - 'A')));
      out.push_back("DROP TRIGGER IF EXISTS " + name);
      out.push_back("CREATE TRIGGER " + name + " AFTER " + event + " ON " + t + " FOR EACH ROW BEGIN\n" + refuse + body + "END");
    }
    return out;
  }
  std::vector<std::string> drop_capture_sql(std::string_view table) const override {
    return drop_per_event_capture_sql(table);
  }
  void upsert_tail(std::string& out, std::span<const std::string> unique_by,
                   std::span<const std::string> update) const override {
    out += " ON DUPLICATE KEY UPDATE ";
    if (update.empty()) {  // keep the existing row: a no-op assignment
      identifier(out, unique_by.front());
      out += " = ";
      identifier(out, unique_by.front());
      return;
    }
    for (std::size_t i = 0; i < update.size(); ++i) {
      if (i) out += ", ";
      identifier(out, update[i]);
      out += " = VALUES(";
      identifier(out, update[i]);
      out += ")";
    }
  }
};

}  // namespace

const Grammar& grammar() {
  static const MysqlGrammar g;
  return g;
}

}  // namespace plexus::engine::mysql
