// PostgreSQL dialect: "double quotes", $n placeholders, RETURNING, ON CONFLICT upserts.
#include "drivers/grammars.hpp"

namespace plexus::detail {
namespace {

class PostgresGrammar final : public Grammar {
 public:
  std::string_view name() const noexcept override { return "postgres"; }
  void quote(std::string& out, std::string_view part) const override {
    out += '"';
    out += part;
    out += '"';
  }
  void placeholder(std::string& out, std::size_t n) const override {
    out += '$';
    out += std::to_string(n);
  }
  bool supports_returning() const noexcept override { return true; }
  std::size_t max_parameters() const noexcept override { return 65535; }
  void upsert_tail(std::string& out, std::span<const std::string> unique_by,
                   std::span<const std::string> update) const override {
    out += " ON CONFLICT (";
    for (std::size_t i = 0; i < unique_by.size(); ++i) {
      if (i) out += ", ";
      identifier(out, unique_by[i]);
    }
    out += ")";
    if (update.empty()) {
      out += " DO NOTHING";
      return;
    }
    out += " DO UPDATE SET ";
    for (std::size_t i = 0; i < update.size(); ++i) {
      if (i) out += ", ";
      identifier(out, update[i]);
      out += " = EXCLUDED.";
      identifier(out, update[i]);
    }
  }
};

}  // namespace

const Grammar& postgres_grammar() {
  static const PostgresGrammar g;
  return g;
}

}  // namespace plexus::detail
