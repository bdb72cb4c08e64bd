#include <filesystem>

#include "drivers/factories.hpp"
#include "drivers/sqlite/session.hpp"

namespace plexus::driver {
namespace {

bool is_memory(const std::string& db) { return db == ":memory:" || db.find("mode=memory") != std::string::npos; }

class SqliteDriver final : public Driver {
 public:
  std::string_view name() const noexcept override { return "sqlite"; }
  std::unique_ptr<Session> connect(const ConnectionConfig& cfg, const Endpoint*) const override {
    if (!is_memory(cfg.database) && !cfg.database.starts_with("file:")) {
      // Like a server creating its data directory: a new file's folder is made on first use.
      auto parent = std::filesystem::path(cfg.database).parent_path();
      std::error_code ec;
      if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    }
    return std::make_unique<engine::sqlite::Session>(cfg, cfg.database);
  }
  std::string describe(const ConnectionConfig& cfg, const Endpoint*) const override {
    if (is_memory(cfg.database) || cfg.database.starts_with("file:")) return cfg.database;
    std::error_code ec;
    auto abs = std::filesystem::absolute(cfg.database, ec);
    return ec ? cfg.database : abs.lexically_normal().string();
  }
  bool shareable(const ConnectionConfig& cfg) const override { return !is_memory(cfg.database); }
  std::optional<std::string> missing(const ConnectionConfig& cfg, const Endpoint*) const override {
    if (is_memory(cfg.database) || cfg.database.starts_with("file:")) return std::nullopt;
    std::error_code ec;
    if (std::filesystem::exists(cfg.database, ec)) return std::nullopt;
    return "the SQLite file " + describe(cfg, nullptr) + " does not exist yet (it is created on first use)";
  }
};

}  // namespace

const Driver& sqlite_driver() {
  static const SqliteDriver d;
  return d;
}

}  // namespace plexus::driver
