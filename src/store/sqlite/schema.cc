#include "store/sqlite/schema.h"

#include <fmt/format.h>

#include <string>

#include "core/macros.h"
#include "herald/sqlite.h"
#include "store/sqlite/db.h"

namespace herald::sqlite_internal {
namespace {

// The current time in Unix milliseconds, computed by SQLite.
constexpr const char* kNowMillisSql =
    "CAST(ROUND((julianday('now') - 2440587.5) * 86400000) AS INTEGER)";

// A GLOB pattern matching exactly the canonical lower-case UUID text.
std::string UuidGlob() {
  std::string pattern;
  for (int group : {8, 4, 4, 4, 12}) {
    if (!pattern.empty()) pattern += '-';
    for (int i = 0; i < group; ++i) pattern += "[0-9a-f]";
  }
  return pattern;
}

// Version 1: the outbox, the dead letters and the version row.
std::string SchemaV1() {
  return fmt::format(R"sql(
CREATE TABLE herald_schema (
  version    INTEGER NOT NULL,
  applied_at INTEGER NOT NULL
);
CREATE TABLE herald_outbox (
  seq             INTEGER PRIMARY KEY AUTOINCREMENT,
  event_id        TEXT    NOT NULL UNIQUE CHECK (event_id GLOB '{uuid}'),
  topic           TEXT    NOT NULL CHECK (topic <> ''),
  key             TEXT    NOT NULL DEFAULT '',
  type            TEXT    NOT NULL DEFAULT '',
  payload         BLOB    NOT NULL,
  content_type    TEXT    NOT NULL DEFAULT 'application/json',
  headers         TEXT    NOT NULL DEFAULT '{{}}'
                  CHECK (CASE WHEN json_valid(headers) THEN json_type(headers) = 'object' ELSE 0 END),
  created_at      INTEGER NOT NULL DEFAULT ({now}),
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL DEFAULT 0,
  last_error      TEXT
);
CREATE INDEX herald_outbox_key_due ON herald_outbox (key, next_attempt_at);
CREATE INDEX herald_outbox_due ON herald_outbox (next_attempt_at);
CREATE TABLE herald_dead_letters (
  seq          INTEGER PRIMARY KEY,
  event_id     TEXT    NOT NULL UNIQUE,
  topic        TEXT    NOT NULL,
  key          TEXT    NOT NULL,
  type         TEXT    NOT NULL,
  payload      BLOB    NOT NULL,
  content_type TEXT    NOT NULL,
  headers      TEXT    NOT NULL,
  created_at   INTEGER NOT NULL,
  attempts     INTEGER NOT NULL,
  last_error   TEXT    NOT NULL,
  failed_at    INTEGER NOT NULL
);
CREATE INDEX herald_dead_letters_topic ON herald_dead_letters (topic);
)sql",
                     fmt::arg("uuid", UuidGlob()), fmt::arg("now", kNowMillisSql));
}

// Version 2: the claim reads rows in seq order (the primary key) and finds
// held-back keys through a partial index of the rows with an attempt time
// set (retries and re-queued dead letters), which new rows never enter: an
// enqueue maintains one index fewer, and no claim depends on the size of
// the backlog. (Version 1's indexes on (key, next_attempt_at) and
// (next_attempt_at) covered every row.)
std::string SchemaV2() {
  return R"sql(
DROP INDEX IF EXISTS herald_outbox_key_due;
DROP INDEX IF EXISTS herald_outbox_due;
CREATE INDEX herald_outbox_scheduled ON herald_outbox (key, seq, next_attempt_at)
  WHERE next_attempt_at > 0;
)sql";
}

// What the current version consists of, beyond the version table: its
// tables, which hold events and cannot be made again without losing them,
// and its indexes, which can, as `herald migrate` does when one is missing.
constexpr const char* kTables[] = {"herald_outbox", "herald_dead_letters"};
struct IndexSql {
  const char* name;
  const char* create;
};
constexpr IndexSql kIndexes[] = {
    {"herald_outbox_scheduled",
     "CREATE INDEX IF NOT EXISTS herald_outbox_scheduled ON herald_outbox "
     "(key, seq, next_attempt_at) WHERE next_attempt_at > 0"},
    {"herald_dead_letters_topic",
     "CREATE INDEX IF NOT EXISTS herald_dead_letters_topic ON herald_dead_letters (topic)"},
};

// Step i brings a database at version i to version i + 1. Append, never edit.
using MigrationStep = std::string (*)();
constexpr MigrationStep kSteps[] = {SchemaV1, SchemaV2};
static_assert(std::size(kSteps) == sqlite::kSchemaVersion, "one migration step per version");

Result<bool> ObjectExists(sqlite3* db, const char* type, const char* name) {
  HERALD_ASSIGN_OR_RETURN(
      Statement stmt, Statement::Prepare(db, "SELECT 1 FROM sqlite_master WHERE type = ? AND name = ?",
                                         Code::kUnavailable));
  stmt.BindText(1, type);
  stmt.BindText(2, name);
  return stmt.Step();
}

