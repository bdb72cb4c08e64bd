#include "plexus/config/env.hpp"

#include <cctype>
#include <cstdlib>
#include <fstream>

#include "plexus/core/error.hpp"

namespace plexus {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool valid_name(std::string_view n) {
  if (n.empty()) return false;
  for (char c : n)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  return !std::isdigit(static_cast<unsigned char>(n.front()));
}

}  // namespace

Env Env::system() { return Env{}; }

Env Env::from_map(std::map<std::string, std::string, std::less<>> vars) {
  Env e;
  e.m_use_process = false;
  e.m_vars = std::move(vars);
  return e;
}

Env& Env::set(std::string key, std::string value) {
  m_vars[std::move(key)] = std::move(value);
  return *this;
}

Env& Env::load_dotenv(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return *this;
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    std::string_view l = trim(line);
    if (l.empty() || l.front() == '#') continue;
    if (l.starts_with("export ")) l = trim(l.substr(7));
    auto eq = l.find('=');
    std::string_view key = eq == std::string_view::npos ? l : trim(l.substr(0, eq));
    if (eq == std::string_view::npos || !valid_name(key))
      throw ConfigError(path.string() + ":" + std::to_string(lineno) + ": expected KEY=VALUE");
    std::string_view val = trim(l.substr(eq + 1));
    std::string value;
    if (!val.empty() && (val.front() == '"' || val.front() == '\'')) {
      char q = val.front();
      auto close = val.find(q, 1);
      if (close == std::string_view::npos)
        throw ConfigError(path.string() + ":" + std::to_string(lineno) + ": unterminated quoted value for " +
                          std::string(key));
      value = std::string(val.substr(1, close - 1));
      if (q == '"') {  // minimal escapes
        std::string out;
        for (std::size_t i = 0; i < value.size(); ++i) {
          if (value[i] == '\\' && i + 1 < value.size()) {
            char n = value[++i];
            out += n == 'n' ? '\n' : n;
          } else {
            out += value[i];
          }
        }
        value = std::move(out);
      }
    } else {
      auto hash = val.find(" #");
      value = std::string(trim(val.substr(0, hash)));
    }
    m_fallback.try_emplace(std::string(key), std::move(value));
  }
  return *this;
}

std::optional<std::string> Env::get(std::string_view key) const {
  if (auto it = m_vars.find(key); it != m_vars.end()) return it->second;
  if (m_use_process) {
    std::string k(key);
    if (const char* v = std::getenv(k.c_str())) return std::string(v);
  }
  if (auto it = m_fallback.find(key); it != m_fallback.end()) return it->second;
  return std::nullopt;
}

std::string Env::interpolate(std::string_view text, std::string_view where) const {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c != '$' || i + 1 >= text.size()) {
      out += c;
      continue;
    }
    if (text[i + 1] == '$') {
      out += '$';
      ++i;
      continue;
    }
    if (text[i + 1] != '{') {
      out += c;
      continue;
    }
    auto close = text.find('}', i + 2);
    if (close == std::string_view::npos)
      throw ConfigError(std::string(where) + ": unterminated '${' in value (write $$ for a literal dollar sign)");
    std::string_view expr = text.substr(i + 2, close - i - 2);
    std::string_view name = expr;
    std::optional<std::string_view> def;
    if (auto p = expr.find(":-"); p != std::string_view::npos) {
      name = expr.substr(0, p);
      def = expr.substr(p + 2);
    }
    if (!valid_name(name))
      throw ConfigError(std::string(where) + ": '${" + std::string(expr) + "}' is not a valid variable reference");
    auto v = get(name);
    if (v && !(v->empty() && def)) {
      out += *v;
    } else if (def) {
      out += *def;
    } else {
      throw ConfigError(std::string(where) + ": environment variable " + std::string(name) +
                        " is not set; set it (or add it to .env) or give a default with ${" + std::string(name) +
                        ":-value}");
    }
    i = close;
  }
  return out;
}

}  // namespace plexus
