// Merging what the members answered, as the plan says: rows ordered across
// members by the merged order (compared in each column's type), groups and
// aggregates combined exactly (sums without rounding), or refused.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <queue>
#include <set>

#include "plexus/core/error.hpp"
#include "shard/planner.hpp"

namespace plexus::detail {
namespace {
// ---- comparing values as the merge orders them -----------------------------

std::optional<long double> as_number(std::string_view s) {
  if (s.empty() || s.size() > 60) return std::nullopt;
  std::size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  bool digits = false, dot = false;
  for (; i < s.size(); ++i) {
    if (std::isdigit(static_cast<unsigned char>(s[i]))) digits = true;
    else if (s[i] == '.' && !dot) dot = true;
    else return std::nullopt;
  }
  if (!digits) return std::nullopt;
  return std::strtold(std::string(s).c_str(), nullptr);
}

int rank(const Value& v) {
  switch (v.type()) {
    case Value::Type::null: return 0;
    case Value::Type::boolean:
    case Value::Type::integer:
    case Value::Type::real: return 1;
    case Value::Type::text: return 2;
    case Value::Type::bytes: return 3;
    case Value::Type::date: return 4;
    case Value::Type::time: return 5;
    case Value::Type::timestamp: return 6;
  }
  return 7;
}

long double number(const Value& v) {
  switch (v.type()) {
    case Value::Type::boolean: return v.raw_bool() ? 1 : 0;
    case Value::Type::integer: return static_cast<long double>(v.raw_int());
    default: return v.raw_real();
  }
}

template <class T>
int three_way(const T& a, const T& b) {
  return a < b ? -1 : b < a ? 1 : 0;
}

/// Total order used by the merge: NULL first, then numbers (by value), text
/// (by bytes), bytes, dates, times, timestamps. Two texts that both read as
/// numbers and order differently as numbers and as bytes make the column
/// ambiguous (a DECIMAL read as text, or numbers kept in a text column): the
/// merge cannot know which order the database meant, so it refuses.
int compare(const Value& a, const Value& b, std::string_view column, bool by_value = false);

/// `text` compared with `other` in `other`'s type, when the text reads as a
/// value of it (one engine returns a DECIMAL, or an aggregate of timestamps,
/// as text where another returns a number or a timestamp); nullopt otherwise.
std::optional<int> compare_text_as(const Value& text, const Value& other, std::string_view column) {
  if (text.type() != Value::Type::text) return std::nullopt;
  switch (other.type()) {
    case Value::Type::boolean:
    case Value::Type::integer:
    case Value::Type::real:
      if (auto n = as_number(text.text_view())) {
        // Against a double, the text is read as the nearest double (0.12 stored
        // by SQLite as a double equals the DECIMAL 0.12 another engine spells).
        if (other.type() == Value::Type::real)
          return three_way(std::strtod(std::string(text.text_view()).c_str(), nullptr), other.raw_real());
        return three_way(*n, number(other));
      }
      return std::nullopt;
    case Value::Type::date:
    case Value::Type::time:
    case Value::Type::timestamp:
      try {
        const Value as_other = other.type() == Value::Type::date   ? Value(text.as<Date>())
                               : other.type() == Value::Type::time ? Value(text.as<Time>())
                                                                   : Value(text.as<Timestamp>());
        return compare(as_other, other, column);
      } catch (const ConversionError&) {
        return std::nullopt;
      }
    default: return std::nullopt;
  }
}

int compare(const Value& a, const Value& b, std::string_view column, bool by_value) {
  // A column that is no text in the members' schemas (a DECIMAL, a
  // timestamp) whose values come back as text compares by what they say.
  if (by_value && a.type() == Value::Type::text && b.type() == Value::Type::text) {
    auto na = as_number(a.text_view()), nb = as_number(b.text_view());
    if (na && nb) return three_way(*na, *nb);
    try {
      return three_way(a.as<Timestamp>(), b.as<Timestamp>());
    } catch (const ConversionError&) {
      // neither: compared as text below
    }
  }
  const int ra = rank(a), rb = rank(b);
  if (ra != rb) {
    if (a.is_null() || b.is_null()) return ra < rb ? -1 : 1;  // NULL lowest, as every member is asked to order it
    if (auto c = compare_text_as(a, b, column)) return *c;
    if (auto c = compare_text_as(b, a, column)) return -*c;
    throw UsageError("scatter-gather across shards: column '" + std::string(column) + "' holds " +
                     std::string(Value::type_name(a.type())) + " on one member and " +
                     std::string(Value::type_name(b.type())) +
                     " on another, and neither reads as the other: Plexus cannot order them as one database would, "
                     "so it refuses; give the column one type on every member (or cast it in the query)");
  }
  switch (a.type()) {
    case Value::Type::null: return 0;
    case Value::Type::boolean:
    case Value::Type::integer:
    case Value::Type::real:
      if (a.type() == Value::Type::integer && b.type() == Value::Type::integer) return three_way(a.raw_int(), b.raw_int());
      return three_way(number(a), number(b));
    case Value::Type::text:
    case Value::Type::bytes: {
      const int c = a.text_view().compare(b.text_view());
      const int bytes = c < 0 ? -1 : c > 0 ? 1 : 0;
      if (a.type() == Value::Type::text && bytes != 0) {
        auto na = as_number(a.text_view()), nb = as_number(b.text_view());
        if (na && nb && three_way(*na, *nb) != bytes)
          throw UsageError("scatter-gather across shards: column '" + std::string(column) + "' holds '" +
                           std::string(a.text_view()) + "' and '" + std::string(b.text_view()) +
                           "', text that reads as numbers: Plexus cannot tell whether it orders as text or as a "
                           "number (a DECIMAL column), so it refuses rather than guess; cast it to an integer or "
                           "floating type, or query one shard");
      }
      return bytes;
    }
    case Value::Type::date: return three_way(a.raw_date(), b.raw_date());
    case Value::Type::time: return three_way(a.raw_time().since_midnight, b.raw_time().since_midnight);
    case Value::Type::timestamp: return three_way(a.raw_timestamp(), b.raw_timestamp());
  }
  return 0;
}

// ---- exact sums --------------------------------------------------------------

__extension__ typedef __int128 Int128;  // GCC's 128-bit integer (exact sums of 36 digits)

/// Adds integers and decimal text exactly (a 128-bit mantissa and a scale),
/// and floating values as long double.
class Sum {
 public:
  void add(const Value& v) {
    switch (v.type()) {
      case Value::Type::null: return;
      case Value::Type::boolean:
      case Value::Type::integer: add_decimal(static_cast<Int128>(v.type() == Value::Type::integer ? v.raw_int() : v.raw_bool()), 0); break;
      case Value::Type::real: m_real += v.raw_real(); m_is_real = true; break;
      case Value::Type::text: add_text(v.raw_text()); break;
      default: throw UsageError("scatter-gather: cannot add a " + std::string(Value::type_name(v.type())));
    }
    m_any = true;
  }
  [[nodiscard]] bool any() const noexcept { return m_any; }
  [[nodiscard]] long double as_long_double() const { return m_real + static_cast<long double>(m_mant) / std::pow(10.0L, m_scale); }
  [[nodiscard]] Value value() const {
    if (!m_any) return Value();
    if (m_is_real) return Value(static_cast<double>(as_long_double()));
    if (m_scale == 0 && m_mant >= std::numeric_limits<std::int64_t>::min() && m_mant <= std::numeric_limits<std::int64_t>::max())
      return Value(static_cast<std::int64_t>(m_mant));
    // Decimal text, as the engines return DECIMAL/NUMERIC.
    Int128 m = m_mant < 0 ? -m_mant : m_mant;
    std::string digits;
    do {
      digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(m % 10)));
      m /= 10;
    } while (m > 0);
    while (static_cast<int>(digits.size()) <= m_scale) digits.insert(digits.begin(), '0');
    if (m_scale > 0) digits.insert(digits.end() - m_scale, '.');
    return Value((m_mant < 0 ? "-" : "") + digits);
  }

