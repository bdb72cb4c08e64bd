// Which characters a plain SQL name is made of (ASCII only, locale-free):
// what name_form() checks first, and what a query builder checks while it
// copies a name into its recording.
#pragma once

#include <array>
#include <cstddef>

namespace plexus::detail {

/// One table lookup per character: bit 1 = may start a plain name, bit 2 = may continue one.
inline constexpr std::array<unsigned char, 256> k_name_chars = [] {
  std::array<unsigned char, 256> t{};
  for (int c = 0; c < 256; ++c) {
    const bool start = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    t[static_cast<std::size_t>(c)] =
        static_cast<unsigned char>((start ? 1 : 0) | (start || (c >= '0' && c <= '9') ? 2 : 0));
  }
  return t;
}();
/// The longest plain name (per part of a qualified one).
inline constexpr std::size_t k_plain_name_max = 128;

constexpr bool ident_start(char c) noexcept { return k_name_chars[static_cast<unsigned char>(c)] & 1; }
constexpr bool ident_char(char c) noexcept { return k_name_chars[static_cast<unsigned char>(c)] & 2; }

}  // namespace plexus::detail
