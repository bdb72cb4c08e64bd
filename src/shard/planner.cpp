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

/// "t.col" → "col".
std::string_view unqualified(std::string_view name) {
  auto dot = name.rfind('.');
  return dot == std::string_view::npos ? name : name.substr(dot + 1);
}

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

}  // namespace

// ---- planning ----------------------------------------------------------------

ShardPlanner::ShardPlanner(const QueryBuilder& q, std::string_view key_column) : m_q(q) {
  if (!q.spec().joins.empty())
    refuse("it joins tables: Plexus cannot know that the joined rows live on the same shard; join on one shard "
           "(db.shards(group).shard(key)) or read the tables separately");
  check_conditions(q.spec().wheres);
  m_distinct = q.spec().distinct;
  m_limit = q.spec().limit;
  m_offset = q.spec().offset;
  plan_columns(q, key_column);
}

void ShardPlanner::check_conditions(const QuerySpec::Conditions& conds) {
  for (const auto& c : conds) {
    using K = QuerySpec::Condition::Kind;
    if (c.kind == K::in_sub || c.kind == K::not_in_sub)
      refuse("a subquery in WHERE would run against each shard's rows only; run the subquery first and pass its values");
    if (c.kind == K::group && c.nested) check_conditions(c.nested->spec().wheres);
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
  for (std::size_t i = 1; i < q.spec().wheres.size(); ++i)
    if (q.spec().wheres[i].use_or) return std::nullopt;
  using K = QuerySpec::Condition::Kind;
  for (const auto& c : q.spec().wheres) {
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
  const auto& columns = q.spec().columns;
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
  m_aggregate = has_aggregate || !q.spec().groups.empty();
  if (!q.spec().havings.empty() && !m_aggregate) refuse("HAVING without GROUP BY or an aggregate");

  if (m_aggregate) {
    if (m_star) {
      refuse("GROUP BY with SELECT *: list the grouped columns and the aggregates");
      return;
    }
    for (const auto& o : m_outs) {
      if (o.op != Op::keep) continue;
      const std::string& col = m_cols[o.src].arg;
      const bool grouped = std::any_of(q.spec().groups.begin(), q.spec().groups.end(),
                                       [&](const std::string& g) { return unqualified(g) == unqualified(col); });
      if (!grouped) refuse("column '" + col + "' is neither grouped nor aggregated");
    }
    for (const auto& g : q.spec().groups) {
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
    for (const auto& h : q.spec().havings) {
      if (h.kind != QuerySpec::Condition::Kind::basic || h.use_or) {
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

  for (const auto& ord : q.spec().orders) {
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
  b.spec().wheres = m_q.spec().wheres;
  b.spec().distinct = m_distinct && !m_aggregate;
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
      b.spec().columns.own().emplace_back(raw(std::move(text)));
    }
  }
  if (m_aggregate) {
    b.spec().groups = m_q.spec().groups;
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
  if (m_limit) b.spec().limit = *m_limit + m_offset.value_or(0);  // each shard: every row that can reach the page
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

}  // namespace plexus::detail