 private:
  void add_text(std::string_view s) {
    std::size_t i = 0;
    bool neg = false;
    if (!s.empty() && (s[0] == '-' || s[0] == '+')) neg = s[i++] == '-';
    Int128 m = 0;
    int scale = -1;
    for (; i < s.size(); ++i) {
      if (s[i] == '.' && scale < 0) {
        scale = 0;
        continue;
      }
      if (!std::isdigit(static_cast<unsigned char>(s[i])))
        throw UsageError("scatter-gather: cannot add '" + std::string(s) + "': not a number");
      m = checked(m * 10 + (s[i] - '0'));
      if (scale >= 0) ++scale;
    }
    add_decimal(neg ? -m : m, std::max(scale, 0));
  }
  void add_decimal(Int128 m, int scale) {
    while (m_scale < scale) m_mant = checked(m_mant * 10), ++m_scale;
    while (scale < m_scale) m = checked(m * 10), ++scale;
    m_mant = checked(m_mant + m);
  }
  static Int128 checked(Int128 v) {
    constexpr Int128 kMax = static_cast<Int128>(1) << 120;
    if (v > kMax || v < -kMax) throw UsageError("scatter-gather: a sum across shards overflows 36 digits");
    return v;
  }
  bool m_any = false, m_is_real = false;
  long double m_real = 0;
  Int128 m_mant = 0;
  int m_scale = 0;
};

