// TOML configuration + ${VAR} interpolation: any input either loads or throws
// plexus::ConfigError; a loaded config prints without its passwords, even
// where the input spells a password in another field or a connection's name.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "plexus/config/config.hpp"
#include "plexus/core/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto env = plexus::Env::from_map({{"DB_HOST", "h"}, {"DB_PORT", "5432"}, {"DB_PASSWORD", "s3cret-pw"}, {"EMPTY", ""}});
  try {
    auto cfg = plexus::DatabaseConfig::from_toml_string(text, "fuzz.toml", env);
    const std::string shown = cfg.to_string();
    // (Shorter passwords are not searched for; one holding the "***" marker
    // itself cannot be told apart from the mask.)
    for (const auto& c : cfg.connections)
      if (c.password.size() >= 4 && c.password.find('*') == std::string::npos &&
          shown.find(c.password) != std::string::npos)
        std::abort();
  } catch (const plexus::ConfigError&) {
  } catch (const plexus::Error& e) {
    // Conversion errors from values are fine too; anything else is a bug.
    if (!e.is_config() && e.kind() != plexus::ErrorKind::conversion) std::abort();
  }
  return 0;
}
