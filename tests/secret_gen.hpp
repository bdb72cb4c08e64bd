// Generated passwords for the secrets tests: every character a URL, a TOML
// string, a shell or a connection string treats specially, around a random
// core long enough never to appear by coincidence.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>

namespace plexus::test {

inline std::uint64_t secret_seed() {
  const char* s = std::getenv("PLEXUS_PROPERTY_SEED");
  return s && *s ? std::strtoull(s, nullptr, 10) : 20261130;
}

inline std::string random_password(std::mt19937_64& rng) {
  static const std::string specials = ":/?#[]@!$&'()*+,;=%~.-_ \"\\`{}|^<>";
  static const std::string alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::string pw;
  // A core no message could contain by chance, then specials mixed in.
  for (int i = 0; i < 10; ++i) pw += alnum[rng() % alnum.size()];
  const int extra = 2 + static_cast<int>(rng() % 8);
  for (int i = 0; i < extra; ++i) {
    const char c = specials[rng() % specials.size()];
    pw.insert(pw.begin() + static_cast<std::ptrdiff_t>(rng() % (pw.size() + 1)), c);
  }
  if (rng() % 5 == 0) pw += "é";
  return pw;
}

/// The text with control characters shown as dots (for failure messages).
inline std::string printable(const std::string& s) {
  std::string out;
  for (char c : s) out += static_cast<unsigned char>(c) < 0x20 ? '.' : c;
  return out;
}

}  // namespace plexus::test
