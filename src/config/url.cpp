// Connection URLs: sqlite:…, postgresql://…, mysql://…
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
  }
  if (!e.host.empty() && e.host.front() == '/') {  // percent-encoded socket path
    e.socket = e.host;
    e.host.clear();
  }
  return e;
}

}  // namespace

std::string redact_url(std::string_view url) {
  std::string out(url);
  auto scheme = url.find("://");
  if (scheme != std::string_view::npos) {
    auto begin = scheme + 3;
    auto query = url.find('?', begin);
    auto at = url.rfind('@', query);  // the last '@' before the query: passwords may contain '@'
    if (at != std::string_view::npos && at > begin) {
      auto colon = url.find(':', begin);
      if (colon != std::string_view::npos && colon < at) out = std::string(url.substr(0, colon + 1)) + "***" + std::string(url.substr(at));
    }
  }
  for (std::string_view key : {"password=", "sslpassword="}) {
    auto p = out.find(key);
    if (p != std::string::npos && p > 0 && (out[p - 1] == '?' || out[p - 1] == '&')) {
      auto end = out.find('&', p);
      out.replace(p + key.size(), (end == std::string::npos ? out.size() : end) - p - key.size(), "***");
    }
  }
  return out;
}

ConnectionConfig parse_url(std::string_view url) {
  const std::string shown = redact_url(url);
  ConnectionConfig cfg;
  auto colon = url.find(':');
  if (colon == std::string_view::npos || colon == 0)
    throw ConfigError("bad URL '" + shown +
                      "': expected scheme:…, e.g. sqlite:app.db, postgresql://user@host/db or mysql://user@host/db");
  std::string_view scheme = url.substr(0, colon);
  auto driver = normalize_driver(scheme);
  if (!driver)
    throw ConfigError("bad URL '" + shown + "': unknown scheme '" + std::string(scheme) +
                      "' (use sqlite, postgresql or mysql)");
  cfg.driver = *driver;
  std::string_view rest = url.substr(colon + 1);

  if (cfg.driver == "sqlite") {
    // sqlite:path, sqlite::memory:, sqlite:///abs/path, sqlite://relative/path
    if (rest.starts_with("//")) rest.remove_prefix(2);
    auto q = rest.find('?');
    std::string_view path = rest.substr(0, q);
    if (path.empty()) throw ConfigError("bad URL '" + shown + "': no database file (use sqlite:path/to/app.db or sqlite::memory:)");
    cfg.database = percent_decode(path, "path", shown);
    if (q != std::string_view::npos) rest = rest.substr(q);
    else rest = {};
  } else {
    if (!rest.starts_with("//"))
      throw ConfigError("bad URL '" + shown + "': expected " + std::string(scheme) + "://[user[:password]@]host[:port]/database");
    rest.remove_prefix(2);
    auto end_auth = rest.find_first_of("/?");
    std::string_view authority = rest.substr(0, end_auth);
    rest = end_auth == std::string_view::npos ? std::string_view{} : rest.substr(end_auth);
    if (auto at = authority.rfind('@'); at != std::string_view::npos) {
      std::string_view userinfo = authority.substr(0, at);
      authority = authority.substr(at + 1);
      auto c = userinfo.find(':');
      cfg.username = percent_decode(userinfo.substr(0, c), "user name", shown);
      if (c != std::string_view::npos) cfg.password = percent_decode(userinfo.substr(c + 1), "password", shown);
    }
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
        throw ConfigError("bad URL '" + shown + "': query parameter '" + std::string(kv.substr(0, eq)) +
                          "' needs the form key=value");
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
    throw ConfigError("bad URL '" + shown + "': unexpected '" + std::string(rest) + "'");
  }
  return cfg;
}

}  // namespace plexus
