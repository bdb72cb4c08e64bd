// Connection URLs: any input parses or throws ConfigError; a parsed password
// never shows in to_string().
#include <cstdint>
#include <cstdlib>
#include <string>

#include "plexus/config/config.hpp"
#include "plexus/core/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string url(reinterpret_cast<const char*>(data), size);
  try {
    auto c = plexus::parse_url(url);
    c.name = "fuzz";
    // (A password containing the "***" marker itself cannot be told apart.)
    if (c.password.size() >= 4 && c.password.find('*') == std::string::npos &&
        c.to_string().find(c.password) != std::string::npos) {
      // A leak, unless the same text appears without any password (a coincidence).
      auto without = c;
      without.password.clear();
      if (without.to_string().find(c.password) == std::string::npos) std::abort();
    }
  } catch (const plexus::ConfigError& e) {
    (void)e.what();
  }
  (void)plexus::redact_url(url);
  return 0;
}
