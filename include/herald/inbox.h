// Copyright (c) Herald authors. Licensed under the Apache License 2.0.
//
// The inbox is the read side (I5, exactly-once effect): a consumer applies an
// event's effect inside a transaction of its own database connection that
// also records (consumer, event_id). A second delivery of the same event
// finds the record and is skipped, so the effect happens once however often
// the bus delivers (Herald delivers at least once, I2, I4).
//
//   herald::sqlite::Inbox inbox(db, "budgets");
//   herald::Result<herald::InboxOutcome> r = inbox.Process(id, [&](sqlite3* tx) {
//     return ApplySpending(tx, payload);  // runs inside the inbox's transaction
//   });
//   if (!r) { /* nothing recorded, nothing applied: leave the message for redelivery */ }
//
// It works with any bus consumer: all it needs is the event id (CloudEvents
// `ce_id` / `ce-id`, NATS `Nats-Msg-Id`, AMQP `message_id`) and a handler.
// Acknowledge the message to the bus only after Process() returned a value.
//
// Retention: Expire(retention) removes records older than `retention`. A
// duplicate delivered later than that would be applied again, so choose a
// retention far longer than the bus can redeliver (its retention, or the
// longest consumer outage you tolerate).
#ifndef HERALD_INBOX_H_
#define HERALD_INBOX_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "herald/clock.h"
#include "herald/event.h"
#include "herald/status.h"

struct sqlite3;                 // from <sqlite3.h>; Herald's headers do not include it
typedef struct pg_conn PGconn;  // from <libpq-fe.h>

namespace herald {

enum class InboxOutcome {
  // First delivery: recorded, and the handler's effect committed with it.
  kProcessed,
  // Already recorded: the handler did not run, nothing changed.
  kDuplicate,
};

std::string_view InboxOutcomeName(InboxOutcome outcome);

// Counters since construction of one Inbox object.
struct InboxStats {
  std::uint64_t processed = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t failures = 0;  // Process() calls that returned an error
};

struct InboxOptions {
  // Source of processed_at and of "now" in Expire(); nullptr means
  // Clock::Real(). Not owned.
  Clock* clock = nullptr;
};

namespace internal {
// The counters shared by both databases' inboxes. Thread-safe.
class InboxCounters {
 public:
  void Count(const Result<InboxOutcome>& result);
  InboxStats Get() const;

 private:
  std::atomic<std::uint64_t> processed_{0}, duplicates_{0}, failures_{0};
};
}  // namespace internal

}  // namespace herald

namespace herald::sqlite {

// The inbox of `consumer` on a SQLite connection the caller owns.
//
// Thread safety: like the connection, one thread at a time per Inbox (use one
// connection and one Inbox per consumer thread; several connections to one
// file are safe together: duplicates are still skipped). stats() may be read
// from any thread.
class Inbox {
 public:
  // `db` is not owned and must outlive the Inbox. `consumer` names the
  // reader (one name per logical consumer: its records are its own).
  Inbox(sqlite3* db, std::string consumer, InboxOptions options = {});

  // Creates the table herald_inbox if missing. Idempotent; runs in a
  // transaction of its own. REQUIRES: no transaction open on `db`.
  static Status CreateTables(sqlite3* db);

  // In one transaction (BEGIN IMMEDIATE) on the connection: records
  // (consumer, id, now) and runs `handler(db)`, then commits. When the record
  // exists already, rolls back and returns kDuplicate without running the
  // handler. When the handler returns an error or throws, rolls back (no
  // record, no effect) and returns its error (a throw becomes Internal), so
  // that a redelivery processes the event again.
  // The handler must not begin, commit or roll back the transaction
  // (FailedPrecondition if it did; what it wrote is then its own affair).
  // Errors: FailedPrecondition when a transaction is already open on `db` or
  // the table is missing; Aborted when the database stays busy (retry); the
  // handler's own error.
  Result<InboxOutcome> Process(const EventId& id, const std::function<Status(sqlite3*)>& handler);

  // Deletes this consumer's records processed before now - `retention`.
  // Returns how many. REQUIRES: no transaction open on `db`.
  Result<std::int64_t> Expire(std::chrono::milliseconds retention);

  const std::string& consumer() const { return consumer_; }
  InboxStats stats() const { return counters_.Get(); }

 private:
  sqlite3* db_;
  std::string consumer_;
  Clock* clock_;
  internal::InboxCounters counters_;
};

}  // namespace herald::sqlite

namespace herald::postgres {

struct PostgresInboxOptions : InboxOptions {
  // The schema holding the table <schema>.inbox ("herald" by default, the
  // schema of Herald's outbox; any valid Herald schema name).
  std::string schema = "herald";
};

// The inbox of `consumer` on a libpq connection the caller owns, in the
// table <schema>.inbox. Same contract as sqlite::Inbox; the transaction is
// READ COMMITTED, and a concurrent Process() of the same id on another
// connection waits for the first to end, then reports kDuplicate (or
// processes the event if the first rolled back).
class Inbox {
 public:
  // `conn` is not owned and must outlive the Inbox.
  Inbox(PGconn* conn, std::string consumer, PostgresInboxOptions options = {});

  // Creates the schema and <schema>.inbox if missing. Idempotent and safe to
  // run concurrently. REQUIRES: no transaction open on `conn`.
  static Status CreateTables(PGconn* conn, std::string_view schema = "herald");

  // As sqlite::Inbox::Process; Unavailable when the connection is lost,
  // Aborted on a serialization failure or deadlock (retry).
  Result<InboxOutcome> Process(const EventId& id, const std::function<Status(PGconn*)>& handler);

  Result<std::int64_t> Expire(std::chrono::milliseconds retention);

  const std::string& consumer() const { return consumer_; }
  InboxStats stats() const { return counters_.Get(); }

 private:
  PGconn* conn_;
  std::string consumer_;
  std::string schema_;
  Clock* clock_;
  internal::InboxCounters counters_;
};

}  // namespace herald::postgres

#endif  // HERALD_INBOX_H_
