// Copyright (c) Herald authors. Licensed under the Apache License 2.0.
//
// The PostgreSQL write side: enqueue events through the application's own
// libpq connection, inside the application's own open transaction, so that the
// business rows and the event rows commit together or not at all (I1).
//
//   PQexec(conn, "BEGIN");
//   ... INSERT INTO transactions ...
//   herald::Status s = herald::postgres::Enqueue(conn, herald::Event::Make(
//       "transactions", account_id, "TransactionCreated", json));
//   PQexec(conn, s.ok() ? "COMMIT" : "ROLLBACK");
//
// Services in any language can do the same with one statement in their own
// transaction: SELECT herald.enqueue(topic, key, type, payload, ...) — see
// docs/postgres.md. libpqxx users include herald/postgres_pqxx.h.
#ifndef HERALD_POSTGRES_H_
#define HERALD_POSTGRES_H_

#include <cstddef>
#include <span>
#include <string>

#include "herald/event.h"
#include "herald/status.h"

typedef struct pg_conn PGconn;  // from <libpq-fe.h>; Herald's headers do not include it

namespace herald::postgres {

// The schema version this library reads and writes.
inline constexpr int kSchemaVersion = 3;
// Partitions of the outbox, fixed when the schema is created.
inline constexpr int kDefaultPartitions = 32;

struct EnqueueOptions {
  // The PostgreSQL schema holding Herald's tables.
  std::string schema = "herald";
  std::size_t max_payload_bytes = kDefaultMaxPayloadBytes;
};

// Inserts `event` into the outbox through `conn`.
// REQUIRES: a transaction is open on `conn` (PQtransactionStatus is
// PQTRANS_INTRANS); Enqueue never begins, commits or rolls back one.
// FailedPrecondition if none is open or the schema is missing;
// InvalidArgument if Validate(event) fails; AlreadyExists for a duplicate
// event id; Aborted for serialization failures and deadlocks (retry the
// whole transaction); Unavailable when the connection is lost. On error the
// caller's transaction is still the caller's to roll back.
Status Enqueue(PGconn* conn, const Event& event, const EnqueueOptions& options = {});

// Inserts `events` in order in one round trip, with the same contract. On
// error none of them was inserted.
Status EnqueueBatch(PGconn* conn, std::span<const Event> events,
                    const EnqueueOptions& options = {});

struct MigrateOptions {
  std::string schema = "herald";
  // Used only when the schema is first created; later runs keep the stored count.
  int partitions = kDefaultPartitions;
};

// Creates or upgrades Herald's schema through `conn` (in a transaction of its
// own; REQUIRES: none open). Idempotent and safe to run concurrently.
// FailedPrecondition if the database holds a newer schema version.
Status Migrate(PGconn* conn, const MigrateOptions& options = {});

}  // namespace herald::postgres

#endif  // HERALD_POSTGRES_H_