struct Accumulator {
  Sum sum;
  std::int64_t count = 0;
  Value best;  // min/max
  bool seen = false;
};

bool matches(const Value& v, std::string_view op, const Value& x, std::string_view column, bool by_value) {
  if (v.is_null() || x.is_null()) return false;  // SQL: a comparison with NULL is not true
  const int c = compare(v, x, column, by_value);
  if (op == "=") return c == 0;
  if (op == "!=" || op == "<>") return c != 0;
  if (op == "<") return c < 0;
  if (op == "<=") return c <= 0;
  if (op == ">") return c > 0;
  if (op == ">=") return c >= 0;
  return false;
}

}  // namespace

// ---- merging -----------------------------------------------------------------

ShardPlanner::Layout ShardPlanner::layout(const Columns& shard_cols) const {
  Layout l;
  if (m_star) {
    for (std::size_t i = 0; i < shard_cols.size(); ++i) {
      l.visible.push_back(i);
      l.names.push_back(shard_cols[i]);
    }
    for (const auto& s : m_sort) {
      auto at = shard_cols.find(unqualified(s.name));
      if (!at) throw UsageError("scatter-gather: ORDER BY '" + s.name + "' is not a column of the rows the shards returned");
      l.key_at.push_back(*at);
    }
    return l;
  }
  for (const auto& o : m_outs)
    if (!o.hidden) {
      l.visible.push_back(o.src);
      l.names.push_back(o.name);
    }
  for (const auto& s : m_sort) l.key_at.push_back(m_outs[s.out].src);
  return l;
}

Result ShardPlanner::merge(std::vector<Result>& parts, std::span<const std::string> names) const {
  if (!m_refused.empty()) throw UsageError("scatter-gather refused: " + m_refused);
  return m_aggregate ? merge_groups(parts) : merge_rows(parts, names);
}

