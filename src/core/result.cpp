#include "plexus/core/result.hpp"

#include "plexus/core/error.hpp"

namespace plexus {

const std::vector<std::string>& Columns::names() const noexcept {
  static const std::vector<std::string> none;
  return m_names ? *m_names : none;
}

void Columns::missing(std::string_view name) const {
  std::string list;
  for (const auto& n : names()) list += (list.empty() ? "" : ", ") + n;
  throw UsageError("no column named '" + std::string(name) + "' in this result (columns: " +
                   (list.empty() ? "none" : list) + ")");
}

namespace detail {
const Columns k_cell_row;
}  // namespace detail

void Row::out_of_range(std::size_t i) const {
  if (source())
    throw UsageError("this row was read through its engine's column source (a visitor marked RowVisitor::cells) and "
                     "holds no Values: read its columns with plexus::read_cell(row, i, out)");
  throw UsageError("column index " + std::to_string(i) + " is out of range (row has " +
                   std::to_string(m_cols->size()) + " columns)");
}

void Row::missing(std::string_view name) const {
  if (source()) out_of_range(0);
  (void)m_cols->index_of(name);  // throws, naming the column and the ones there are
  throw UsageError("no column named '" + std::string(name) + "'");
}

void Result::out_of_range(std::size_t i) const {
  throw UsageError("row index " + std::to_string(i) + " is out of range (result has " + std::to_string(m_rows) +
                   " rows)");
}

Value* Result::append_row() {
  std::size_t n = m_cols.size();
  m_values.resize(m_values.size() + n);
  ++m_rows;
  return m_values.data() + (m_rows - 1) * n;
}

Cursor::Cursor(std::unique_ptr<RowSource> src) : m_src(std::move(src)) {}
Cursor::~Cursor() = default;

bool Cursor::next() {
  if (m_done || !m_src) return false;
  if (!m_src->next(m_row)) {
    m_done = true;
    return false;
  }
  ++m_count;
  return true;
}

std::unique_ptr<RowSource> RowSource::of(Result rows) {
  class Held final : public RowSource {
   public:
    explicit Held(Result r) : m_r(std::move(r)) {}
    const Columns& columns() const override { return m_r.columns(); }
    bool next(std::vector<Value>& row) override {
      if (m_i >= m_r.size()) return false;
      Row src = m_r[m_i++];
      row.assign(src.begin(), src.end());
      return true;
    }

   private:
    Result m_r;
    std::size_t m_i = 0;
  };
  return std::make_unique<Held>(std::move(rows));
}

}  // namespace plexus
