// The inbox on SQLite: herald_inbox (consumer, event_id, processed_at) in the
// consumer's own database, written in the same transaction as the effect.
#include <sqlite3.h>

#include <string>
#include <utility>

#include "core/macros.h"
#include "herald/inbox.h"
#include "inbox/handler_call.h"
#include "store/sqlite/db.h"

namespace herald::sqlite {
namespace {

using sqlite_internal::Statement;
using sqlite_internal::Transaction;

// BUSY on the application's connection: retry the whole Process().
constexpr Code kBusy = Code::kAborted;

constexpr const char* kCreateSql = R"sql(
CREATE TABLE IF NOT EXISTS herald_inbox (
  consumer     TEXT    NOT NULL,
  event_id     TEXT    NOT NULL,
  processed_at INTEGER NOT NULL,  -- Unix milliseconds
  PRIMARY KEY (consumer, event_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS herald_inbox_by_age ON herald_inbox (consumer, processed_at);
)sql";

// A missing table is the caller's setup to fix, with the inbox's own remedy.
Status Explain(sqlite3* db, Status status) {
  if (std::string(sqlite3_errmsg(db)).starts_with("no such table: herald_inbox")) {
    return FailedPrecondition(
        "the inbox table herald_inbox is missing; create it with herald::sqlite::Inbox::"
        "CreateTables");
  }
  return status;
}

Status RequireNoTransaction(sqlite3* db, std::string_view what) {
  if (sqlite3_get_autocommit(db) == 0) {
    return FailedPrecondition(std::string(what) +
                              ": a transaction is already open on the connection; the inbox "
                              "opens its own");
  }
  return OkStatus();
}

// Inserts the record unless it exists. True when it was inserted.
Result<bool> Record(sqlite3* db, const std::string& consumer, const std::string& id,
                    std::int64_t now_ms) {
  Result<Statement> insert = Statement::Prepare(
      db,
      "INSERT INTO herald_inbox (consumer, event_id, processed_at) VALUES (?, ?, ?) "
      "ON CONFLICT (consumer, event_id) DO NOTHING",
      kBusy);
  if (!insert) return std::unexpected(Explain(db, insert.error()));
  insert->BindText(1, consumer);
  insert->BindText(2, id);
  insert->BindInt(3, now_ms);
  HERALD_RETURN_IF_ERROR(insert->Run());
  return insert->Changes() == 1;
}

}  // namespace

Inbox::Inbox(sqlite3* db, std::string consumer, InboxOptions options)
    : db_(db),
      consumer_(std::move(consumer)),
      clock_(options.clock != nullptr ? options.clock : &Clock::Real()) {}

Status Inbox::CreateTables(sqlite3* db) {
  HERALD_RETURN_IF_ERROR(RequireNoTransaction(db, "create inbox tables"));
  HERALD_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db, Transaction::Kind::kWrite, kBusy));
  HERALD_RETURN_IF_ERROR(sqlite_internal::Exec(db, kCreateSql, kBusy));
  return tx.Commit();
}

Result<InboxOutcome> Inbox::Process(const EventId& id,
                                    const std::function<Status(sqlite3*)>& handler) {
  auto run = [&]() -> Result<InboxOutcome> {
    if (id.IsNil()) return std::unexpected(InvalidArgument("inbox: nil event id"));
    HERALD_RETURN_IF_ERROR(RequireNoTransaction(db_, "inbox"));
    HERALD_ASSIGN_OR_RETURN(Transaction tx,
                            Transaction::Begin(db_, Transaction::Kind::kWrite, kBusy));
    HERALD_ASSIGN_OR_RETURN(bool inserted,
                            Record(db_, consumer_, id.ToString(), ToUnixMillis(clock_->Now())));
    if (!inserted) return InboxOutcome::kDuplicate;  // tx rolls back
    HERALD_RETURN_IF_ERROR(inbox_internal::CallHandler(handler, db_));
    if (sqlite3_get_autocommit(db_) != 0) {
      return std::unexpected(
          FailedPrecondition("inbox handler ended the inbox's transaction itself"));
    }
    HERALD_RETURN_IF_ERROR(tx.Commit());
    return InboxOutcome::kProcessed;
  };
  Result<InboxOutcome> result = run();
  counters_.Count(result);
  return result;
}

Result<std::int64_t> Inbox::Expire(std::chrono::milliseconds retention) {
  HERALD_RETURN_IF_ERROR(RequireNoTransaction(db_, "inbox expiry"));
  Result<Statement> del = Statement::Prepare(
      db_, "DELETE FROM herald_inbox WHERE consumer = ? AND processed_at < ?", kBusy);
  if (!del) return std::unexpected(Explain(db_, del.error()));
  del->BindText(1, consumer_);
  del->BindInt(2, ToUnixMillis(clock_->Now()) - retention.count());
  HERALD_RETURN_IF_ERROR(del->Run());
  return std::int64_t{del->Changes()};
}

}  // namespace herald::sqlite