Result ShardPlanner::merge_rows(std::vector<Result>& parts, std::span<const std::string> names) const {
  const Layout lay = layout(parts.front().columns());
  const auto& visible = lay.visible;  // (names, not structured bindings: lambdas below capture them)
  const auto& out_names = lay.names;
  const auto& key_at = lay.key_at;
  const std::vector<bool> value_keys = sort_by_value();
  auto order = [&](Row a, Row b) {  // -1 when a comes first
    for (std::size_t k = 0; k < m_sort.size(); ++k) {
      int c = compare(a[key_at[k]], b[key_at[k]], m_sort[k].name, value_keys[k]);
      if (m_sort[k].desc) c = -c;
      if (c) return c;
    }
    return 0;
  };
  // Each shard's rows must already be in the merge's order: a shard that
  // sorts text by another collation would make the merged page wrong.
  for (std::size_t p = 0; p < parts.size() && !m_sort.empty(); ++p)
    for (std::size_t r = 1; r < parts[p].size(); ++r)
      if (order(parts[p][r - 1], parts[p][r]) > 0)
        throw UsageError("scatter-gather: shard '" + names[p] +
                         "' returned rows in another order than Plexus merges in (byte order for text, NULLs first "
                         "ascending): give text columns sorted across shards a binary collation (C on PostgreSQL, "
                         "utf8mb4_bin on MariaDB)");

  Result out{Columns(out_names)};
  const std::uint64_t skip = m_offset.value_or(0);
  const std::uint64_t take = m_limit.value_or(std::numeric_limits<std::uint64_t>::max());
  std::uint64_t skipped = 0, taken = 0;
  auto less_row = [&](const std::vector<Value>& a, const std::vector<Value>& b) {
    return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(),
                                        [](const Value& x, const Value& y) { return compare(x, y, "") < 0; });
  };
  std::set<std::vector<Value>, decltype(less_row)> seen(less_row);
  auto emit = [&](Row row) {
    if (taken >= take) return false;
    if (m_distinct) {
      std::vector<Value> v;
      for (std::size_t c : visible) v.push_back(row[c]);
      if (!seen.insert(std::move(v)).second) return true;
    }
    if (skipped < skip) {
      ++skipped;
      return true;
    }
    Value* dst = out.append_row();
    for (std::size_t c = 0; c < visible.size(); ++c) dst[c] = row[visible[c]];
    ++taken;
    return true;
  };
  if (m_sort.empty()) {
    for (auto& part : parts)
      for (Row row : part)
        if (!emit(row)) return out;
    return out;
  }
  // k-way merge: a heap of each shard's next row; ties go to the lower shard.
  std::vector<std::size_t> next(parts.size(), 0);
  auto later = [&](std::size_t a, std::size_t b) {
    const int c = order(parts[a][next[a]], parts[b][next[b]]);
    return c != 0 ? c > 0 : a > b;
  };
  std::priority_queue<std::size_t, std::vector<std::size_t>, decltype(later)> heap(later);
  for (std::size_t p = 0; p < parts.size(); ++p)
    if (!parts[p].empty()) heap.push(p);
  while (!heap.empty()) {
    const std::size_t p = heap.top();
    heap.pop();
    if (!emit(parts[p][next[p]])) break;
    if (++next[p] < parts[p].size()) heap.push(p);
  }
  return out;
}

namespace {

/// The streaming merge: each member's cursor, the next row of each, and a
/// heap of the members ordered by that row.
class MergedSource final : public RowSource {
 public:
  struct Sort {
    std::size_t at;
    std::string name;
    bool desc;
    bool by_value;
  };
  MergedSource(std::vector<Cursor> parts, std::vector<std::string> names, std::vector<std::size_t> visible,
               std::vector<std::string> out_names, std::vector<Sort> sort, bool distinct,
               std::optional<std::uint64_t> limit, std::optional<std::uint64_t> offset)
      : m_parts(std::move(parts)), m_names(std::move(names)), m_visible(std::move(visible)),
        m_columns(std::move(out_names)), m_sort(std::move(sort)), m_distinct(distinct), m_limit(limit),
        m_skip(offset.value_or(0)), m_heads(m_parts.size()), m_live(m_parts.size(), false),
        m_seen(less_rows) {
    for (std::size_t p = 0; p < m_parts.size(); ++p) pull(p);
  }
  const Columns& columns() const override { return m_columns; }
  bool next(std::vector<Value>& row) override {
    while (!m_limit || m_taken < *m_limit) {
      const std::size_t p = pick();
      if (p == m_parts.size()) return false;
      std::vector<Value> out;
      out.reserve(m_visible.size());
      for (std::size_t c : m_visible) out.push_back(m_heads[p][c]);
      pull(p);
      if (m_distinct && !m_seen.insert(out).second) continue;
      if (m_skip) {
        --m_skip;
        continue;
      }
      row = std::move(out);
      ++m_taken;
      return true;
    }
    return false;
  }

