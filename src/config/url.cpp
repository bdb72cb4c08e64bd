// Connection URLs, for any engine: scheme:path (a file) and scheme://host… (a server).
#include <cctype>
#include <charconv>

#include "plexus/config/config.hpp"
#include "plexus/core/error.hpp"

namespace plexus {
namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view s, std::string_view what, std::string_view shown_url) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      int hi = i + 2 < s.size() ? hex_digit(s[i + 1]) : -1;
      int lo = i + 2 < s.size() ? hex_digit(s[i + 2]) : -1;
      if (hi < 0 || lo < 0)
        throw ConfigError("bad URL '" + std::string(shown_url) + "': invalid percent-escape in the " +
                          std::string(what));
      if (hi == 0 && lo == 0)
        throw ConfigError("bad URL '" + std::string(shown_url) + "': the " + std::string(what) +
                          " holds %00, a NUL byte, which no engine takes (it would cut the text short there)");
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::uint16_t parse_port(std::string_view p, std::string_view shown_url) {
  unsigned v = 0;
  auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
  // The port is shown as the redacted URL shows it: after the user information.
  if (ec != std::errc{} || end != p.data() + p.size() || v == 0 || v > 65535)
    throw ConfigError("bad URL '" + std::string(shown_url) + "': port '" + std::string(p) +
                      "' is not a number from 1 to 65535");
  return static_cast<std::uint16_t>(v);
}

Endpoint parse_hostport(std::string_view hp, std::string_view shown_url) {
  Endpoint e;
  if (hp.empty()) return e;
  if (hp.front() == '[') {  // [::1]:5432
    auto close = hp.find(']');
    if (close == std::string_view::npos)
      throw ConfigError("bad URL '" + std::string(shown_url) + "': unterminated '[' in host");
    e.host = std::string(hp.substr(1, close - 1));
    if (close + 1 < hp.size()) {
      if (hp[close + 1] != ':') throw ConfigError("bad URL '" + std::string(shown_url) + "': junk after ']'");
      e.port = parse_port(hp.substr(close + 2), shown_url);
    }
    return e;
  }
  auto colon = hp.rfind(':');
  if (colon == std::string_view::npos) {
    e.host = percent_decode(hp, "host", shown_url);
  } else {
    e.host = percent_decode(hp.substr(0, colon), "host", shown_url);
    e.port = parse_port(hp.substr(colon + 1), shown_url);
    if (e.host.find(':') != std::string::npos)
      throw ConfigError("bad URL '" + std::string(shown_url) + "': the host '" + e.host +
                        "' holds ':'; write an IPv6 address in brackets ([::1]:5432) and several hosts with commas "
                        "(h1:5432,h2:5433)");
  }
  if (!e.host.empty() && e.host.front() == '/') {  // percent-encoded socket path
    e.socket = e.host;
    e.host.clear();
  }
  return e;
}

