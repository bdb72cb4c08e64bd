// Must not compile: a shard group is not one database, so it has no batches,
// keyed inserts, transactions, engine or dialect of its own (a member has:
// group.shard(key)). CALL picks the call; with -DPLEXUS_ON_A_MEMBER the same
// call on a member compiles (the control).
#include <plexus/plexus.hpp>

void run(plexus::Database& db) {
#ifdef PLEXUS_ON_A_MEMBER
  auto& target = db.shards("users").shard(7);
#else
  auto& target = db.shards("users");
#endif
#if CALL == 1
  auto rows = target.select_batch("SELECT name FROM users WHERE id = ?", {{1}, {2}});
  (void)rows;
#elif CALL == 2
  target.execute_batch("UPDATE users SET name = ? WHERE id = ?", {{"a", 1}, {"b", 2}});
#elif CALL == 3
  target.atomically([](plexus::SingleTarget& tx) { tx.execute("DELETE FROM users"); });
#elif CALL == 4
  const plexus::Grammar& dialect = target.grammar();
  (void)dialect;
#elif CALL == 5
  const std::string& engine = target.engine();
  (void)engine;
#endif
}
