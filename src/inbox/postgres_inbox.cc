// The inbox on PostgreSQL: <schema>.inbox (consumer, event_id, processed_at)
// in the consumer's own database, written in the same transaction as the
// effect. The primary key makes a concurrent second insert of the same id
// wait for the first transaction, then do nothing (a duplicate) or insert
// (the first rolled back).
#include <fmt/format.h>
#include <libpq-fe.h>

#include <cstdlib>
#include <string>
#include <utility>

#include "core/macros.h"
#include "herald/inbox.h"
#include "inbox/handler_call.h"
#include "store/postgres/pg.h"

namespace herald::postgres {
namespace {

using pg_internal::Exec;
using pg_internal::ExecSimple;
using pg_internal::Params;
using pg_internal::ResultPtr;

Status Explain(Status status, std::string_view schema) {
  if (status.code() != Code::kFailedPrecondition) return status;
  return FailedPrecondition(fmt::format(
      "the inbox table {}.inbox is missing; create it with herald::postgres::Inbox::CreateTables",
      schema));
}

Status RequireIdle(PGconn* conn, std::string_view what) {
  if (conn == nullptr || PQstatus(conn) != CONNECTION_OK) {
    return Unavailable(fmt::format("{}: {}", what, pg_internal::ConnectionMessage(conn)));
  }
  if (PQtransactionStatus(conn) != PQTRANS_IDLE) {
    return FailedPrecondition(fmt::format(
        "{}: a transaction is already open on the connection; the inbox opens its own", what));
  }
  return OkStatus();
}

// A transaction on the caller's connection, rolled back on destruction
// unless committed (and unless the connection is gone).
class Transaction {
 public:
  explicit Transaction(PGconn* conn) : conn_(conn) {}
  ~Transaction() {
    if (!committed_ && PQstatus(conn_) == CONNECTION_OK &&
        PQtransactionStatus(conn_) != PQTRANS_IDLE) {
      PQclear(PQexec(conn_, "ROLLBACK"));
    }
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  Status Begin() { return ExecSimple(conn_, "BEGIN", "inbox: begin"); }
  Status Commit() {
    HERALD_RETURN_IF_ERROR(ExecSimple(conn_, "COMMIT", "inbox: commit"));
    committed_ = true;
    return OkStatus();
  }

 private:
  PGconn* conn_;
  bool committed_ = false;
};

Status StatusOf(const Result<ResultPtr>& result) { return result ? OkStatus() : result.error(); }

std::string MillisParam(TimePoint t) { return std::to_string(ToUnixMillis(t)); }

}  // namespace

Inbox::Inbox(PGconn* conn, std::string consumer, PostgresInboxOptions options)
    : conn_(conn),
      consumer_(std::move(consumer)),
      schema_(std::move(options.schema)),
      clock_(options.clock != nullptr ? options.clock : &Clock::Real()) {}

Status Inbox::CreateTables(PGconn* conn, std::string_view schema) {
  HERALD_RETURN_IF_ERROR(pg_internal::CheckSchemaName(schema));
  HERALD_RETURN_IF_ERROR(RequireIdle(conn, "create inbox tables"));
  Transaction tx(conn);
  HERALD_RETURN_IF_ERROR(tx.Begin());
  // Concurrent CREATE ... IF NOT EXISTS can still collide in the catalogs:
  // serialize creators of this schema's inbox.
  Params lock;
  lock.Add(fmt::format("herald.inbox.{}", schema));
  HERALD_RETURN_IF_ERROR(
      StatusOf(Exec(conn, "SELECT pg_advisory_xact_lock(hashtext($1))", lock, "lock the inbox")));
  HERALD_RETURN_IF_ERROR(ExecSimple(conn,
                                    fmt::format(R"sql(
CREATE SCHEMA IF NOT EXISTS {s};
CREATE TABLE IF NOT EXISTS {s}.inbox (
  consumer     text        NOT NULL,
  event_id     uuid        NOT NULL,
  processed_at timestamptz NOT NULL,
  PRIMARY KEY (consumer, event_id)
);
CREATE INDEX IF NOT EXISTS inbox_by_age ON {s}.inbox (consumer, processed_at);
)sql",
                                                fmt::arg("s", schema)),
                                    "create inbox tables"));
  return tx.Commit();
}

Result<InboxOutcome> Inbox::Process(const EventId& id,
                                    const std::function<Status(PGconn*)>& handler) {
  auto run = [&]() -> Result<InboxOutcome> {
    if (id.IsNil()) return std::unexpected(InvalidArgument("inbox: nil event id"));
    HERALD_RETURN_IF_ERROR(pg_internal::CheckSchemaName(schema_));
    HERALD_RETURN_IF_ERROR(RequireIdle(conn_, "inbox"));
    Transaction tx(conn_);
    HERALD_RETURN_IF_ERROR(tx.Begin());
    Params params;
    params.Add(consumer_).Add(id.ToString()).Add(MillisParam(clock_->Now()));
    Result<ResultPtr> inserted =
        Exec(conn_,
             fmt::format("INSERT INTO {}.inbox (consumer, event_id, processed_at) "
                         "VALUES ($1, $2::uuid, 'epoch'::timestamptz + $3::int8 * interval '1 "
                         "millisecond') ON CONFLICT (consumer, event_id) DO NOTHING",
                         schema_),
             params, "inbox: record event");
    if (!inserted) return std::unexpected(Explain(inserted.error(), schema_));
    if (std::atoll(PQcmdTuples(inserted->get())) == 0) return InboxOutcome::kDuplicate;
    HERALD_RETURN_IF_ERROR(inbox_internal::CallHandler(handler, conn_));
    if (PQtransactionStatus(conn_) != PQTRANS_INTRANS) {
      return std::unexpected(FailedPrecondition(
          "inbox handler ended the inbox's transaction itself or left it failed"));
    }
    HERALD_RETURN_IF_ERROR(tx.Commit());
    return InboxOutcome::kProcessed;
  };
  Result<InboxOutcome> result = run();
  counters_.Count(result);
  return result;
}

Result<std::int64_t> Inbox::Expire(std::chrono::milliseconds retention) {
  HERALD_RETURN_IF_ERROR(pg_internal::CheckSchemaName(schema_));
  HERALD_RETURN_IF_ERROR(RequireIdle(conn_, "inbox expiry"));
  Params params;
  params.Add(consumer_).Add(MillisParam(clock_->Now() - retention));
  Result<ResultPtr> deleted =
      Exec(conn_,
           fmt::format("DELETE FROM {}.inbox WHERE consumer = $1 AND processed_at < "
                       "'epoch'::timestamptz + $2::int8 * interval '1 millisecond'",
                       schema_),
           params, "inbox: expire");
  if (!deleted) return std::unexpected(Explain(deleted.error(), schema_));
  return std::int64_t{std::atoll(PQcmdTuples(deleted->get()))};
}

}  // namespace herald::postgres
