// The public PostgreSQL write side (herald/postgres.h).
#include <span>

#include "herald/postgres.h"
#include "store/postgres/pg.h"
#include "store/postgres/rows.h"
#include "store/postgres/schema.h"

namespace herald::postgres {
namespace {

// OK if a transaction is open on `conn`; nothing is sent either way.
Status RequireTransaction(PGconn* conn) {
  if (conn == nullptr) return InvalidArgument("no connection given (PGconn* is null)");
  switch (PQtransactionStatus(conn)) {
    case PQTRANS_INTRANS:
      return OkStatus();
    case PQTRANS_INERROR:
      return FailedPrecondition(
          "the transaction on this connection has already failed; roll it back");
    case PQTRANS_ACTIVE:
      return FailedPrecondition("a command is still in progress on this connection");
    case PQTRANS_UNKNOWN:
      return Unavailable(pg_internal::ConnectionMessage(conn));
    case PQTRANS_IDLE:
      break;
  }
  return FailedPrecondition(
      "no transaction is open on this connection; Enqueue must run inside the caller's "
      "transaction (BEGIN first)");
}

}  // namespace

Status Enqueue(PGconn* conn, const Event& event, const EnqueueOptions& options) {
  return EnqueueBatch(conn, std::span<const Event>(&event, 1), options);
}

Status EnqueueBatch(PGconn* conn, std::span<const Event> events, const EnqueueOptions& options) {
  if (Status s = RequireTransaction(conn); !s.ok()) return s;
  return pg_internal::InsertEvents(conn, options.schema, events, options.max_payload_bytes,
                                   Code::kAborted);
}

Status Migrate(PGconn* conn, const MigrateOptions& options) {
  if (conn == nullptr) return InvalidArgument("no connection given (PGconn* is null)");
  return pg_internal::MigrateSchema(conn, options.schema, options.partitions);
}

}  // namespace herald::postgres
