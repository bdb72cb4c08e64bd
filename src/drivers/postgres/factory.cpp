#include "drivers/factories.hpp"
#include "drivers/postgres/session.hpp"

namespace plexus::driver {
namespace {

class PostgresDriver final : public Driver {
 public:
  std::string_view name() const noexcept override { return "postgres"; }
  std::unique_ptr<Session> connect(const ConnectionConfig& cfg, const Endpoint* host) const override {
    return std::make_unique<engine::postgres::Session>(cfg, host);
  }
};

}  // namespace

const Driver& postgres_driver() {
  static const PostgresDriver d;
  return d;
}

}  // namespace plexus::driver
