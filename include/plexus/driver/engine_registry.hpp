// The engines a Database knows, by name and alias. Apart from engine.hpp
// (what an engine implements) so that the public API can hold the registry
// without showing the session contract to every user of the library.
#pragma once

#include <memory>
#include <string_view>
#include <vector>

namespace plexus::driver {

class Engine;

/// Engines by name and alias. Every Database has one: the engines built into
/// this library plus those the application adds.
class EngineRegistry {
 public:
  /// The engines compiled into this build (their folders under src/drivers/).
  [[nodiscard]] static const EngineRegistry& builtin();
  /// Adds an engine. @throws ConfigError when its name or an alias is taken.
  void add(std::shared_ptr<const Engine> engine);
  /// The engine with this name or alias, or nullptr.
  [[nodiscard]] const Engine* find(std::string_view name) const noexcept;
  /// The engine with this name or alias. @throws ConfigError listing the known names.
  [[nodiscard]] const Engine& get(std::string_view name) const;
  /// Canonical names, in the order added.
  [[nodiscard]] std::vector<std::string_view> names() const;

 private:
  std::vector<std::shared_ptr<const Engine>> m_engines;
};

}  // namespace plexus::driver
