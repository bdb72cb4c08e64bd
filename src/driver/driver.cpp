#include "plexus/driver/driver.hpp"

#include "drivers/factories.hpp"
#include "plexus/core/error.hpp"

namespace plexus::driver {

std::vector<Result> Session::execute_batch(std::string_view sql, std::span<const std::vector<Value>> sets) {
  std::vector<Result> out;
  out.reserve(sets.size());
  for (const auto& params : sets) out.push_back(execute(sql, params));
  return out;
}

std::uint64_t Session::execute_each(std::string_view sql, std::span<const Value> params, const RowVisitor& visit) {
  return visit_rows(execute(sql, params), visit);
}

std::uint64_t Session::visit_rows(const Result& r, const RowVisitor& visit) {
  if (r.columns().size() == 0) return r.affected_rows();
  std::uint64_t n = 0;
  for (Row row : r) {
    ++n;
    if (!visit(row)) break;
  }
  return n;
}

void Session::savepoint(std::string_view name) { execute("SAVEPOINT " + std::string(name), {}); }
void Session::release_savepoint(std::string_view name) { execute("RELEASE SAVEPOINT " + std::string(name), {}); }
void Session::rollback_to_savepoint(std::string_view name) {
  execute("ROLLBACK TO SAVEPOINT " + std::string(name), {});
}

std::uint64_t Session::execute_script(std::string_view) {
  throw UsageError("the " + std::string(engine()) + " engine does not run scripts: run the statements one by one");
}

bool Session::alive() noexcept { return healthy(); }
bool Session::key_is_row_id(std::string_view, std::string_view) { return false; }
std::optional<std::string> Session::replication_position() { return std::nullopt; }
bool Session::wait_for_position(const std::string&, std::chrono::milliseconds) { return true; }
std::optional<std::chrono::milliseconds> Session::replica_lag() { return std::nullopt; }

std::string Driver::describe(const ConnectionConfig& cfg, const Endpoint* host) const {
  return host ? host->to_string() : cfg.database;
}

bool Driver::shareable(const ConnectionConfig&) const { return true; }

std::optional<std::string> Driver::missing(const ConnectionConfig&, const Endpoint*) const { return std::nullopt; }

const Driver* find(std::string_view name) noexcept {
#ifdef PLEXUS_HAS_SQLITE
  if (name == "sqlite") return &sqlite_driver();
#endif
#ifdef PLEXUS_HAS_POSTGRES
  if (name == "postgres") return &postgres_driver();
#endif
#ifdef PLEXUS_HAS_MYSQL
  if (name == "mysql") return &mysql_driver();
#endif
  (void)name;
  return nullptr;
}

std::vector<std::string_view> available() {
  std::vector<std::string_view> out;
#ifdef PLEXUS_HAS_SQLITE
  out.push_back("sqlite");
#endif
#ifdef PLEXUS_HAS_POSTGRES
  out.push_back("postgres");
#endif
#ifdef PLEXUS_HAS_MYSQL
  out.push_back("mysql");
#endif
  return out;
}

}  // namespace plexus::driver
