#include "services/sqlite_util.h"

namespace herald::examples {

Status SqliteError(sqlite3* db, const std::string& what) {
  int rc = sqlite3_errcode(db) & 0xff;
  std::string message = what + ": " + sqlite3_errmsg(db);
  if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) return Aborted(message);
  return Internal(message);
}

Result<Db> OpenDb(const std::string& path) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  Db db(raw);
  if (rc != SQLITE_OK)
    return std::unexpected(Unavailable("open " + path + ": " + sqlite3_errmsg(raw)));
  sqlite3_busy_timeout(raw, 10000);
  if (Status s = Exec(raw, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL"); !s.ok()) {
    return std::unexpected(s);
  }
  return db;
}

Status Exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    sqlite3_free(err);
    return SqliteError(db, sql.substr(0, 60));
  }
  return OkStatus();
}

Result<Stmt> Prepare(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &raw, nullptr) != SQLITE_OK) {
    return std::unexpected(SqliteError(db, "prepare"));
  }
  return Stmt(raw);
}

Status ForEachRow(sqlite3* db, sqlite3_stmt* stmt, const std::function<void(sqlite3_stmt*)>& row) {
  for (;;) {
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE) return OkStatus();
    if (rc != SQLITE_ROW) return SqliteError(db, "step");
    if (row) row(stmt);
  }
}

Status InTransaction(sqlite3* db, const std::function<Status()>& body) {
  if (Status s = Exec(db, "BEGIN IMMEDIATE"); !s.ok()) return s;
  Status s = body();
  if (s.ok()) s = Exec(db, "COMMIT");
  if (!s.ok() && sqlite3_get_autocommit(db) == 0) (void)Exec(db, "ROLLBACK");
  return s;
}

}  // namespace herald::examples
