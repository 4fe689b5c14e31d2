// Internal: Herald's PostgreSQL schema (tables, the enqueue function, the
// wake-up trigger), its migration and its check. docs/postgres.md describes
// it as a public interface.
#ifndef HERALD_STORE_POSTGRES_SCHEMA_H_
#define HERALD_STORE_POSTGRES_SCHEMA_H_

#include <libpq-fe.h>

#include <string>

#include "herald/status.h"

namespace herald::pg_internal {

// The highest partition count a schema may be created with.
inline constexpr int kMaxPartitions = 4096;

// The first key of the session advisory lock a relay holds while it sleeps
// (the second is hashtext(schema)): "HRLD".
inline constexpr int kWakeLockClass = 0x48524c44;

// Creates or upgrades the schema `schema` in one transaction of its own,
// serialized against concurrent migrations by a transaction-level advisory
// lock. `partitions` is used only when the schema is first created.
// REQUIRES: no transaction open on `conn` (FailedPrecondition otherwise).
// FailedPrecondition for a newer stored version; InvalidArgument for a bad
// schema name or partition count.
Status MigrateSchema(PGconn* conn, const std::string& schema, int partitions);

// The stored schema version, 0 if there is no Herald schema.
Result<int> SchemaVersion(PGconn* conn, const std::string& schema);

// OK if `schema` holds the version this library knows with every table,
// function, trigger and index of it. FailedPrecondition naming `herald
// migrate` (with `url_for_messages`) otherwise, or saying which tables are
// lost. Migrate makes missing functions, the trigger and indexes again.
Status CheckSchema(PGconn* conn, const std::string& schema, const std::string& url_for_messages);

}  // namespace herald::pg_internal

#endif  // HERALD_STORE_POSTGRES_SCHEMA_H_