Result<bool> TableExists(sqlite3* db, const char* name) { return ObjectExists(db, "table", name); }

// FailedPrecondition naming the first table of the current version that is
// missing: a damage that migrate cannot repair.
Status CheckTables(sqlite3* db) {
  for (const char* table : kTables) {
    HERALD_ASSIGN_OR_RETURN(bool exists, TableExists(db, table));
    if (exists) continue;
    return FailedPrecondition(fmt::format(
        "Herald schema in '{}' is damaged: table {} is missing, which `herald migrate` cannot "
        "make again without losing what it held; restore it from a backup, or drop Herald's "
        "tables and migrate anew",
        DatabasePath(db), table));
  }
  return OkStatus();
}

Status NewerSchemaError(int version) {
  return FailedPrecondition(
      fmt::format("database schema version {} is newer than this herald supports ({}); "
                  "upgrade herald",
                  version, sqlite::kSchemaVersion));
}

Status WriteVersion(sqlite3* db) {
  std::string sql =
      fmt::format("DELETE FROM herald_schema; INSERT INTO herald_schema VALUES ({}, {});",
                  sqlite::kSchemaVersion, kNowMillisSql);
  return Exec(db, sql.c_str(), Code::kUnavailable);
}

}  // namespace

Result<int> SchemaVersion(sqlite3* db) {
  HERALD_ASSIGN_OR_RETURN(bool exists, TableExists(db, "herald_schema"));
  if (!exists) return 0;
  HERALD_ASSIGN_OR_RETURN(
      Statement stmt, Statement::Prepare(db, "SELECT COALESCE(MAX(version), 0) FROM herald_schema",
                                         Code::kUnavailable));
  HERALD_ASSIGN_OR_RETURN(bool row, stmt.Step());
  return row ? static_cast<int>(stmt.ColumnInt(0)) : 0;
}

Status MigrateSchema(sqlite3* db) {
  if (sqlite3_get_autocommit(db) == 0) {
    return FailedPrecondition(
        "migrate runs in a transaction of its own; a transaction is already open on this "
        "connection");
  }
  HERALD_ASSIGN_OR_RETURN(Transaction tx,
                          Transaction::Begin(db, Transaction::Kind::kWrite, Code::kUnavailable));
  HERALD_ASSIGN_OR_RETURN(int version, SchemaVersion(db));
  if (version > sqlite::kSchemaVersion) return NewerSchemaError(version);
  if (version == sqlite::kSchemaVersion) {
    HERALD_RETURN_IF_ERROR(CheckTables(db));
    for (const IndexSql& index : kIndexes) {
      HERALD_ASSIGN_OR_RETURN(bool exists, ObjectExists(db, "index", index.name));
      if (exists) continue;
      HERALD_RETURN_IF_ERROR(Exec(db, index.create, Code::kUnavailable)
                                 .WithContext(fmt::format("make index {} again", index.name)));
    }
    return tx.Commit();
  }
  for (int v = version; v < sqlite::kSchemaVersion; ++v) {
    std::string sql = kSteps[v]();
    HERALD_RETURN_IF_ERROR(Exec(db, sql.c_str(), Code::kUnavailable)
                               .WithContext(fmt::format("migrate to schema version {}", v + 1)));
  }
  HERALD_RETURN_IF_ERROR(WriteVersion(db));
  return tx.Commit();
}

Result<bool> HasSchema(sqlite3* db) { return TableExists(db, "herald_schema"); }

Status CheckSchema(sqlite3* db) {
  HERALD_ASSIGN_OR_RETURN(int version, SchemaVersion(db));
  if (version > sqlite::kSchemaVersion) return NewerSchemaError(version);
  if (version == 0) return NoSchemaError(db);
  if (version < sqlite::kSchemaVersion) {
    std::string path = DatabasePath(db);
    return FailedPrecondition(
        fmt::format("database '{}' has schema version {}, older than this herald's ({}); "
                    "run `herald migrate --db sqlite:{}`",
                    path, version, sqlite::kSchemaVersion, path));
  }
  HERALD_RETURN_IF_ERROR(CheckTables(db));
  for (const IndexSql& index : kIndexes) {
    HERALD_ASSIGN_OR_RETURN(bool exists, ObjectExists(db, "index", index.name));
    if (exists) continue;
    std::string path = DatabasePath(db);
    return FailedPrecondition(
        fmt::format("Herald schema in '{}' lacks index {}; run `herald migrate --db sqlite:{}`",
                    path, index.name, path));
  }
  return OkStatus();
}

}  // namespace herald::sqlite_internal

namespace herald::sqlite {

Status Migrate(sqlite3* db) { return sqlite_internal::MigrateSchema(db); }

}  // namespace herald::sqlite
