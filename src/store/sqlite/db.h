// Internal: a thin C++ face on the SQLite C API used by Herald's SQLite store
// and write side. Not part of the public API.
#ifndef HERALD_STORE_SQLITE_DB_H_
#define HERALD_STORE_SQLITE_DB_H_

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "herald/status.h"

namespace herald::sqlite_internal {

// Turns a failed SQLite call into a Status. `busy_code` is what SQLITE_BUSY
// and SQLITE_LOCKED mean to the caller: kAborted on the application's
// connection (retry the whole transaction), kUnavailable on the store's own
// (retry the call). Besides:
//   CANTOPEN, IOERR              -> Unavailable
//   CORRUPT, NOTADB              -> FailedPrecondition
//   "no such table: herald_..."  -> FailedPrecondition naming `herald migrate`
//   UNIQUE / PRIMARY KEY         -> AlreadyExists
//   anything else                -> Internal
// The message is "`context`: sqlite3_errmsg(db)", or the latter alone when
// `context` is empty.
Status MapError(sqlite3* db, int rc, std::string_view context, Code busy_code);

// The FailedPrecondition returned when Herald's tables are missing.
Status NoSchemaError(sqlite3* db);

// The database file of `db`'s main schema, or ":memory:" for one in memory.
std::string DatabasePath(sqlite3* db);

// Runs `sql` (one or more statements, no results).
Status Exec(sqlite3* db, const char* sql, Code busy_code);

// A prepared statement. Move-only; finalized on destruction.
// Values bound with Bind*() are NOT copied: they must stay alive until
// Reset() (or the statement's destruction).
class Statement {
 public:
  // `persistent`: the statement will be kept and reused for a long time.
  static Result<Statement> Prepare(sqlite3* db, std::string_view sql, Code busy_code,
                                   bool persistent = false);

  Statement() = default;
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  // Parameters are 1-based. A failed bind is reported by the next Step().
  void BindInt(int i, std::int64_t v);
  void BindText(int i, std::string_view v);
  void BindBlob(int i, std::string_view v);
  void BindNull(int i);

  // true: a row is ready; false: done. Errors are mapped with MapError.
  Result<bool> Step();
  // Step() expecting no row.
  Status Run();

  // Columns are 0-based.
  std::int64_t ColumnInt(int i) const;
  bool ColumnIsNull(int i) const;
  std::string ColumnText(int i) const;
  std::string ColumnBlob(int i) const;

  // Rows changed by the last completed INSERT/UPDATE/DELETE of this connection.
  int Changes() const;

  // Makes the statement ready to run again and clears its bindings. Ends the
  // statement's implicit read of the database.
  void Reset();

 private:
  Statement(sqlite3* db, sqlite3_stmt* stmt, Code busy_code)
      : db_(db), stmt_(stmt), busy_code_(busy_code) {}
  void NoteBind(int rc);

  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  Code busy_code_ = Code::kUnavailable;
  int bind_rc_ = SQLITE_OK;
};

// Resets a statement when the scope ends, so that a reused statement never
// holds a read transaction open between calls.
class ResetOnExit {
 public:
  explicit ResetOnExit(Statement& s) : s_(s) {}
  ~ResetOnExit() { s_.Reset(); }
  ResetOnExit(const ResetOnExit&) = delete;
  ResetOnExit& operator=(const ResetOnExit&) = delete;

 private:
  Statement& s_;
};

// A transaction of Herald's own connection. Rolled back on destruction
// unless Commit() succeeded.
class Transaction {
 public:
  // "BEGIN IMMEDIATE" (writes) or "BEGIN" (consistent reads).
  enum class Kind { kRead, kWrite };
  static Result<Transaction> Begin(sqlite3* db, Kind kind, Code busy_code);

  Transaction(Transaction&& other) noexcept;
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();

  Status Commit();

 private:
  Transaction(sqlite3* db, Code busy_code) : db_(db), busy_code_(busy_code) {}
  sqlite3* db_;
  Code busy_code_;
  bool open_ = true;
};

struct ConnectionCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using Connection = std::unique_ptr<sqlite3, ConnectionCloser>;

}  // namespace herald::sqlite_internal

#endif  // HERALD_STORE_SQLITE_DB_H_
