// The plexus command's shared pieces (see command.hpp).
#include "command.hpp"

#include <charconv>
#include <fstream>
#include <iostream>
#include <iterator>
#include <limits>

#include "output.hpp"

namespace plexus::cli {

void add_common(CLI::App* cmd, Common& c, bool reading) {
  cmd->add_option("-c,--config", c.config, "Configuration file")->capture_default_str();
  if (reading) cmd->add_flag("--json", c.json, "Print JSON (errors too)");
}

plexus::Database open_config(const std::string& path, const std::string& coordinator) {
  plexus::Env env = plexus::Env::system();
  env.load_dotenv(".env");
  auto cfg = plexus::DatabaseConfig::from_toml_file(path, env);
  if (!coordinator.empty()) cfg.transactions.coordinator = coordinator;
  return plexus::Database(std::move(cfg));
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::size_t from = 0;
  while (from <= s.size()) {
    const auto comma = std::min(s.find(',', from), s.size());
    if (comma > from) out.push_back(s.substr(from, comma - from));
    from = comma + 1;
  }
  return out;
}

namespace {

/// Whether `s` is plainly a decimal number: an optional '-', digits, and
/// for a real a '.' with digits and/or an exponent. Nothing else (no '+',
/// spaces, hex, "inf" or "nan") reads as a number.
bool plain_decimal(std::string_view s, bool& real) {
  std::size_t i = s.starts_with('-') ? 1 : 0;
  const auto digits = [&] {
    const std::size_t from = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i > from;
  };
  if (!digits()) return false;
  real = false;
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!digits()) return false;
    real = true;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    if (!digits()) return false;
    real = true;
  }
  return i == s.size();
}

}  // namespace

/// A --param value as the Value it reads as: null, true/false, a plainly
/// decimal integer or real, else text. A prefix says the type outright:
/// text:, int:, real:, bool: (docs/cli.md).
plexus::Value param_value(const std::string& s) {
  const auto refuse = [&](const char* type) -> plexus::Value {
    throw plexus::UsageError("-p '" + s + "' is not " + type + "; write it plainly (int:42, real:2.5, bool:true) or as text:…");
  };
  if (s.starts_with("text:")) return plexus::Value(s.substr(5));
  if (s.starts_with("int:")) {
    bool real = false;
    std::int64_t v = 0;
    const auto body = std::string_view(s).substr(4);
    const auto [end, ec] = std::from_chars(body.data(), body.data() + body.size(), v);
    if (!plain_decimal(body, real) || real || ec != std::errc() || end != body.data() + body.size())
      return refuse("a 64-bit integer");
    return plexus::Value(v);
  }
  if (s.starts_with("real:")) {
    const std::string body = s.substr(5);
    bool real = false;
    if (body == "inf" || body == "Infinity") return plexus::Value(std::numeric_limits<double>::infinity());
    if (body == "-inf" || body == "-Infinity") return plexus::Value(-std::numeric_limits<double>::infinity());
    if (body == "nan" || body == "NaN") return plexus::Value(std::numeric_limits<double>::quiet_NaN());
    if (!plain_decimal(body, real)) return refuse("a decimal number");
    return plexus::Value(std::strtod(body.c_str(), nullptr));
  }
  if (s.starts_with("bool:")) {
    if (s == "bool:true") return plexus::Value(true);
    if (s == "bool:false") return plexus::Value(false);
    return refuse("true or false");
  }
  if (s == "null" || s == "NULL") return {};
  if (s == "true") return plexus::Value(true);
  if (s == "false") return plexus::Value(false);
  bool real = false;
  if (!plain_decimal(s, real)) return plexus::Value(s);
  if (!real) {
    std::int64_t v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc() && end == s.data() + s.size()) return plexus::Value(v);
    return plexus::Value(s);  // beyond 64 bits: its exact text
  }
  return plexus::Value(std::strtod(s.c_str(), nullptr));
}

std::string read_sql(const std::string& sql, const std::string& file) {
  if (file.empty()) return sql;
  if (file == "-") return std::string(std::istreambuf_iterator<char>(std::cin), {});
  std::ifstream in(file, std::ios::binary);
  if (!in) throw plexus::UsageError("cannot read the SQL file '" + file + "'");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

int report(const plexus::Error& e, bool json) {
  if (json) std::cerr << dump(to_json(e)) << "\n";
  else std::cerr << e.what() << "\n";
  return e.kind() == plexus::ErrorKind::config || e.kind() == plexus::ErrorKind::usage ? kUsage : kDatabase;
}

void take_connection(const Common& common, const char* command, std::vector<std::string*> args, bool last_required) {
  if (!common.connection.empty()) {
    if (!args.back()->empty())
      throw plexus::UsageError(std::string(command) + ": the connection is given twice ('" + *args.front() +
                               "' and --connection " + common.connection + ")");
    for (std::size_t i = args.size() - 1; i > 0; --i) *args[i] = *args[i - 1];
    *args.front() = common.connection;
  }
  if (args.front()->empty())
    throw plexus::UsageError(std::string(command) + ": name a connection (plexus " + command + " CONN …, or --connection CONN)");
  if (last_required && args.back()->empty())
    throw plexus::UsageError(std::string(command) + ": missing argument (see plexus " + command + " --help)");
}

}  // namespace plexus::cli
