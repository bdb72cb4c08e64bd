// One SQL dialect per engine: quoting, placeholders, LIMIT/OFFSET, RETURNING,
// upsert. Pure text: no database is needed to use a grammar.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace plexus {

/// How a checked name is written: one plain name, `table.column` (two plain
/// names), or one of the other accepted forms (`col AS alias`, `t.*`, `*`).
enum class NameForm : std::uint8_t { other, plain, qualified };

/// How an engine's SQL text quotes and comments, which the one SQL lexer
/// (placeholders, statement counts, the migration splitter) follows. Every
/// dialect quotes strings with '…' (a doubled quote inside), identifiers with
/// "…" or `…`, and comments with -- and /* */.
struct SqlSyntax {
  bool backslash_escapes = false;  ///< '\' escapes the next character in '…' and "…" (MySQL/MariaDB)
  bool escape_strings = false;     ///< E'…' strings, where '\' escapes (PostgreSQL)
  bool dollar_quotes = false;      ///< $$…$$ and $tag$…$tag$ bodies (PostgreSQL)
  bool hash_comments = false;      ///< # to the end of the line (MySQL/MariaDB)
  bool bracket_identifiers = false;  ///< […] quotes an identifier (SQLite)
};

class Grammar {
 public:
  /// How many grammar instances one process may hold (each has a slot()).
  static constexpr std::size_t max_slots = 8;

  /// `quote_char` encloses identifiers: '"' (standard SQL) or '`' (MySQL).
  explicit Grammar(char quote_char);
  virtual ~Grammar() = default;
  Grammar(const Grammar&) = delete;
  Grammar& operator=(const Grammar&) = delete;
  /// A small number unique to this grammar instance (below max_slots), for
  /// caches of SQL compiled once per dialect (a model's find()).
  [[nodiscard]] std::size_t slot() const noexcept { return m_slot; }
  /// The canonical name of its engine.
  [[nodiscard]] virtual std::string_view name() const noexcept = 0;
  /// Appends one identifier part, quoted ("users" or `users`), a quote
  /// character inside it doubled (a name read from the catalog may hold one).
  /// Build SQL from names checked by check_name() or identifier().
  void quote(std::string& out, std::string_view part) const;
  /// Appends the placeholder for the n-th (1-based) bound value.
  virtual void placeholder(std::string& out, std::size_t n) const = 0;
  /// Appends LIMIT/OFFSET (a LIMIT is implied where an engine needs one for OFFSET).
  virtual void limit_offset(std::string& out, std::optional<std::uint64_t> limit,
                            std::optional<std::uint64_t> offset) const;
  /// What follows a SELECT to lock the rows it reads until the transaction
  /// ends (" FOR UPDATE"); "" where a transaction's first write locks the
  /// whole database instead (SQLite: a read-then-write transaction fails
  /// rather than lose a concurrent change).
  [[nodiscard]] virtual std::string_view row_lock() const noexcept { return " FOR UPDATE"; }
  /// Whether INSERT … RETURNING is available.
  [[nodiscard]] virtual bool supports_returning() const noexcept = 0;
  /// Whether the dialect has a case-insensitive ILIKE (else the builder
  /// compiles `ilike` to LOWER(…) LIKE LOWER(…)).
  [[nodiscard]] virtual bool native_ilike() const noexcept { return false; }
  /// Appends an ORDER BY term for `column` (already quoted) with NULLs lowest:
  /// first ascending, last descending, whatever the engine's default (what a
  /// merge across shards of several engines compares by). The default suits
  /// engines whose NULLs already sort lowest (SQLite, MySQL/MariaDB).
  virtual void order_nulls_low(std::string& out, std::string_view column, bool desc) const;
  /// Most bound values one statement may carry.
  [[nodiscard]] virtual std::size_t max_parameters() const noexcept = 0;
  /// A SELECT of one text value that names the database a session is in,
  /// the same through every connection that reaches it (server and
  /// database, or the file): how a copy or move knows its source and target
  /// are one database under two connection names. Empty when the engine
  /// cannot tell (then only one connection name is one database). An empty
  /// answer from the query means the same: unknown.
  [[nodiscard]] virtual std::string_view database_identity_sql() const noexcept { return {}; }
  /// How this dialect quotes and comments (the lexer's rules).
  [[nodiscard]] virtual SqlSyntax syntax() const noexcept { return {}; }
  /// Appends the upsert tail after INSERT … VALUES …: ON CONFLICT / ON DUPLICATE KEY.
  virtual void upsert_tail(std::string& out, std::span<const std::string> unique_by,
                           std::span<const std::string> update) const = 0;
  /// The statements that make `table` capture its writes for an online
  /// reshard (docs/sharding.md): a change table `plexus_changes_<table>`
  /// (seq, k of `key_type`) and triggers that, for every row inserted,
  /// updated or deleted, first read the table's row of
  /// `plexus_reshard_fence` with a shared lock and refuse the write while it
  /// is sealed, then record the row's `key` (before and after). The fence
  /// table must exist. Empty when the engine has no triggers (then an online
  /// reshard refuses the member). `table` and `key` are plain names.
  [[nodiscard]] virtual std::vector<std::string> capture_sql(std::string_view table, std::string_view key,
                                                             std::string_view key_type) const;
  /// The statements that remove them again (triggers, then the change table).
  [[nodiscard]] virtual std::vector<std::string> drop_capture_sql(std::string_view table) const;
  /// Appends `name`, validated and quoted: `users.id` → "users"."id",
  /// `u.*`, `*`, and `col AS alias` are accepted.
  /// @throws UsageError for anything else (injection attempts included).
  void identifier(std::string& out, std::string_view name) const;
  /// Appends a name that name_form() has checked and returned `form` for,
  /// without checking it again.
  void checked_identifier(std::string& out, std::string_view name, NameForm form) const;

 protected:
  /// drop_capture_sql() of a dialect with one trigger per event
  /// (`plexus_capture_<table>_i`, `_u`, `_d`) and the change table.
  [[nodiscard]] std::vector<std::string> drop_per_event_capture_sql(std::string_view table) const;
  /// What a sealed table's capture trigger says to a write (no quotes in it).
  [[nodiscard]] static std::string sealed_message(std::string_view table);
  /// The standard `ON CONFLICT (…) DO UPDATE SET c = excluded.c` tail
  /// (SQLite and PostgreSQL spell upserts the same way).
  void on_conflict_tail(std::string& out, std::span<const std::string> unique_by,
                        std::span<const std::string> update) const;

 private:
  std::size_t m_slot;
  char m_quote;
};

/// The grammar of a built-in engine, by name or alias (for compiling SQL
/// without a Database: `to_sql("postgres")`). @throws ConfigError for an unknown one.
[[nodiscard]] const Grammar& grammar_for(std::string_view engine);

/// Checks a name as Grammar::identifier() would accept it, without building SQL.
/// @returns true when it is one plain name (no table prefix, alias or *),
///          which Grammar::quote() takes as it is.
/// @throws UsageError naming it.
bool check_name(std::string_view name);

/// check_name(), telling which form the name has (one scan for the first two).
/// @throws UsageError naming it.
NameForm name_form(std::string_view name);


}  // namespace plexus
