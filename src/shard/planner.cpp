#include "shard/planner.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <queue>
#include <set>

#include "plexus/core/error.hpp"
#include "plexus/driver/grammar.hpp"

namespace plexus::detail {
namespace {

using namespace std::string_view_literals;

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

/// "t.col" → "col".
std::string_view unqualified(std::string_view name) {
  auto dot = name.rfind('.');
  return dot == std::string_view::npos ? name : name.substr(dot + 1);
}

bool is_word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

/// An identifier optionally quoted with "" or ``.
std::optional<std::string> parse_alias(std::string_view s) {
  s = trim(s);
  if (s.size() >= 2 && (s.front() == '"' || s.front() == '`') && s.back() == s.front()) s = s.substr(1, s.size() - 2);
  if (s.empty() || !std::all_of(s.begin(), s.end(), is_word_char)) return std::nullopt;
  return std::string(s);
}

/// "col AS alias" → {col, alias}; "col" → {col, ""}.
std::pair<std::string, std::string> split_alias(std::string_view text) {
  std::string_view t = trim(text);
  for (std::size_t i = 0; i + 4 <= t.size(); ++i)
    if (t[i] == ' ' && iequals(t.substr(i, 4), " as ")) return {std::string(trim(t.substr(0, i))), std::string(trim(t.substr(i + 4)))};
  return {std::string(t), ""};
}

struct Aggregate {
  std::string fn;  // COUNT, SUM, MIN, MAX, AVG
  bool distinct = false;
  std::string arg;  // a column name or "*"
  std::string alias;
};

/// `COUNT(*)`, `SUM(DISTINCT price) AS total`, … or nullopt for anything else.
std::optional<Aggregate> parse_aggregate(std::string_view text) {
  std::string_view t = trim(text);
  std::size_t i = 0;
  while (i < t.size() && is_word_char(t[i])) ++i;
  Aggregate a;
  a.fn = upper(t.substr(0, i));
  if (a.fn != "COUNT" && a.fn != "SUM" && a.fn != "MIN" && a.fn != "MAX" && a.fn != "AVG") return std::nullopt;
  t = trim(t.substr(i));
  if (t.empty() || t.front() != '(') return std::nullopt;
  auto close = t.find(')');
  if (close == std::string_view::npos || t.find('(', 1) < close) return std::nullopt;
  std::string_view inside = trim(t.substr(1, close - 1));
  if (inside.size() > 9 && iequals(inside.substr(0, 9), "distinct ")) {
    a.distinct = true;
    inside = trim(inside.substr(9));
  }
  if (inside == "*") {
    if (a.fn != "COUNT" || a.distinct) return std::nullopt;
    a.arg = "*";
  } else {
    if (inside.empty() || !std::all_of(inside.begin(), inside.end(), [](char c) { return is_word_char(c) || c == '.'; }))
      return std::nullopt;
    a.arg = std::string(inside);
  }
  std::string_view rest = trim(t.substr(close + 1));
  if (!rest.empty()) {
    if (rest.size() > 3 && iequals(rest.substr(0, 3), "as ")) rest = rest.substr(3);
    auto alias = parse_alias(rest);
    if (!alias) return std::nullopt;
    a.alias = *alias;
  }
  return a;
}

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

// ---- planning ----------------------------------------------------------------

ShardPlanner::ShardPlanner(const QueryBuilder& q, std::string_view key_column) : m_q(q) {
  if (!q.parts().joins.empty())
    refuse("it joins tables: Plexus cannot know that the joined rows live on the same shard; join on one shard "
           "(db.shards(group).shard(key)) or read the tables separately");
  check_conditions(q.parts().wheres);
  m_distinct = q.parts().distinct;
  m_limit = q.parts().limit;
  m_offset = q.parts().offset;
  plan_columns(q, key_column);
}

void ShardPlanner::check_conditions(const QueryBuilder::Conditions& conds) {
  for (const auto& c : conds) {
    using K = QueryBuilder::Condition::Kind;
    if (c.kind == K::in_sub || c.kind == K::not_in_sub)
      refuse("a subquery in WHERE would run against each shard's rows only; run the subquery first and pass its values");
    if (c.kind == K::group && c.nested) check_conditions(c.nested->parts().wheres);
    if (c.kind == K::basic && (c.op == "like" || c.op == "not like")) m_like.emplace_back(unqualified(c.column));
  }
}

bool ShardPlanner::by_value(std::string_view column) const {
  const auto c = unqualified(column);
  return std::find(m_by_value.begin(), m_by_value.end(), c) != m_by_value.end();
}

std::vector<bool> ShardPlanner::sort_by_value() const {
  std::vector<bool> out;
  for (const auto& s : m_sort) out.push_back(by_value(m_star ? std::string_view(s.name) : std::string_view(m_cols[m_outs[s.out].src].arg)));
  return out;
}

std::vector<std::string> ShardPlanner::merged_text_columns() const {
  static const std::vector<Result> none;
  return merged_text_columns(none);
}

std::vector<std::string> ShardPlanner::merged_text_columns(const std::vector<Result>& parts) const {
  // With answers in hand, only a column that holds text in them counts.
  const auto holds_text = [&](std::string_view name, std::optional<std::size_t> at) {
    if (parts.empty()) return true;
    for (const Result& r : parts) {
      const auto i = at ? at : r.columns().find(name);
      if (!i) continue;
      for (Row row : r)
        if (*i < row.size() && row[*i].type() == Value::Type::text) return true;
    }
    return false;
  };
  std::vector<std::string> out;
  const auto add = [&](std::string_view column, std::optional<std::size_t> at) {
    if (column.empty() || column == "*") return;
    std::string c(unqualified(column));
    if (std::find(out.begin(), out.end(), c) == out.end() && holds_text(c, at)) out.push_back(std::move(c));
  };
  for (const auto& s : m_sort) {
    if (m_star) add(s.name, std::nullopt);
    else if (s.out < m_outs.size()) add(m_cols[m_outs[s.out].src].arg, m_outs[s.out].src);
  }
  for (const auto& o : m_outs)
    if (o.op == Op::min || o.op == Op::max || (m_distinct && o.op == Op::keep)) add(m_cols[o.src].arg, o.src);
  for (auto src : m_group_srcs) add(m_cols[src].arg, src);
  if (m_star && m_distinct) {
    bool any = parts.empty();
    for (const Result& r : parts)
      for (Row row : r)
        for (std::size_t c = 0; c < row.size() && !any; ++c) any = row[c].type() == Value::Type::text;
    if (any) out.push_back("*");
  }
  return out;
}

std::optional<std::vector<Value>> ShardPlanner::key_values(const QueryBuilder& q, std::string_view key) {
  if (key.empty()) return std::nullopt;
  for (std::size_t i = 1; i < q.parts().wheres.size(); ++i)
    if (q.parts().wheres[i].use_or) return std::nullopt;
  using K = QueryBuilder::Condition::Kind;
  for (const auto& c : q.parts().wheres) {
    if (unqualified(c.column) != key) continue;
    if (c.kind == K::basic && c.op == "=" && !c.value.is_null()) return std::vector<Value>{c.value};
    if (c.kind == K::in && std::none_of(c.values.begin(), c.values.end(), [](const Value& v) { return v.is_null(); }))
      return c.values;
  }
  return std::nullopt;
}

std::size_t ShardPlanner::add_shard_column(ShardColumn c) {
  m_cols.push_back(std::move(c));
  return m_cols.size() - 1;
}

std::optional<std::size_t> ShardPlanner::find_output(std::string_view name) const {
  for (std::size_t i = 0; i < m_outs.size(); ++i)
    if (m_outs[i].name == name) return i;
  for (std::size_t i = 0; i < m_outs.size(); ++i) {  // a column by its plain name
    const Output& o = m_outs[i];
    if (o.op == Op::keep && (m_cols[o.src].arg == name || unqualified(m_cols[o.src].arg) == unqualified(name)))
      return i;
  }
  return std::nullopt;
}

void ShardPlanner::plan_columns(const QueryBuilder& q, std::string_view key_column) {
  const auto is_key = [&](std::string_view column) { return !key_column.empty() && unqualified(column) == key_column; };
  bool has_aggregate = false;
  const auto& columns = q.parts().columns;
  if (columns.empty() || (columns.size() == 1 && !columns[0].is_raw() && trim(columns[0].text()) == "*")) {
    m_star = true;
  } else {
    for (const Expr& e : columns) {
      if (e.is_raw()) {
        auto a = parse_aggregate(e.text());
        if (!a || !e.bindings().empty()) {
          refuse("the select expression '" + e.text() + "' is neither a column nor COUNT/SUM/MIN/MAX/AVG of one: "
                 "Plexus cannot tell how to combine it across shards; select the columns and compute it in C++, or "
                 "query one shard");
          continue;
        }
        has_aggregate = true;
        Output o;
        o.name = a->alias.empty() ? std::string(trim(e.text())) : a->alias;
        if (a->distinct && a->fn != "MIN" && a->fn != "MAX" && !is_key(a->arg))
          refuse(a->fn + "(DISTINCT " + a->arg + ") across shards: the same " + a->arg +
                 " can appear on several shards, so per-shard results cannot be combined exactly (only DISTINCT "
                 "of the shard key '" + (key_column.empty() ? std::string("(none configured)") : std::string(key_column)) +
                 "' can); query one shard, or select DISTINCT " + a->arg + " and count in C++");
        const bool distinct = a->distinct && a->fn != "MIN" && a->fn != "MAX";
        if (a->fn == "AVG") {
          o.op = Op::avg;
          o.src = add_shard_column({"SUM", a->arg, distinct});
          o.src2 = add_shard_column({"COUNT", a->arg, distinct});
        } else {
          o.op = a->fn == "COUNT" ? Op::count : a->fn == "SUM" ? Op::sum : a->fn == "MIN" ? Op::min : Op::max;
          o.src = add_shard_column({a->fn, a->arg, distinct});
        }
        m_outs.push_back(std::move(o));
      } else {
        auto [column, alias] = split_alias(e.text());
        if (column == "*" || column.ends_with(".*")) {
          refuse("'" + e.text() + "' next to other columns: list the columns");
          continue;
        }
        Output o;
        o.name = alias.empty() ? std::string(unqualified(column)) : alias;
        o.src = add_shard_column({"", column, false});
        m_outs.push_back(std::move(o));
      }
    }
  }
  m_aggregate = has_aggregate || !q.parts().groups.empty();
  if (!q.parts().havings.empty() && !m_aggregate) refuse("HAVING without GROUP BY or an aggregate");

  if (m_aggregate) {
    if (m_star) {
      refuse("GROUP BY with SELECT *: list the grouped columns and the aggregates");
      return;
    }
    for (const auto& o : m_outs) {
      if (o.op != Op::keep) continue;
      const std::string& col = m_cols[o.src].arg;
      const bool grouped = std::any_of(q.parts().groups.begin(), q.parts().groups.end(),
                                       [&](const std::string& g) { return unqualified(g) == unqualified(col); });
      if (!grouped) refuse("column '" + col + "' is neither grouped nor aggregated");
    }
    for (const auto& g : q.parts().groups) {
      std::optional<std::size_t> src;
      for (const auto& o : m_outs)
        if (o.op == Op::keep && unqualified(m_cols[o.src].arg) == unqualified(g)) src = o.src;
      if (!src) {  // grouped but not selected: fetched to group by, not returned
        Output hidden;
        hidden.name = g;
        hidden.hidden = true;
        hidden.src = add_shard_column({"", g, false});
        src = hidden.src;
        m_outs.push_back(std::move(hidden));
      }
      m_group_srcs.push_back(*src);
    }
    for (const auto& h : q.parts().havings) {
      if (h.kind != QueryBuilder::Condition::Kind::basic || h.use_or) {
        refuse("only HAVING conditions joined by AND that compare an output column with a value are merged "
               "(having(\"total\", \">\", 10)); a raw or OR'd HAVING is not");
        continue;
      }
      auto out = find_output(h.column);
      if (!out) {
        refuse("HAVING on '" + h.column + "', which is not a selected column or aggregate alias; select it as an alias");
        continue;
      }
      if (h.op != "=" && h.op != "!=" && h.op != "<>" && h.op != "<" && h.op != "<=" && h.op != ">" && h.op != ">=") {
        refuse("HAVING with operator '" + std::string(h.op) + "' is not merged");
        continue;
      }
      m_having.push_back({*out, h.op, h.value});
    }
  }

  for (const auto& ord : q.parts().orders) {
    if (ord.column.empty()) {
      refuse("order_by_raw(\"" + ord.raw_sql + "\"): Plexus cannot compare raw expressions across shards; order by columns or aliases");
      continue;
    }
    auto out = m_star ? std::nullopt : find_output(ord.column);
    if (!out && !m_star) {
      if (m_aggregate) {
        refuse("ORDER BY '" + ord.column + "', which is neither a grouped column nor an aggregate alias");
        continue;
      }
      if (m_distinct) {
        refuse("SELECT DISTINCT ordered by '" + ord.column + "', which is not selected");
        continue;
      }
      Output hidden;  // ordered by but not selected: fetched to merge by, not returned
      hidden.name = ord.column;
      hidden.hidden = true;
      hidden.src = add_shard_column({"", ord.column, false});
      m_outs.push_back(std::move(hidden));
      out = m_outs.size() - 1;
    }
    m_sort.push_back({out.value_or(0), ord.column, ord.desc});
  }
}

Query ShardPlanner::shard_sql(const Grammar& g) const {
  QueryBuilder b(m_q.table());
  b.parts().wheres = m_q.parts().wheres;
  b.parts().distinct = m_distinct && !m_aggregate;
  if (!m_star) {
    for (std::size_t i = 0; i < m_cols.size(); ++i) {
      const ShardColumn& c = m_cols[i];
      std::string text;
      if (c.fn.empty()) {
        g.identifier(text, c.arg);
      } else {
        text = c.fn + "(";
        if (c.distinct) text += "DISTINCT ";
        if (c.arg == "*") text += '*';
        else g.identifier(text, c.arg);
        text += ')';
      }
      text += " AS ";
      g.quote(text, "plx_" + std::to_string(i));
      b.parts().columns.own().emplace_back(raw(std::move(text)));
    }
  }
  if (m_aggregate) {
    b.parts().groups = m_q.parts().groups;
    return b.to_sql(g);  // all groups come back: HAVING, ORDER BY and LIMIT apply after the merge
  }
  // Each shard orders as the merge compares: NULLs first ascending, last descending.
  for (const auto& s : m_sort) {
    std::string column;
    if (m_star) g.identifier(column, s.name);
    else g.identifier(column, m_cols[m_outs[s.out].src].arg);
    std::string term;
    g.order_nulls_low(term, column, s.desc);
    b.order_by_raw(std::move(term));
  }
  if (m_limit) b.parts().limit = *m_limit + m_offset.value_or(0);  // each shard: every row that can reach the page
  return b.to_sql(g);
}

std::string ShardPlanner::describe() const {
  if (!m_refused.empty()) return "refused: " + m_refused;
  std::string page;
  if (m_limit || m_offset)
    page = ", then OFFSET " + std::to_string(m_offset.value_or(0)) +
           (m_limit ? " LIMIT " + std::to_string(*m_limit) : std::string());
  if (m_aggregate)
    return std::string("aggregate in memory: ") + (m_group_srcs.empty() ? "one row" : "one row per group") +
           " combined from every shard (COUNT/SUM added, MIN/MAX compared, AVG = SUM/COUNT)" +
           (m_having.empty() ? "" : ", HAVING applied after combining") +
           (m_sort.empty() ? "" : ", ordered after combining") + page;
  std::string what = m_sort.empty() ? "concatenate the shards' rows" : "ordered merge of the shards' sorted rows";
  if (m_distinct) what += ", duplicates removed across shards";
  if (m_limit) what += " (each shard asked for " + std::to_string(*m_limit + m_offset.value_or(0)) + " rows)";
  return what + page;
}

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
