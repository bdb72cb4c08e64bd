// OnDemand<T>: an object on the heap, made only when first needed, so an owner
// that usually does without it pays one null pointer. Copied with its owner
// (a deep copy, so copies never share it), moved as the pointer.
#pragma once

#include <memory>

namespace plexus::detail {

template <class T>
class OnDemand {
 public:
  OnDemand() noexcept = default;
  OnDemand(const OnDemand& o) : m_p(o.m_p ? std::make_unique<T>(*o.m_p) : nullptr) {}
  OnDemand(OnDemand&&) noexcept = default;
  OnDemand& operator=(const OnDemand& o) {
    if (this != &o) m_p = o.m_p ? std::make_unique<T>(*o.m_p) : nullptr;
    return *this;
  }
  OnDemand& operator=(OnDemand&&) noexcept = default;
  ~OnDemand() = default;

  [[nodiscard]] bool made() const noexcept { return m_p != nullptr; }
  /// The object, made (value-initialised) when there is none yet.
  T& get() {
    if (!m_p) m_p = std::make_unique<T>();
    return *m_p;
  }
  T* operator->() const noexcept { return m_p.get(); }
  T& operator*() const noexcept { return *m_p; }

 private:
  std::unique_ptr<T> m_p;
};

}  // namespace plexus::detail
