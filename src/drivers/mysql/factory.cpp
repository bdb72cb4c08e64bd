#include "drivers/factories.hpp"
#include "drivers/mysql/session.hpp"

namespace plexus::driver {
namespace {

class MysqlDriver final : public Driver {
 public:
  MysqlDriver() { mysql_library_init(0, nullptr, nullptr); }
  std::string_view name() const noexcept override { return "mysql"; }
  std::unique_ptr<Session> connect(const ConnectionConfig& cfg, const Endpoint* host) const override {
    return std::make_unique<engine::mysql::Session>(cfg, host);
  }
};

}  // namespace

const Driver& mysql_driver() {
  static const MysqlDriver d;
  return d;
}

}  // namespace plexus::driver
