// The builder's recording replayed into its spec (see recording.hpp).
#include "query/recording.hpp"

#include "plexus/core/error.hpp"

namespace plexus {

bool QueryBuilder::record_other_name(std::string_view name, std::size_t mark) {
  try {
    (void)name_form(name);  // the other accepted forms; a bad name is refused here
  } catch (...) {
    m_recording.drop(m_recording.size() - mark);
    throw;
  }
  if (name.size() < 256 && m_recording.room(name.size() + 1)) {
    m_recording.put_name(name);
    return true;
  }
  m_recording.drop(m_recording.size() - mark);
  return false;
}

QueryBuilder::Parts& QueryBuilder::parts() const {
  if (!m_parts.made()) materialize();
  return *m_parts;
}

void QueryBuilder::materialize() const {
  if (m_parts.made()) return;
  (void)m_parts.get();  // made empty: replaying the recording below fills it
  char bytes[Recording::capacity];
  const std::string_view recorded = m_recording.bytes();
  std::memcpy(bytes, recorded.data(), recorded.size());
  detail::SmallVector<Value, 2> values = std::move(m_recording.values);
  m_table.keep(m_recording);  // a name read from the recording is copied out of it
  m_recording.off();          // first: the calls below go to the parts
  std::size_t i = 0, v = 0;
  auto byte = [&] { return static_cast<unsigned char>(bytes[i++]); };
  auto name = [&] {
    const std::size_t n = byte();
    const std::string_view s(bytes + i, n);
    i += n;
    return s;
  };
  auto number = [&] {
    std::uint64_t n;
    std::memcpy(&n, bytes + i, sizeof n);
    i += sizeof n;
    return n;
  };
  while (i < recorded.size()) {
    switch (bytes[i++]) {
      case 'T':
        (void)name();  // the builder's own table
        break;
      case 'C': {
        const std::size_t n = byte();
        detail::SmallVector<std::string_view, 8> names;
        for (std::size_t k = 0; k < n; ++k) names.push_back(name());
        apply_select(std::span<const std::string_view>(names.data(), names.size()), false);
        break;
      }
      case 'c': {
        const std::string_view one = name();
        apply_select(std::span<const std::string_view>(&one, 1), true);
        break;
      }
      case 'F': {
        const auto address = static_cast<std::uintptr_t>(number());
        (void)number();  // the list's serial: part of the shape only
        m_parts->columns.borrow(*reinterpret_cast<const FixedColumns*>(address));
        break;
      }
      case 'D':
        m_parts->distinct = byte() != 0;
        break;
      case 'W': {
        const unsigned flags = byte();
        const std::string_view column = name();
        apply_basic(column, name_form(column), k_ops[flags >> 1], std::move(values[v++]), (flags & 1) != 0);
        break;
      }
      case 'N': {
        const unsigned flags = byte();
        const std::string_view column = name();
        apply_null(column, name_form(column), (flags & 2) != 0, (flags & 1) != 0);
        break;
      }
      case 'I': {
        const unsigned flags = byte();
        const auto n = static_cast<std::size_t>(number());
        const std::string_view column = name();
        std::vector<Value> list(std::make_move_iterator(values.begin() + v), std::make_move_iterator(values.begin() + v + n));
        v += n;
        apply_in(column, name_form(column), std::move(list), (flags & 2) != 0, (flags & 1) != 0);
        break;
      }
      case 'B': {
        const unsigned flags = byte();
        const std::string_view column = name();
        apply_between(column, name_form(column), std::move(values[v]), std::move(values[v + 1]), (flags & 2) != 0);
        v += 2;
        break;
      }
      case 'A':
      case 'Z': {
        const bool desc = bytes[i - 1] == 'Z';
        apply_order(name(), desc);
        break;
      }
      case 'L':
        m_parts->limit = number();
        break;
      case 'O':
        m_parts->offset = number();
        break;
      case 'R':
        m_parts->orders.clear();
        m_parts->limit.reset();
        m_parts->offset.reset();
        break;
      default:
        throw std::logic_error("plexus: a query builder's recording holds an unknown entry");
    }
  }
}

}  // namespace plexus
