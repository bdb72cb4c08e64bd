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
