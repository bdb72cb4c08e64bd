// Adding an engine from an application: a descriptor (names, dialect,
// capabilities, typed options) and a session factory, registered when the
// Database is built. This one wraps the built-in SQLite engine and counts the
// statements each session runs; a real one would speak its own wire protocol
// the same way (see docs/architecture.md, "Adding an engine").
#include <atomic>
#include <filesystem>
#include <iostream>

#include <plexus/driver/engine.hpp>  // the engine contract: only code that implements or inspects an engine includes it
#include <plexus/plexus.hpp>

namespace {

std::atomic<int> g_statements{0};

/// A session that forwards to SQLite's and counts what it runs.
class CountingSession final : public plexus::driver::Session {
 public:
  CountingSession(std::unique_ptr<plexus::driver::Session> inner, bool loud)
      : m_inner(std::move(inner)), m_loud(loud) {}
  plexus::Result execute(std::string_view sql, std::span<const plexus::Value> params) override {
    count(sql);
    return m_inner->execute(sql, params);
  }
  std::uint64_t execute_each(std::string_view sql, std::span<const plexus::Value> params,
                             const plexus::RowVisitor& visit) override {
    count(sql);
    return m_inner->execute_each(sql, params, visit);
  }
  std::unique_ptr<plexus::RowSource> stream(std::string_view sql, std::span<const plexus::Value> params) override {
    count(sql);
    return m_inner->stream(sql, params);
  }
  std::uint64_t execute_script(std::string_view sql) override { return m_inner->execute_script(sql); }
  bool key_is_row_id(std::string_view t, std::string_view c, std::string_view plain) override {
    return m_inner->key_is_row_id(t, c, plain);
  }
  void begin() override { m_inner->begin(); }
  void commit() override { m_inner->commit(); }
  void rollback() override { m_inner->rollback(); }
  void ping() override { m_inner->ping(); }
  bool healthy() const noexcept override { return m_inner->healthy(); }
  std::string server_version() override { return "counting " + m_inner->server_version(); }
  std::string_view engine() const noexcept override { return "counting_sqlite"; }

 private:
  void count(std::string_view sql) {
    ++g_statements;
    if (m_loud) std::cout << "  counting: " << sql << "\n";
  }
  std::unique_ptr<plexus::driver::Session> m_inner;
  bool m_loud;
};

constexpr std::string_view kAliases[] = {"counted"};
constexpr plexus::driver::OptionSpec kOptions[] = {
    {"loud", plexus::driver::OptionSpec::Type::flag, "false", "print every statement"},
};

class CountingSqlite final : public plexus::driver::Engine {
 public:
  std::string_view name() const noexcept override { return "counting_sqlite"; }
  std::span<const std::string_view> aliases() const noexcept override { return kAliases; }
  const plexus::Grammar& grammar() const noexcept override { return sqlite().grammar(); }
  plexus::driver::Capabilities capabilities() const noexcept override { return sqlite().capabilities(); }
  std::span<const plexus::driver::OptionSpec> options() const noexcept override { return kOptions; }
  std::unique_ptr<plexus::driver::Session> connect(const plexus::driver::Target& t) const override {
    // The built-in engine gets its own options (defaults): this one's are ours.
    static const plexus::driver::Options sqlite_defaults =
        plexus::driver::Options::parse(plexus::ConnectionConfig{}, sqlite().options(), "sqlite");
    return std::make_unique<CountingSession>(sqlite().connect({t.config, sqlite_defaults, t.host}),
                                             t.options.flag("loud"));
  }
  std::string describe(const plexus::ConnectionConfig& cfg, const plexus::Endpoint* h) const override {
    return sqlite().describe(cfg, h);
  }

 private:
  static const plexus::driver::Engine& sqlite() { return plexus::driver::EngineRegistry::builtin().get("sqlite"); }
};

}  // namespace

int main(int argc, char** argv) {
  std::filesystem::path dir = argc > 1 ? argv[1] : "var/custom_engine";
  std::filesystem::remove_all(dir);
  plexus::DatabaseConfig config;
  auto& c = config.add("ledger", plexus::sqlite((dir / "ledger.sqlite").string()));
  c.driver = "counted";          // the alias works like the name
  c.options["loud"] = "true";    // an option of this engine, typed and checked when the Database is built
  plexus::Database db(config, {.engines = {std::make_shared<CountingSqlite>()}});

  auto& ledger = db.connection("ledger");
  ledger.execute("CREATE TABLE entries (id INTEGER PRIMARY KEY, amount REAL)");
  ledger.table("entries").insert({{"amount", 12.5}});
  const auto total = ledger.table("entries").sum("amount").as<double>();
  std::cout << "engine " << ledger.type() << ": total " << total << " after " << g_statements << " statements\n";
  return total == 12.5 && g_statements >= 3 ? 0 : 1;
}
