// Keyset paging across a shard group: each page ordered by the key columns
// and merged, the next page asked for with an opaque token holding the last
// row's keys (so a page never repeats or skips a row as OFFSET would).
#include <string>
#include <vector>

#include "plexus/core/error.hpp"
#include "plexus/shard/shard_group.hpp"

namespace plexus {

namespace {

/// A continuation token: the last row's key values, each tagged with its
/// type, as hex (opaque to callers, checked when read back).
std::string encode_token(const std::vector<Value>& values) {
  std::string raw;
  for (const auto& v : values) {
    std::string text;
    char tag;
    switch (v.type()) {
      case Value::Type::integer: tag = 'i'; text = std::to_string(v.raw_int()); break;
      case Value::Type::real: {
        tag = 'r';
        char buf[40];
        std::snprintf(buf, sizeof buf, "%.17g", v.raw_real());
        text = buf;
        break;
      }
      case Value::Type::text: tag = 't'; text = v.raw_text(); break;
      case Value::Type::null:
        throw UsageError("page_by_key: a key column is NULL in a returned row; keyset pages need keys that are never NULL");
      default: tag = 't'; text = v.to_string(); break;
    }
    raw += tag;
    raw += std::to_string(text.size());
    raw += ':';
    raw += text;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char c : raw) {
    hex += kHex[c >> 4];
    hex += kHex[c & 15];
  }
  return hex;
}

std::vector<Value> decode_token(std::string_view hex, std::size_t keys) {
  auto bad = [] { return UsageError("page_by_key: not a continuation token from this walk (pass the `next` of the previous page)"); };
  if (hex.size() % 2) throw bad();
  std::string raw;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    auto nib = [&](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      throw bad();
    };
    raw += static_cast<char>(nib(hex[i]) * 16 + nib(hex[i + 1]));
  }
  std::vector<Value> out;
  std::size_t at = 0;
  while (at < raw.size()) {
    const char tag = raw[at++];
    const auto colon = raw.find(':', at);
    if (colon == std::string::npos) throw bad();
    std::size_t len = 0;
    try {
      len = std::stoul(raw.substr(at, colon - at));
    } catch (...) {
      throw bad();
    }
    if (colon + 1 + len > raw.size()) throw bad();
    const std::string text = raw.substr(colon + 1, len);
    at = colon + 1 + len;
    try {
      if (tag == 'i') out.emplace_back(static_cast<std::int64_t>(std::stoll(text)));
      else if (tag == 'r') out.emplace_back(std::stod(text));
      else if (tag == 't') out.emplace_back(text);
      else throw bad();
    } catch (const UsageError&) {
      throw;
    } catch (...) {
      throw bad();
    }
  }
  if (out.size() != keys) throw bad();
  return out;
}

}  // namespace

KeysetPage ShardGroup::page_by_key(const QueryBuilder& q, const std::vector<std::string>& keys, std::size_t per_page,
                                   std::string_view after, bool descending) {
  if (auto* to = moved(false)) return to->page_by_key(q, keys, per_page, after, descending);
  if (keys.empty()) throw UsageError("page_by_key needs the key columns that order the walk");
  if (per_page == 0) throw UsageError("page_by_key: per_page must be at least 1");
  for (const auto& k : keys) check_name(k);
  QueryBuilder page = q;
  page.reorder();
  if (!after.empty()) {
    const auto last = decode_token(after, keys.size());
    // (k1, k2, …) after (v1, v2, …): k1 > v1 OR (k1 = v1 AND k2 > v2) OR …, in every dialect.
    page.where([&](QueryBuilder& any) {
      for (std::size_t i = 0; i < keys.size(); ++i)
        any.or_where([&](QueryBuilder& all) {
          for (std::size_t j = 0; j < i; ++j) all.where(keys[j], last[j]);
          all.where(keys[i], descending ? "<" : ">", last[i]);
        });
    });
  }
  for (const auto& k : keys) page.order_by(k, descending ? "desc" : "asc");
  page.limit(per_page).offset(0);
  KeysetPage out;
  out.rows = QueryBuilder(page).get();
  if (out.rows.size() == per_page) {
    std::vector<Value> last;
    const Row row = out.rows[out.rows.size() - 1];
    for (const auto& k : keys) {
      auto at = out.rows.columns().find(k);
      if (!at) throw UsageError("page_by_key: key column '" + k + "' must be selected");
      last.push_back(row[*at]);
    }
    out.next = encode_token(last);
  }
  return out;
}

}  // namespace plexus
