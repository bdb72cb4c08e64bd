// A vector whose first N elements live inside it: a query's few columns and
// conditions cost no allocation. Beyond N, the elements move to the heap.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace plexus::detail {

template <class T, std::size_t N>
class SmallVector {
  static_assert(N > 0);
  static_assert(std::is_nothrow_move_constructible_v<T>, "elements are moved when the storage grows");

 public:
  using value_type = T;
  using size_type = std::size_t;
  using iterator = T*;
  using const_iterator = const T*;
  using reference = T&;
  using const_reference = const T&;

  SmallVector() noexcept = default;
  SmallVector(std::initializer_list<T> values) { assign(values.begin(), values.end()); }
  SmallVector(const SmallVector& other) { assign(other.begin(), other.end()); }
  SmallVector(SmallVector&& other) noexcept { take(other); }
  SmallVector& operator=(const SmallVector& other) {
    if (this != &other) assign(other.begin(), other.end());
    return *this;
  }
  SmallVector& operator=(SmallVector&& other) noexcept {
    if (this != &other) {
      clear();
      release();
      take(other);
    }
    return *this;
  }
  SmallVector& operator=(std::initializer_list<T> values) {
    assign(values.begin(), values.end());
    return *this;
  }
  ~SmallVector() {
    clear();
    release();
  }

  [[nodiscard]] T* begin() noexcept { return m_data; }
  [[nodiscard]] T* end() noexcept { return m_data + m_size; }
  [[nodiscard]] const T* begin() const noexcept { return m_data; }
  [[nodiscard]] const T* end() const noexcept { return m_data + m_size; }
  [[nodiscard]] T* data() noexcept { return m_data; }
  [[nodiscard]] const T* data() const noexcept { return m_data; }
  [[nodiscard]] std::size_t size() const noexcept { return m_size; }
  [[nodiscard]] std::size_t capacity() const noexcept { return m_capacity; }
  [[nodiscard]] bool empty() const noexcept { return m_size == 0; }
  [[nodiscard]] T& operator[](std::size_t i) noexcept { return m_data[i]; }
  [[nodiscard]] const T& operator[](std::size_t i) const noexcept { return m_data[i]; }
  [[nodiscard]] T& front() noexcept { return m_data[0]; }
  [[nodiscard]] const T& front() const noexcept { return m_data[0]; }
  [[nodiscard]] T& back() noexcept { return m_data[m_size - 1]; }
  [[nodiscard]] const T& back() const noexcept { return m_data[m_size - 1]; }

  void clear() noexcept {
    std::destroy(begin(), end());
    m_size = 0;
  }
  void pop_back() noexcept { std::destroy_at(m_data + --m_size); }
  void reserve(std::size_t n) {
    if (n > m_capacity) relocate(n, nullptr);
  }
  /// The arguments may refer to an element of this vector.
  template <class... Args>
  T& emplace_back(Args&&... args) {
    if (m_size < m_capacity) {
      T* p = std::construct_at(m_data + m_size, std::forward<Args>(args)...);
      ++m_size;
      return *p;
    }
    T* p = nullptr;
    relocate(m_capacity * 2, [&](T* at) { p = std::construct_at(at, std::forward<Args>(args)...); });
    return *p;
  }
  void push_back(const T& v) { emplace_back(v); }
  void push_back(T&& v) { emplace_back(std::move(v)); }
  template <class It>
  void assign(It first, It last) {
    clear();
    if constexpr (std::is_base_of_v<std::forward_iterator_tag, typename std::iterator_traits<It>::iterator_category>)
      reserve(static_cast<std::size_t>(std::distance(first, last)));
    for (; first != last; ++first) emplace_back(*first);
  }

 private:
  [[nodiscard]] T* local() noexcept { return std::launder(reinterpret_cast<T*>(m_local)); }
  [[nodiscard]] bool on_heap() const noexcept { return m_capacity > N; }
  void release() noexcept {
    if (on_heap()) std::allocator<T>().deallocate(m_data, m_capacity);
    m_data = local();
    m_capacity = N;
  }
  /// Moves the elements to storage for `capacity`; `add` constructs one more
  /// at the end first (it may read the old elements). Out of line: the rare
  /// path, so that emplace_back() stays small enough to inline.
  template <class Add>
  [[gnu::noinline]] void relocate(std::size_t capacity, Add add) {
    T* fresh = std::allocator<T>().allocate(capacity);
    if constexpr (!std::is_same_v<Add, std::nullptr_t>) {
      try {
        add(fresh + m_size);
      } catch (...) {
        std::allocator<T>().deallocate(fresh, capacity);
        throw;
      }
    }
    std::uninitialized_move(begin(), end(), fresh);
    std::destroy(begin(), end());
    const std::size_t size = m_size + (std::is_same_v<Add, std::nullptr_t> ? 0 : 1);
    release();
    m_data = fresh;
    m_capacity = capacity;
    m_size = size;
  }
  void take(SmallVector& other) noexcept {
    if (other.on_heap()) {
      m_data = other.m_data;
      m_capacity = other.m_capacity;
      m_size = other.m_size;
      other.m_data = other.local();
      other.m_capacity = N;
      other.m_size = 0;
      return;
    }
    std::uninitialized_move(other.begin(), other.end(), m_data);
    m_size = other.m_size;
    other.clear();
  }

  alignas(T) unsigned char m_local[N * sizeof(T)];
  T* m_data = local();
  std::size_t m_size = 0;
  std::size_t m_capacity = N;
};

}  // namespace plexus::detail
