// The words a transaction is described in, shared by the engine contract
// (driver.hpp) and the public API (db/transaction_options.hpp): isolation
// levels, how a transaction starts, a two-phase branch's id. Kept apart so a
// user of the library sees them without the session contract.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace plexus::driver {

/// Transaction isolation levels (SQL standard names).
enum class Isolation : std::uint8_t { engine_default, read_uncommitted, read_committed, repeatable_read, serializable };
[[nodiscard]] std::string_view to_string(Isolation i) noexcept;

/// How a transaction starts.
struct TransactionSpec {
  Isolation isolation = Isolation::engine_default;
  bool read_only = false;
  [[nodiscard]] bool plain() const noexcept { return isolation == Isolation::engine_default && !read_only; }
};

/// One branch of a two-phase commit, as XA names it: the global transaction
/// (`gtrid`, shared by every participant) and this branch (`bqual`).
struct Xid {
  std::string gtrid;
  std::string bqual;
  [[nodiscard]] std::string to_string() const { return gtrid + "." + bqual; }
  friend bool operator==(const Xid&, const Xid&) = default;
};

}  // namespace plexus::driver
