// The few SQLite helpers the example services share.
#ifndef HERALD_EXAMPLES_SERVICES_SQLITE_UTIL_H_
#define HERALD_EXAMPLES_SERVICES_SQLITE_UTIL_H_

#include <sqlite3.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "herald/status.h"

namespace herald::examples {

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using Db = std::unique_ptr<sqlite3, DbCloser>;

// Opens (creating) the database at `path` in WAL mode with a busy timeout.
Result<Db> OpenDb(const std::string& path);

// Runs `sql` (no parameters, no results).
Status Exec(sqlite3* db, const std::string& sql);

// A prepared statement, finalized on destruction.
struct StmtCloser {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Stmt = std::unique_ptr<sqlite3_stmt, StmtCloser>;
Result<Stmt> Prepare(sqlite3* db, const std::string& sql);

// Steps `stmt` to completion, calling `row` for every row.
Status ForEachRow(sqlite3* db, sqlite3_stmt* stmt, const std::function<void(sqlite3_stmt*)>& row);

// Internal (or Aborted when busy) with SQLite's message.
Status SqliteError(sqlite3* db, const std::string& what);

// Runs `body` in BEGIN IMMEDIATE ... COMMIT, rolling back when it fails.
Status InTransaction(sqlite3* db, const std::function<Status()>& body);

}  // namespace herald::examples

#endif  // HERALD_EXAMPLES_SERVICES_SQLITE_UTIL_H_
