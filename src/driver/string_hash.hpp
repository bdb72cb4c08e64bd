// A transparent hash so statement caches keyed by std::string can be
// searched with a std::string_view (no allocation per lookup). Private to src/.
#pragma once

#include <functional>
#include <string_view>

namespace plexus::detail {

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

}  // namespace plexus::detail
