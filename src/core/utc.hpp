// The time now as UTC ISO 8601 text, for the records Plexus keeps in a
// database (migrations applied, an online reshard's state; private to src/).
#pragma once

#include <ctime>
#include <string>

namespace plexus::detail {

inline std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace plexus::detail
