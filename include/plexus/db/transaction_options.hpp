// How a transaction runs: isolation level, read-only, and an opt-in retry.
#pragma once

#include <chrono>

#include "plexus/driver/transaction_spec.hpp"

namespace plexus {

using Isolation = driver::Isolation;

/// Runs a transaction again when the database refused it for a conflict: a
/// serialization failure or deadlock (PostgreSQL 40001/40P01, MariaDB
/// 1213/1205, SQLite busy). Opt-in: setting attempts above 1 says the closure
/// is safe to run more than once (it has no effects outside the database, or
/// they are idempotent). A transaction that committed, or failed in a way
/// that leaves its outcome unknown (a lost connection at COMMIT), is never
/// run again.
struct RetryPolicy {
  unsigned attempts = 1;                        ///< 1 = run once
  std::chrono::milliseconds backoff{10};        ///< the first wait; it doubles per attempt, each wait jittered
  std::chrono::milliseconds max_backoff{1000};  ///< the longest wait
};

struct TransactionOptions {
  Isolation isolation = Isolation::engine_default;  ///< SQLite is always serializable
  bool read_only = false;
  RetryPolicy retry;
};

}  // namespace plexus
