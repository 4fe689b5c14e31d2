// Copyright (c) Herald authors. Licensed under the Apache License 2.0.
//
// A Store is the relay's and the operator's view of an outbox database. The
// write side (enqueue inside the application's own transaction) lives in the
// per-database headers, sqlite.h and, later, postgres.h; a store only claims,
// settles and administers what those wrote. A store never knows a bus.
//
// Thread safety: a Store is thread-compatible (one thread at a time), except
// where a method says otherwise.
#ifndef HERALD_STORE_H_
#define HERALD_STORE_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "herald/event.h"
#include "herald/status.h"

namespace herald {

// An outbox row as the relay sees it.
struct PendingEvent {
  std::int64_t seq = 0;  // enqueue order; unique in the outbox
  int attempts = 0;      // failed attempts so far
  Event event;
};

struct Claim {
  // Due events in seq order, at most `limit`. Per-key hold-back (I3): no
  // event is returned while an earlier event of its (non-empty) key is still
  // pending and not yet due.
  std::vector<PendingEvent> events;
  // When `events` is shorter than the limit: the earliest next-attempt time
  // of the pending events not returned, or nullopt if none are pending.
  std::optional<TimePoint> next_due;
};

// Settlement of one published batch, applied in one database transaction.
struct Settlement {
  struct Retry {
    std::int64_t seq = 0;
    TimePoint next_attempt_at{};
    std::string error;
  };
  struct Dead {
    std::int64_t seq = 0;
    std::string error;
  };
  std::vector<std::int64_t> published;  // deleted from the outbox
  std::vector<Retry> retries;           // attempts + 1, next attempt, last error
  std::vector<Dead> dead;               // moved to the dead-letter table

  bool empty() const { return published.empty() && retries.empty() && dead.empty(); }
};

struct TopicStats {
  std::string topic;
  std::int64_t pending = 0;
  std::int64_t dead_letters = 0;
  std::optional<TimePoint> oldest_pending_created_at;
};

// A relay known to the store and the partitions it owns: on PostgreSQL
// every registered relay with its partitions and heartbeat; on SQLite the
// one process that holds the file's relay lock, as "pid N", with no
// partitions or heartbeat.
struct RelayOwnership {
  std::string relay_id;
  std::vector<int> partitions;  // ascending
  std::optional<TimePoint> last_heartbeat;
};

struct OutboxStats {
  std::int64_t pending = 0;
  std::optional<TimePoint> oldest_pending_created_at;
  std::int64_t dead_letters = 0;
  std::vector<TopicStats> topics;  // sorted by topic
  std::vector<RelayOwnership> relays;  // sorted by relay_id
};

struct DeadLetter {
  std::int64_t seq = 0;
  Event event;
  int attempts = 0;
  std::string error;
  TimePoint failed_at{};
};

// Which dead letters an operator means. Exactly one of: ids, topic, all.
struct DeadLetterFilter {
  std::vector<EventId> ids;
  std::optional<std::string> topic;
  bool all = false;
};

class Store {
 public:
  virtual ~Store() = default;

  // ---- schema ----------------------------------------------------------
  // Creates or upgrades the schema. Idempotent. FailedPrecondition if the
  // database holds a newer schema than this binary knows.
  virtual Status Migrate() = 0;
  // OK if the schema is present and of the version this binary knows;
  // FailedPrecondition with a message naming `herald migrate` otherwise.
  virtual Status CheckSchema() = 0;

  // ---- relay side ------------------------------------------------------
  // Makes this store the one that relays. SQLite allows one relay per file:
  // with `wait` false a second one gets FailedPrecondition at once; with
  // `wait` true it blocks as a standby until the first is gone or `stop` is
  // requested (then Cancelled). Released when the store is destroyed, and by
  // the operating system if the process dies.
  virtual Status AcquireRelayRole(bool wait, std::stop_token stop) = 0;

  // Reads up to `limit` due events (next attempt <= now), leaving out the
  // events whose seq is in `in_flight`: those of a batch the caller is still
  // publishing, so that it can read the next batch meanwhile. Does not mark
  // anything: an event claimed and never settled is simply claimed again by
  // a later call that does not name it in `in_flight`. Events that become
  // visible late (commit order is not seq order) are returned by the first
  // claim that sees them, whatever their seq.
  //
  // A store that fences settlements (PostgreSQL) remembers under which
  // ownership each returned event was claimed, for as long as the event is
  // named in `in_flight` of later claims or until it is settled.
  virtual Result<Claim> ClaimDue(TimePoint now, std::size_t limit,
                                 std::span<const std::int64_t> in_flight) = 0;

  // Applies `settlement` in one transaction, all of it or none of it. Its
  // events come from one earlier ClaimDue(). A store that fences settles only
  // the events whose partition it still owns under the same ownership as at
  // their claim, and leaves the others alone (another relay has them now).
  virtual Status Settle(const Settlement& settlement, TimePoint now) = 0;

  // Blocks until another connection may have committed new events, `timeout`
  // passes, or `stop` is requested. Spurious returns are allowed.
  virtual Status WaitForWork(std::chrono::milliseconds timeout, std::stop_token stop) = 0;

  // ---- operator side ---------------------------------------------------
  // Enqueues `events` in one transaction of the store's own. (Applications
  // enqueue through their own transaction with the write-side headers.)
  virtual Status Enqueue(std::span<const Event> events) = 0;
  virtual Result<OutboxStats> Stats() = 0;
  // Oldest first; at most `limit`.
  virtual Result<std::vector<DeadLetter>> ListDeadLetters(const DeadLetterFilter& filter,
                                                          std::size_t limit) = 0;
  // Moves matching dead letters back into the outbox as new pending events
  // (same event id, attempts reset, due now). Returns how many.
  virtual Result<std::int64_t> RetryDeadLetters(const DeadLetterFilter& filter, TimePoint now) = 0;
  // Deletes matching dead letters. Returns how many.
  virtual Result<std::int64_t> PurgeDeadLetters(const DeadLetterFilter& filter) = 0;
};

struct StoreOptions {
  // How long a statement waits for a lock held by another connection.
  std::chrono::milliseconds busy_timeout{5000};
  // Create the database if it does not exist (for `herald migrate`). When
  // false, opening a missing database is NotFound and creates nothing.
  bool create_if_missing = false;
  // Open for reading only: nothing in the database or its file is changed
  // (SQLite: the file is opened read-only, so a write-protected file can be
  // read, and its journal mode is left as it is), and every write fails.
  // REQUIRES: not with create_if_missing.
  bool read_only = false;
};

// Opens a store from a URL: "sqlite:PATH" (PATH may be relative, or
// "sqlite:///abs/path"). Does not create or check the schema (see Migrate and
// CheckSchema). InvalidArgument for a malformed URL or unknown scheme.
Result<std::unique_ptr<Store>> OpenStore(std::string_view url, const StoreOptions& options = {});

// One database this build can open, and its client library as linked:
// {"sqlite", "SQLite 3.40.1"}, {"postgres", "libpq 15.18"}.
struct StoreBackend {
  std::string_view scheme;
  std::string library;
};
std::vector<StoreBackend> StoreBackends();

}  // namespace herald

#endif  // HERALD_STORE_H_
