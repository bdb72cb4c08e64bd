// Environment lookup with ${VAR} / ${VAR:-default} interpolation and .env files.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace plexus {

class Env {
 public:
  /// The process environment.
  static Env system();
  /// Only the given variables (for tests and embedding).
  static Env from_map(std::map<std::string, std::string, std::less<>> vars);

  /// Reads KEY=VALUE lines from a .env file; its values apply only where the
  /// process environment (or an earlier source) has no value. A missing file is
  /// fine. @throws ConfigError for a malformed line, naming file and line.
  Env& load_dotenv(const std::filesystem::path& path);
  /// Sets a variable in this Env (not in the process).
  Env& set(std::string key, std::string value);

  [[nodiscard]] std::optional<std::string> get(std::string_view key) const;

  /// Replaces ${VAR} and ${VAR:-default}; `$$` is a literal `$`.
  /// @throws ConfigError naming `where` when a variable without default is unset
  ///         or the syntax is broken.
  [[nodiscard]] std::string interpolate(std::string_view text, std::string_view where) const;

 private:
  bool m_use_process = true;
  std::map<std::string, std::string, std::less<>> m_vars;      // explicit values (win)
  std::map<std::string, std::string, std::less<>> m_fallback;  // .env values (lose to process env)
};

}  // namespace plexus
