// Copyright (c) Herald authors. Licensed under the Apache License 2.0.
//
// The SQLite write side: enqueue events through the application's own
// connection, inside the application's own open transaction, so that the
// business rows and the event rows commit together or not at all (I1).
//
//   sqlite3_exec(db, "BEGIN IMMEDIATE", ...);
//   ... INSERT INTO transactions ...
//   herald::Status s = herald::sqlite::Enqueue(db, herald::Event::Make(
//       "transactions", account_id, "TransactionCreated", json));
//   if (!s.ok()) { sqlite3_exec(db, "ROLLBACK", ...); return s; }
//   sqlite3_exec(db, "COMMIT", ...);
//
// The tables are a public interface (docs/schema.md): a program in another
// language may enqueue with a plain INSERT in its own transaction.
#ifndef HERALD_SQLITE_H_
#define HERALD_SQLITE_H_

#include <cstddef>
#include <span>

#include "herald/event.h"
#include "herald/status.h"

struct sqlite3;  // from <sqlite3.h>; Herald's headers do not include it

namespace herald::sqlite {

// The schema version this library reads and writes.
inline constexpr int kSchemaVersion = 2;

struct EnqueueOptions {
  std::size_t max_payload_bytes = kDefaultMaxPayloadBytes;
};

// Inserts `event` into the outbox through `db`.
// REQUIRES: a transaction is open on `db`; Enqueue never begins, commits or
// rolls back one. FailedPrecondition if none is open or the schema is
// missing; InvalidArgument if Validate(event) fails; AlreadyExists for a
// duplicate event id; Aborted when the database is busy (retry the whole
// transaction). On error nothing was inserted by this call, and the caller's
// transaction is still open for the caller to roll back.
Status Enqueue(sqlite3* db, const Event& event, const EnqueueOptions& options = {});

// Inserts `events` in order, with the same contract. On error none of them
// was inserted.
Status EnqueueBatch(sqlite3* db, std::span<const Event> events,
                    const EnqueueOptions& options = {});

// Creates or upgrades Herald's tables in `db` (in a transaction of its own;
// REQUIRES: none open). Idempotent. FailedPrecondition if `db` holds a newer
// schema version than kSchemaVersion.
Status Migrate(sqlite3* db);

}  // namespace herald::sqlite

#endif  // HERALD_SQLITE_H_