 private:
  static bool less_rows(const std::vector<Value>& a, const std::vector<Value>& b) {
    return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(),
                                        [](const Value& x, const Value& y) { return compare(x, y, "") < 0; });
  }
  int order(const std::vector<Value>& a, const std::vector<Value>& b) const {
    for (const auto& s : m_sort) {
      int c = compare(a[s.at], b[s.at], s.name, s.by_value);
      if (s.desc) c = -c;
      if (c) return c;
    }
    return 0;
  }
  /// Reads member p's next row into its head, checking it does not come before the last one.
  void pull(std::size_t p) {
    Cursor& c = m_parts[p];
    if (!c.next()) {
      m_live[p] = false;
      return;
    }
    std::vector<Value> row(c.row().begin(), c.row().end());
    if (m_live[p] && !m_sort.empty() && order(m_heads[p], row) > 0)
      throw UsageError("scatter-gather: shard '" + m_names[p] +
                       "' returned rows in another order than Plexus merges in (byte order for text, NULLs first "
                       "ascending): give text columns sorted across shards a binary collation");
    m_heads[p] = std::move(row);
    m_live[p] = true;
  }
  /// The member whose head comes first (ties: the lower member); size() when all are done.
  std::size_t pick() const {
    std::size_t best = m_parts.size();
    for (std::size_t p = 0; p < m_parts.size(); ++p) {
      if (!m_live[p]) continue;
      if (m_sort.empty()) return p;  // unordered: the members one after the other
      if (best == m_parts.size() || order(m_heads[p], m_heads[best]) < 0) best = p;
    }
    return best;
  }

  std::vector<Cursor> m_parts;
  std::vector<std::string> m_names;
  std::vector<std::size_t> m_visible;
  Columns m_columns;
  std::vector<Sort> m_sort;
  bool m_distinct;
  std::optional<std::uint64_t> m_limit;
  std::uint64_t m_skip, m_taken = 0;
  std::vector<std::vector<Value>> m_heads;
  std::vector<bool> m_live;
  std::set<std::vector<Value>, bool (*)(const std::vector<Value>&, const std::vector<Value>&)> m_seen;
};

}  // namespace

std::unique_ptr<RowSource> ShardPlanner::stream(std::vector<Cursor> parts, std::vector<std::string> names) const {
  if (!m_refused.empty()) throw UsageError("scatter-gather refused: " + m_refused);
  if (m_aggregate) {  // groups combine only once every row is read
    std::vector<Result> results;
    for (auto& c : parts) {
      Result r(c.columns());
      for (Row row : c) {
        Value* dst = r.append_row();
        for (std::size_t i = 0; i < row.size(); ++i) dst[i] = row[i];
      }
      results.push_back(std::move(r));
    }
    return RowSource::of(merge_groups(results));
  }
  Layout lay = layout(parts.front().columns());
  std::vector<MergedSource::Sort> sort;
  const std::vector<bool> value_keys = sort_by_value();
  for (std::size_t k = 0; k < m_sort.size(); ++k)
    sort.push_back({lay.key_at[k], m_sort[k].name, m_sort[k].desc, value_keys[k]});
  return std::make_unique<MergedSource>(std::move(parts), std::move(names), std::move(lay.visible), std::move(lay.names),
                                        std::move(sort), m_distinct, m_limit, m_offset);
}

