// Internal: creating, upgrading and checking Herald's SQLite schema. One
// implementation behind both herald::sqlite::Migrate and Store::Migrate.
// The schema itself is documented in docs/schema.md.
#ifndef HERALD_STORE_SQLITE_SCHEMA_H_
#define HERALD_STORE_SQLITE_SCHEMA_H_

#include <sqlite3.h>

#include "herald/status.h"

namespace herald::sqlite_internal {

// The version recorded in herald_schema, or 0 when `db` has no Herald schema.
Result<int> SchemaVersion(sqlite3* db);

// Brings `db` to sqlite::kSchemaVersion in one BEGIN IMMEDIATE transaction.
// REQUIRES: no transaction open on `db` (FailedPrecondition otherwise).
// Idempotent; FailedPrecondition for a newer schema; the database's lock
// being held longer than the busy timeout is Unavailable.
Status MigrateSchema(sqlite3* db);

// True if `db` has Herald's schema table (of any version). Reads only.
Result<bool> HasSchema(sqlite3* db);

// OK if `db` holds Herald's tables at exactly sqlite::kSchemaVersion;
// FailedPrecondition naming `herald migrate` (or an upgrade of Herald for a
// newer schema) otherwise.
Status CheckSchema(sqlite3* db);

}  // namespace herald::sqlite_internal

#endif  // HERALD_STORE_SQLITE_SCHEMA_H_
