#include "store/sqlite/db.h"

#include <fmt/format.h>

#include <utility>

namespace herald::sqlite_internal {

std::string DatabasePath(sqlite3* db) {
  const char* file = sqlite3_db_filename(db, "main");
  return (file == nullptr || *file == '\0') ? std::string(":memory:") : std::string(file);
}

Status NoSchemaError(sqlite3* db) {
  std::string path = DatabasePath(db);
  return FailedPrecondition(fmt::format(
      "database '{}' has no Herald schema; run `herald migrate --db sqlite:{}`", path, path));
}

Status MapError(sqlite3* db, int rc, std::string_view context, Code busy_code) {
  std::string message = context.empty() ? std::string(sqlite3_errmsg(db))
                                        : fmt::format("{}: {}", context, sqlite3_errmsg(db));
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status(busy_code, std::move(message));
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
      return Unavailable(std::move(message));
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return FailedPrecondition(std::move(message));
    case SQLITE_CONSTRAINT:
      // The application's connection may not have extended result codes on.
      if (int ext = sqlite3_extended_errcode(db);
          ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY) {
        return AlreadyExists(std::move(message));
      }
      return Internal(std::move(message));
    case SQLITE_ERROR:
      if (std::string_view(sqlite3_errmsg(db)).starts_with("no such table: herald_")) {
        return NoSchemaError(db);
      }
      return Internal(std::move(message));
    default:
      return Internal(std::move(message));
  }
}

Status Exec(sqlite3* db, const char* sql, Code busy_code) {
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return MapError(db, rc, sql, busy_code);
  return OkStatus();
}

// ---- Statement -------------------------------------------------------------

Result<Statement> Statement::Prepare(sqlite3* db, std::string_view sql, Code busy_code,
                                     bool persistent) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                              persistent ? SQLITE_PREPARE_PERSISTENT : 0, &stmt, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return std::unexpected(MapError(db, rc, "", busy_code));
  }
  return Statement(db, stmt, busy_code);
}

Statement::Statement(Statement&& other) noexcept
    : db_(other.db_),
      stmt_(std::exchange(other.stmt_, nullptr)),
      busy_code_(other.busy_code_),
      bind_rc_(other.bind_rc_) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    db_ = other.db_;
    stmt_ = std::exchange(other.stmt_, nullptr);
    busy_code_ = other.busy_code_;
    bind_rc_ = other.bind_rc_;
  }
  return *this;
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

void Statement::NoteBind(int rc) {
  if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
}

void Statement::BindInt(int i, std::int64_t v) { NoteBind(sqlite3_bind_int64(stmt_, i, v)); }

void Statement::BindText(int i, std::string_view v) {
  NoteBind(sqlite3_bind_text64(stmt_, i, v.data(), v.size(), SQLITE_STATIC, SQLITE_UTF8));
}

void Statement::BindBlob(int i, std::string_view v) {
  // A zero-length blob must still be a blob, not NULL: give it a valid pointer.
  static const char kEmpty = 0;
  NoteBind(sqlite3_bind_blob64(stmt_, i, v.empty() ? &kEmpty : v.data(), v.size(), SQLITE_STATIC));
}

void Statement::BindNull(int i) { NoteBind(sqlite3_bind_null(stmt_, i)); }

Result<bool> Statement::Step() {
  if (bind_rc_ != SQLITE_OK) {
    return std::unexpected(MapError(db_, bind_rc_, "", busy_code_));
  }
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return std::unexpected(MapError(db_, rc, "", busy_code_));
}

Status Statement::Run() {
  Result<bool> row = Step();
  if (!row) return row.error();
  if (*row) return Internal(fmt::format("unexpected row from: {}", sqlite3_sql(stmt_)));
  return OkStatus();
}

std::int64_t Statement::ColumnInt(int i) const { return sqlite3_column_int64(stmt_, i); }

bool Statement::ColumnIsNull(int i) const { return sqlite3_column_type(stmt_, i) == SQLITE_NULL; }

std::string Statement::ColumnText(int i) const {
  const unsigned char* p = sqlite3_column_text(stmt_, i);
  int n = sqlite3_column_bytes(stmt_, i);
  return p == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(p), n);
}

std::string Statement::ColumnBlob(int i) const {
  const void* p = sqlite3_column_blob(stmt_, i);
  int n = sqlite3_column_bytes(stmt_, i);
  return p == nullptr ? std::string() : std::string(static_cast<const char*>(p), n);
}

int Statement::Changes() const { return sqlite3_changes(db_); }

void Statement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  bind_rc_ = SQLITE_OK;
}

// ---- Transaction -----------------------------------------------------------

Result<Transaction> Transaction::Begin(sqlite3* db, Kind kind, Code busy_code) {
  const char* sql = kind == Kind::kWrite ? "BEGIN IMMEDIATE" : "BEGIN";
  if (Status s = Exec(db, sql, busy_code); !s.ok()) return std::unexpected(s);
  return Transaction(db, busy_code);
}

Transaction::Transaction(Transaction&& other) noexcept
    : db_(other.db_), busy_code_(other.busy_code_), open_(std::exchange(other.open_, false)) {}

Transaction::~Transaction() {
  // A failed COMMIT or an error such as SQLITE_FULL may already have ended
  // the transaction; only roll back one that is still open.
  if (open_ && sqlite3_get_autocommit(db_) == 0) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
}

Status Transaction::Commit() {
  Status s = Exec(db_, "COMMIT", busy_code_);
  if (s.ok()) open_ = false;
  return s;
}

}  // namespace herald::sqlite_internal