Result ShardPlanner::merge_groups(std::vector<Result>& parts) const {
  auto less_key = [](const std::vector<Value>& a, const std::vector<Value>& b) {
    return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(),
                                        [](const Value& x, const Value& y) { return compare(x, y, "GROUP BY") < 0; });
  };
  std::map<std::vector<Value>, std::vector<Accumulator>, decltype(less_key)> groups(less_key);
  for (auto& part : parts) {
    for (Row row : part) {
      std::vector<Value> key;
      for (std::size_t s : m_group_srcs) key.push_back(row[s]);
      auto [it, fresh] = groups.try_emplace(std::move(key));
      auto& acc = it->second;
      if (fresh) acc.resize(m_cols.size());
      for (std::size_t c = 0; c < m_cols.size(); ++c) {
        const Value& v = row[c];
        const std::string& fn = m_cols[c].fn;
        Accumulator& a = acc[c];
        if (fn == "COUNT") a.count += v.is_null() ? 0 : v.as<std::int64_t>();
        else if (fn == "SUM") a.sum.add(v);
        else if (fn == "MIN" || fn == "MAX") {
          if (v.is_null()) continue;
          const int than = compare(v, a.best, m_cols[c].arg, by_value(m_cols[c].arg));
          if (!a.seen || (fn == "MIN" ? than < 0 : than > 0)) a.best = v;
          a.seen = true;
        } else if (!a.seen) {
          a.best = v;  // a grouped column: the same in every row of the group
          a.seen = true;
        }
      }
    }
  }
  // An aggregate without GROUP BY answers one row even over no rows.
  if (m_group_srcs.empty() && groups.empty()) groups.try_emplace({}).first->second.resize(m_cols.size());

  std::vector<std::vector<Value>> rows;
  for (auto& [key, acc] : groups) {
    std::vector<Value> row;
    for (const auto& o : m_outs) {
      const Accumulator& a = acc[o.src];
      switch (o.op) {
        case Op::keep: row.push_back(a.best); break;
        case Op::count: row.push_back(Value(a.count)); break;
        case Op::sum: row.push_back(a.sum.value()); break;
        case Op::min:
        case Op::max: row.push_back(a.seen ? a.best : Value()); break;
        case Op::avg: {
          const std::int64_t n = acc[o.src2].count;
          row.push_back(n == 0 ? Value() : Value(static_cast<double>(a.sum.as_long_double() / static_cast<long double>(n))));
          break;
        }
      }
    }
    bool keep = true;
    for (const auto& h : m_having)
      keep = keep && matches(row[h.out], h.op, h.value, m_outs[h.out].name, by_value(m_cols[m_outs[h.out].src].arg));
    if (keep) rows.push_back(std::move(row));
  }
  if (!m_sort.empty()) {
    const std::vector<bool> value_keys = sort_by_value();
    std::stable_sort(rows.begin(), rows.end(), [&](const auto& a, const auto& b) {
      for (std::size_t k = 0; k < m_sort.size(); ++k) {
        int c = compare(a[m_sort[k].out], b[m_sort[k].out], m_sort[k].name, value_keys[k]);
        if (m_sort[k].desc) c = -c;
        if (c) return c < 0;
      }
      return false;
    });
  }
  std::vector<std::string> names;
  std::vector<std::size_t> visible;
  for (std::size_t i = 0; i < m_outs.size(); ++i)
    if (!m_outs[i].hidden) {
      names.push_back(m_outs[i].name);
      visible.push_back(i);
    }
  Result out{Columns(names)};
  std::set<std::vector<Value>, decltype(less_key)> seen(less_key);
  std::uint64_t skipped = 0, taken = 0;
  for (auto& row : rows) {
    if (m_limit && taken >= *m_limit) break;
    if (m_distinct) {
      std::vector<Value> v;
      for (std::size_t i : visible) v.push_back(row[i]);
      if (!seen.insert(std::move(v)).second) continue;
    }
    if (skipped < m_offset.value_or(0)) {
      ++skipped;
      continue;
    }
    Value* dst = out.append_row();
    for (std::size_t c = 0; c < visible.size(); ++c) dst[c] = std::move(row[visible[c]]);
    ++taken;
  }
  return out;
}

}  // namespace plexus::detail