bool is_digits(std::string_view s) {
  if (s.empty() || s.size() > 5) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

/// Whether `auth` reads as a host list ("h", "h:5432", "[::1]:5432", "a,b:1").
bool plausible_hosts(std::string_view auth) {
  if (auth.empty()) return false;
  for (;;) {
    auto comma = auth.find(',');
    std::string_view hp = auth.substr(0, comma);
    if (hp.empty()) return false;
    if (hp.front() == '[') {
      auto close = hp.find(']');
      if (close == std::string_view::npos) return false;
      std::string_view rest = hp.substr(close + 1);
      if (!rest.empty() && !(rest.front() == ':' && is_digits(rest.substr(1)))) return false;
    } else {
      auto colon = hp.find(':');
      std::string_view host = hp.substr(0, colon);
      if (host.empty()) return false;
      for (char c : host)  // host names, IPv4 addresses, percent-encoded socket paths
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_' && c != '%') return false;
      if (colon != std::string_view::npos && !is_digits(hp.substr(colon + 1))) return false;
    }
    if (comma == std::string_view::npos) return true;
    auth.remove_prefix(comma + 1);
  }
}

/// Where the user information of `rest` (the URL after "//") ends: the '@'
/// after which a host list follows. Unencoded '@', '/', '?' in a password
/// are allowed where the reading is unique. With no host list after any '@'
/// (a bad port, say) the last '@' ends it, so errors can still hide the
/// password. `npos` when there is no '@'; `ambiguous` when two readings fit.
constexpr std::size_t ambiguous = std::string_view::npos - 1;
std::size_t userinfo_end(std::string_view rest) {
  std::size_t found = std::string_view::npos, query = std::string_view::npos, last = std::string_view::npos;
  for (auto at = rest.find('@'); at != std::string_view::npos && at < query; at = rest.find('@', at + 1)) {
    // Text before it that reads host/path?query is no user information: the '@' is in a value.
    const std::string_view before = rest.substr(0, at);
    if (auto slash = before.find('/'); slash != std::string_view::npos &&
                                       before.find('?', slash) != std::string_view::npos &&
                                       plausible_hosts(before.substr(0, slash)))
      break;
    last = at;
    std::string_view tail = rest.substr(at + 1);
    const auto auth_end = tail.find_first_of("/?#");
    if (!plausible_hosts(tail.substr(0, auth_end))) continue;
    if (found != std::string_view::npos) return ambiguous;
    found = at;
    // An '@' in this reading's query string is part of a value.
    if (auto q = tail.find('?'); q != std::string_view::npos) query = at + 1 + q;
  }
  return found != std::string_view::npos ? found : last;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

/// Query keys whose values are secrets (libpq's names; any case, percent-encoded or not).
bool secret_key(std::string_view raw_key) {
  std::string key;
  for (std::size_t i = 0; i < raw_key.size(); ++i) {
    if (raw_key[i] == '%' && i + 2 < raw_key.size() && hex_digit(raw_key[i + 1]) >= 0 &&
        hex_digit(raw_key[i + 2]) >= 0) {
      key += static_cast<char>(hex_digit(raw_key[i + 1]) * 16 + hex_digit(raw_key[i + 2]));
      i += 2;
    } else {
      key += raw_key[i];
    }
  }
  return iequals(key, "password") || iequals(key, "sslpassword") || iequals(key, "pass") || iequals(key, "pwd");
}

}  // namespace

std::string redact_url(std::string_view url) {
  std::string out(url);
  // 1. Secret query values, every occurrence, wherever a '?' or '&' starts a
  // pair. A value runs to the next '&' that starts another key=value pair (a
  // password may hold an unencoded '&').
  auto starts_pair = [&](std::size_t p) {
    std::size_t k = p;
    while (k < out.size() && (std::isalnum(static_cast<unsigned char>(out[k])) || out[k] == '_' || out[k] == '%')) ++k;
    return k > p && k < out.size() && out[k] == '=';
  };
  for (std::size_t p = out.find_first_of("?&"); p != std::string::npos; p = out.find_first_of("?&", p + 1)) {
    const std::size_t key_start = p + 1;
    const std::size_t eq = out.find('=', key_start);
    if (eq == std::string::npos || !starts_pair(key_start) ||
        !secret_key(std::string_view(out).substr(key_start, eq - key_start)))
      continue;
    std::size_t value_end = out.find('&', eq + 1);
    while (value_end != std::string::npos && !starts_pair(value_end + 1)) value_end = out.find('&', value_end + 1);
    if (value_end == std::string::npos) value_end = out.size();
    out.replace(eq + 1, value_end - eq - 1, "***");
    p = eq + 3;
  }
  // 2. The user information: everything up to the last '@' is hidden, whatever
  // the reading; a message may show too little of a URL, never a password.
  const auto scheme = out.find("://");
  const std::size_t begin = scheme == std::string::npos ? 0 : scheme + 3;
  const auto at = out.rfind('@');
  if (at == std::string::npos || at < begin) return out;
  const std::string_view userinfo = std::string_view(out).substr(begin, at - begin);
  // Without "://", the text before the first ':' is the scheme (or a user name).
  const auto colon = scheme == std::string::npos ? out.find(':') : userinfo.find(':');
  std::string head = out.substr(0, begin);
  if (scheme == std::string::npos) head.clear();
  const std::string user = colon == std::string::npos || (scheme == std::string::npos && colon > at)
                               ? std::string()
                               : (scheme == std::string::npos ? out.substr(0, colon + 1)
                                                              : std::string(userinfo.substr(0, colon + 1)));
  return head + user + "***" + out.substr(at);
}

ConnectionConfig parse_url(std::string_view url) {
  const std::string shown = redact_url(url);
  ConnectionConfig cfg;
  auto colon = url.find(':');
  if (colon == std::string_view::npos || colon == 0)
    throw ConfigError("bad URL '" + shown +
                      "': expected engine:path/to/file or engine://[user[:password]@]host[:port]/database");
  std::string_view scheme = url.substr(0, colon);
  for (char c : scheme)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.')
      throw ConfigError("bad URL '" + shown +
                        "': expected engine:path/to/file or engine://[user[:password]@]host[:port]/database");
  cfg.driver = std::string(scheme);  // the engine's name or alias, resolved by the Database
  std::string_view rest = url.substr(colon + 1);

  if (!rest.starts_with("//")) {
    // scheme:path: a file (var/app.db, :memory:).
    auto q = rest.find('?');
    std::string_view path = rest.substr(0, q);
    // An absolute path may start with one '/' (scheme:/var/app.db, as RFC 3986 reads it) or three.
    if (path.empty())
      throw ConfigError("bad URL '" + shown + "': expected " + std::string(scheme) + ":path/to/file, " +
                        std::string(scheme) + ":///absolute/path or " + std::string(scheme) +
                        "://[user[:password]@]host[:port]/database");
    if (path.find('@') != std::string_view::npos)  // user:password@host without the '//'
      throw ConfigError("bad URL '" + shown + "': user information without '//': write " + std::string(scheme) +
                        "://user:password@host/database");
    cfg.database = percent_decode(path, "path", shown);
    rest = q == std::string_view::npos ? std::string_view{} : rest.substr(q);
  } else if (rest.starts_with("///")) {
    // scheme:///absolute/path: no host, the path is the database.
    rest.remove_prefix(2);
    auto q = rest.find('?');
    cfg.database = percent_decode(rest.substr(0, q), "path", shown);
    rest = q == std::string_view::npos ? std::string_view{} : rest.substr(q);
  } else {
    rest.remove_prefix(2);
    const std::size_t at = userinfo_end(rest);
    if (at == ambiguous)
      throw ConfigError("bad URL '" + shown +
                        "': the user name and password cannot be told from the host; percent-encode '@' as %40 and "
                        "'/' as %2F in the password");
    if (at != std::string_view::npos) {
      std::string_view userinfo = rest.substr(0, at);
      rest.remove_prefix(at + 1);
      auto c = userinfo.find(':');
      cfg.username = percent_decode(userinfo.substr(0, c), "user name", shown);
      if (c != std::string_view::npos) cfg.password = percent_decode(userinfo.substr(c + 1), "password", shown);
    }
    auto end_auth = rest.find_first_of("/?");
    std::string_view authority = rest.substr(0, end_auth);
    rest = end_auth == std::string_view::npos ? std::string_view{} : rest.substr(end_auth);
    while (!authority.empty()) {
      auto comma = authority.find(',');
      auto ep = parse_hostport(authority.substr(0, comma), shown);
      if (ep.host.empty() && ep.socket.empty())
        throw ConfigError("bad URL '" + shown + "': empty host in the host list");
      cfg.hosts.push_back(std::move(ep));
      if (comma == std::string_view::npos) break;
      authority.remove_prefix(comma + 1);
    }
    if (rest.starts_with("/")) {
      auto q = rest.find('?');
      cfg.database = percent_decode(rest.substr(1, q == std::string_view::npos ? q : q - 1), "database name", shown);
      rest = q == std::string_view::npos ? std::string_view{} : rest.substr(q);
    }
  }

  if (rest.starts_with("?")) {
    rest.remove_prefix(1);
    while (!rest.empty()) {
      auto amp = rest.find('&');
      std::string_view kv = rest.substr(0, amp);
      auto eq = kv.find('=');
      if (eq == std::string_view::npos || eq == 0)
        throw ConfigError("bad URL '" + shown + "': each query parameter needs the form key=value (percent-encode "
                          "'&' as %26 inside values)");
      std::string key = percent_decode(kv.substr(0, eq), "query", shown);
      std::string val = percent_decode(kv.substr(eq + 1), "query", shown);
      if (key == "user") cfg.username = val;
      else if (key == "password") cfg.password = val;
      else if (key == "host") {
        Endpoint ep;
        (val.starts_with("/") ? ep.socket : ep.host) = val;
        cfg.hosts.push_back(std::move(ep));
      }
      else if (key == "port" && !cfg.hosts.empty()) cfg.hosts.back().port = parse_port(val, shown);
      else if (key == "socket") {
        Endpoint ep;
        ep.socket = val;
        cfg.hosts = {std::move(ep)};
      }
      else if (key == "dbname") cfg.database = val;
      else cfg.options[key] = val;
      if (amp == std::string_view::npos) break;
      rest.remove_prefix(amp + 1);
    }
  } else if (!rest.empty()) {
    throw ConfigError("bad URL '" + shown + "': unexpected text after the database name");
  }
  return cfg;
}

}  // namespace plexus
