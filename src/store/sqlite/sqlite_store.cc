#include "store/sqlite/sqlite_store.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

#include "core/macros.h"
#include "herald/clock.h"
#include "store/common/claim_cursor.h"
#include "store/common/store_common.h"
#include "store/sqlite/db.h"
#include "store/sqlite/outbox_rows.h"
#include "store/sqlite/relay_lock.h"
#include "store/sqlite/schema.h"

namespace herald {
namespace {

using sqlite_internal::Connection;
using sqlite_internal::Exec;
using sqlite_internal::kEventColumns;
using sqlite_internal::MapError;
using sqlite_internal::ReadEvent;
using sqlite_internal::ResetOnExit;
using sqlite_internal::Statement;
using sqlite_internal::Transaction;
using store_internal::ClampToInt64;
using store_internal::WithContext;

// Every error of the store's own connection: busy means "retry the call".
constexpr Code kBusy = Code::kUnavailable;
constexpr std::chrono::milliseconds kDataVersionPoll{2};

// The statements kept for the store's life, prepared on first use (the
// tables may not exist before Migrate).
enum Sql {
  kClaimFresh,
  kClaimRescan,
  kNextDue,
  kDataVersion,
  kDeletePublished,
  kRetry,
  kDeadInsert,
  kDeadDelete,
  kSqlCount,
};

// The claim: due rows after ?2 in seq order (the primary key), leaving out
// rows of a key behind one of its rows scheduled later (held: found through
// the partial index herald_outbox_scheduled, which holds only scheduled
// rows), and in a rescan the rows in flight (?4, a JSON array). The last
// column is the earliest scheduled time still ahead. The cost is the rows
// read in seq order, never the size of the backlog.
std::string ClaimSql(bool rescan) {
  return fmt::format(
      "WITH held AS MATERIALIZED ("
      " SELECT key, MIN(seq) AS seq, MIN(next_attempt_at) AS due FROM herald_outbox"
      " WHERE next_attempt_at > 0 AND next_attempt_at > ?1 GROUP BY key) "
      "SELECT o.seq, o.attempts, {0}, (SELECT MIN(due) FROM held) FROM herald_outbox AS o "
      "WHERE o.seq > ?2 AND +o.next_attempt_at <= ?1 {1}"
      "AND (o.key = '' OR NOT EXISTS (SELECT 1 FROM held WHERE held.key = o.key "
      "AND held.seq < o.seq)) "
      "ORDER BY o.seq LIMIT ?3",
      kEventColumns, rescan ? "AND o.seq NOT IN (SELECT value FROM json_each(?4)) " : "");
}

std::array<std::string, kSqlCount> PersistentSql() {
  std::array<std::string, kSqlCount> sql;
  sql[kClaimFresh] = ClaimSql(false);
  sql[kClaimRescan] = ClaimSql(true);
  sql[kNextDue] =
      "SELECT MIN(next_attempt_at) FROM herald_outbox "
      "WHERE next_attempt_at > 0 AND next_attempt_at > ?1";
  sql[kDataVersion] = "PRAGMA data_version";
  sql[kDeletePublished] =
      "DELETE FROM herald_outbox WHERE seq IN (SELECT value FROM json_each(?1))";
  sql[kRetry] =
      "UPDATE herald_outbox SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3 "
      "WHERE seq = ?1";
  sql[kDeadInsert] = fmt::format(
      "INSERT OR REPLACE INTO herald_dead_letters (seq, {0}, attempts, last_error, failed_at) "
      "SELECT seq, {0}, attempts + 1, ?2, ?3 FROM herald_outbox WHERE seq = ?1",
      kEventColumns);
  sql[kDeadDelete] = "DELETE FROM herald_outbox WHERE seq = ?1";
  return sql;
}

// A DeadLetterFilter as SQL: `where` uses ?1 for `param` when it has one.
struct FilterSql {
  std::string where;
  std::optional<std::string> param;
};

Result<FilterSql> CompileFilter(const DeadLetterFilter& filter) {
  HERALD_RETURN_IF_ERROR(store_internal::CheckDeadLetterFilter(filter));
  if (filter.all) return FilterSql{"1", std::nullopt};
  if (filter.topic) return FilterSql{"topic = ?1", *filter.topic};
  nlohmann::json ids = nlohmann::json::array();
  for (const EventId& id : filter.ids) ids.push_back(id.ToString());
  return FilterSql{"event_id IN (SELECT value FROM json_each(?1))", ids.dump()};
}

// WAL lets the application write while the relay reads; the mode is kept in
// the file, so it is set only in a database that holds Herald's schema and
// is opened for writing, never in someone else's database.
Status UseWal(sqlite3* db) { return Exec(db, "PRAGMA journal_mode = WAL", kBusy); }

class SqliteStore final : public Store {
 public:
  SqliteStore(std::string path, Connection db)
      : path_(std::move(path)), db_(std::move(db)), lock_(path_), sql_(PersistentSql()) {}

  Status Migrate() override {
    HERALD_RETURN_IF_ERROR(sqlite_internal::MigrateSchema(db_.get()));
    return UseWal(db_.get());
  }
  Status CheckSchema() override { return sqlite_internal::CheckSchema(db_.get()); }

  Status AcquireRelayRole(bool wait, std::stop_token stop) override {
    return lock_.Acquire(wait, std::move(stop));
  }

  Result<Claim> ClaimDue(TimePoint now, std::size_t limit,
                         std::span<const std::int64_t> in_flight) override {
    return WithContext(DoClaimDue(now, limit, in_flight), "claim due events");
  }

  Status Settle(const Settlement& settlement, TimePoint now) override {
    return DoSettle(settlement, ToUnixMillis(now)).WithContext("settle published events");
  }

  Status WaitForWork(std::chrono::milliseconds timeout, std::stop_token stop) override {
    return DoWaitForWork(timeout, stop).WithContext("wait for new events");
  }

  Status Enqueue(std::span<const Event> events) override {
    return DoEnqueue(events).WithContext("enqueue");
  }

  Result<OutboxStats> Stats() override { return WithContext(DoStats(), "read outbox statistics"); }

  Result<std::vector<DeadLetter>> ListDeadLetters(const DeadLetterFilter& filter,
                                                  std::size_t limit) override {
    return WithContext(DoListDeadLetters(filter, limit), "list dead letters");
  }

  Result<std::int64_t> RetryDeadLetters(const DeadLetterFilter& filter, TimePoint now) override {
    return WithContext(DoRetryDeadLetters(filter, ToUnixMillis(now)), "retry dead letters");
  }

  Result<std::int64_t> PurgeDeadLetters(const DeadLetterFilter& filter) override {
    return WithContext(DoPurgeDeadLetters(filter), "purge dead letters");
  }

 private:
  sqlite3* db() const { return db_.get(); }

  // The kept statement `which`, prepared on first use.
  Result<Statement*> Kept(Sql which) {
    std::optional<Statement>& slot = statements_[which];
    if (!slot) {
      HERALD_ASSIGN_OR_RETURN(Statement s,
                              Statement::Prepare(db(), sql_[which], kBusy, /*persistent=*/true));
      slot.emplace(std::move(s));
    }
    return &*slot;
  }

  Result<std::int64_t> DataVersion() {
    HERALD_ASSIGN_OR_RETURN(Statement * stmt, Kept(kDataVersion));
    ResetOnExit reset(*stmt);
    HERALD_ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row) return std::unexpected(Internal("PRAGMA data_version returned no row"));
    return stmt->ColumnInt(0);
  }

  Result<Claim> DoClaimDue(TimePoint now, std::size_t limit,
                           std::span<const std::int64_t> in_flight) {
    // Read before the claim so that any commit after it wakes WaitForWork.
    HERALD_ASSIGN_OR_RETURN(seen_data_version_, DataVersion());
    HERALD_ASSIGN_OR_RETURN(Transaction tx,
                            Transaction::Begin(db(), Transaction::Kind::kRead, kBusy));
    const store_internal::ClaimCursor::Scan scan = cursor_.Begin(in_flight, now);
    Claim claim;
    std::optional<std::int64_t> next_due;
    if (Status s = ReadDue(ToUnixMillis(now), limit, scan, in_flight, claim.events, next_due);
        !s.ok()) {
      return std::unexpected(s);
    }
    if (claim.events.empty()) {
      HERALD_ASSIGN_OR_RETURN(claim.next_due, NextDue(ToUnixMillis(now)));
    } else if (next_due) {
      claim.next_due = FromUnixMillis(*next_due);
    }
    if (Status s = tx.Commit(); !s.ok()) return std::unexpected(s);
    std::vector<std::int64_t> seqs;
    seqs.reserve(claim.events.size());
    for (const PendingEvent& p : claim.events) seqs.push_back(p.seq);
    cursor_.Returned(seqs, limit, claim.next_due);
    return claim;
  }

  Status ReadDue(std::int64_t now, std::size_t limit, const store_internal::ClaimCursor::Scan& scan,
                 std::span<const std::int64_t> in_flight, std::vector<PendingEvent>& out,
                 std::optional<std::int64_t>& next_due) {
    // Bound without a copy: must outlive the statement's steps.
    const std::string excluded =
        scan.exclude ? fmt::format("[{}]", fmt::join(in_flight, ",")) : std::string();
    HERALD_ASSIGN_OR_RETURN(Statement * stmt, Kept(scan.exclude ? kClaimRescan : kClaimFresh));
    ResetOnExit reset(*stmt);
    stmt->BindInt(1, now);
    stmt->BindInt(2, scan.after);
    stmt->BindInt(3, ClampToInt64(limit));
    if (scan.exclude) stmt->BindText(4, excluded);
    constexpr int kNextDueColumn = 2 + sqlite_internal::kEventColumnCount;
    while (true) {
      HERALD_ASSIGN_OR_RETURN(bool row, stmt->Step());
      if (!row) return OkStatus();
      PendingEvent pending;
      pending.seq = stmt->ColumnInt(0);
      pending.attempts = static_cast<int>(stmt->ColumnInt(1));
      HERALD_ASSIGN_OR_RETURN(pending.event, ReadEvent(*stmt, 2));
      if (!stmt->ColumnIsNull(kNextDueColumn)) next_due = stmt->ColumnInt(kNextDueColumn);
      out.push_back(std::move(pending));
    }
  }

  Result<std::optional<TimePoint>> NextDue(std::int64_t now) {
    HERALD_ASSIGN_OR_RETURN(Statement * stmt, Kept(kNextDue));
    ResetOnExit reset(*stmt);
    stmt->BindInt(1, now);
    HERALD_ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row || stmt->ColumnIsNull(0)) return std::optional<TimePoint>();
    return std::optional<TimePoint>(FromUnixMillis(stmt->ColumnInt(0)));
  }

  Status DoSettle(const Settlement& settlement, std::int64_t now) {
    if (settlement.empty()) return OkStatus();
    HERALD_ASSIGN_OR_RETURN(Transaction tx,
                            Transaction::Begin(db(), Transaction::Kind::kWrite, kBusy));
    if (!settlement.published.empty()) {
      std::string seqs = fmt::format("[{}]", fmt::join(settlement.published, ","));
      HERALD_RETURN_IF_ERROR(RunKept(kDeletePublished, [&](Statement& s) { s.BindText(1, seqs); }));
    }
    for (const Settlement::Retry& retry : settlement.retries) {
      HERALD_RETURN_IF_ERROR(RunKept(kRetry, [&](Statement& s) {
        s.BindInt(1, retry.seq);
        s.BindInt(2, ToUnixMillis(retry.next_attempt_at));
        s.BindText(3, retry.error);
      }));
    }
    for (const Settlement::Dead& dead : settlement.dead) {
      HERALD_RETURN_IF_ERROR(RunKept(kDeadInsert, [&](Statement& s) {
        s.BindInt(1, dead.seq);
        s.BindText(2, dead.error);
        s.BindInt(3, now);
      }));
      HERALD_RETURN_IF_ERROR(RunKept(kDeadDelete, [&](Statement& s) { s.BindInt(1, dead.seq); }));
    }
    HERALD_RETURN_IF_ERROR(tx.Commit());
    cursor_.Settled(settlement);
    return OkStatus();
  }

  // Runs the kept statement `which` once with the parameters `bind` sets.
  template <typename Bind>
  Status RunKept(Sql which, Bind bind) {
    HERALD_ASSIGN_OR_RETURN(Statement * stmt, Kept(which));
    ResetOnExit reset(*stmt);
    bind(*stmt);
    return stmt->Run();
  }

  Status DoWaitForWork(std::chrono::milliseconds timeout, const std::stop_token& stop) {
    if (std::exchange(local_writes_, false)) return OkStatus();
    if (!seen_data_version_) {
      HERALD_ASSIGN_OR_RETURN(seen_data_version_, DataVersion());
    }
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!stop.stop_requested()) {
      HERALD_ASSIGN_OR_RETURN(std::int64_t version, DataVersion());
      if (version != *seen_data_version_) {
        seen_data_version_ = version;
        return OkStatus();
      }
      auto left = deadline - std::chrono::steady_clock::now();
      if (left <= std::chrono::steady_clock::duration::zero()) break;
      static_cast<void>(
          Clock::Real().SleepFor(std::min<std::chrono::nanoseconds>(left, kDataVersionPoll), stop));
    }
    return OkStatus();
  }

  Status DoEnqueue(std::span<const Event> events) {
    if (events.empty()) return OkStatus();
    HERALD_ASSIGN_OR_RETURN(Transaction tx,
                            Transaction::Begin(db(), Transaction::Kind::kWrite, kBusy));
    HERALD_RETURN_IF_ERROR(sqlite_internal::InsertEvents(db(), events, kDefaultMaxPayloadBytes));
    HERALD_RETURN_IF_ERROR(tx.Commit());
    local_writes_ = true;
    return OkStatus();
  }

  Result<OutboxStats> DoStats() {
    std::map<std::string, TopicStats> topics;
    {
      HERALD_ASSIGN_OR_RETURN(Transaction tx,
                              Transaction::Begin(db(), Transaction::Kind::kRead, kBusy));
      if (Status s = CountPerTopic(topics); !s.ok()) return std::unexpected(s);
      if (Status s = tx.Commit(); !s.ok()) return std::unexpected(s);
    }
    OutboxStats stats = store_internal::SumTopics(std::move(topics));
    // The one relay a file has: whoever holds its lock.
    std::optional<long> holder =
        lock_.held() ? std::optional<long>(::getpid()) : sqlite_internal::RelayLock::HolderOf(path_);
    if (holder) stats.relays.push_back(RelayOwnership{fmt::format("pid {}", *holder), {}, {}});
    return stats;
  }

  Status CountPerTopic(std::map<std::string, TopicStats>& topics) {
    auto topic = [&](std::string name) -> TopicStats& {
      TopicStats& t = topics[name];
      t.topic = std::move(name);
      return t;
    };
    HERALD_ASSIGN_OR_RETURN(
        Statement pending,
        Statement::Prepare(
            db(), "SELECT topic, COUNT(*), MIN(created_at) FROM herald_outbox GROUP BY topic",
            kBusy));
    HERALD_RETURN_IF_ERROR(ForEachRow(pending, [&](const Statement& row) {
      TopicStats& t = topic(row.ColumnText(0));
      t.pending = row.ColumnInt(1);
      t.oldest_pending_created_at = FromUnixMillis(row.ColumnInt(2));
    }));
    HERALD_ASSIGN_OR_RETURN(
        Statement dead,
        Statement::Prepare(db(), "SELECT topic, COUNT(*) FROM herald_dead_letters GROUP BY topic",
                           kBusy));
    return ForEachRow(dead, [&](const Statement& row) {
      topic(row.ColumnText(0)).dead_letters = row.ColumnInt(1);
    });
  }

  template <typename OnRow>
  static Status ForEachRow(Statement& stmt, OnRow on_row) {
    while (true) {
      HERALD_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) return OkStatus();
      on_row(stmt);
    }
  }

  // Prepares `sql_template` with the filter's condition as {where} and binds
  // the filter's parameter.
  Result<Statement> PrepareFiltered(std::string_view sql_template, const FilterSql& filter) {
    std::string sql = fmt::format(fmt::runtime(sql_template), fmt::arg("where", filter.where));
    HERALD_ASSIGN_OR_RETURN(Statement stmt, Statement::Prepare(db(), sql, kBusy));
    if (filter.param) stmt.BindText(1, *filter.param);
    return stmt;
  }

  Result<std::vector<DeadLetter>> DoListDeadLetters(const DeadLetterFilter& filter,
                                                    std::size_t limit) {
    HERALD_ASSIGN_OR_RETURN(FilterSql where, CompileFilter(filter));
    std::string sql = fmt::format(
        "SELECT seq, {}, attempts, last_error, failed_at FROM herald_dead_letters "
        "WHERE {{where}} ORDER BY seq LIMIT ?2",
        kEventColumns);
    HERALD_ASSIGN_OR_RETURN(Statement stmt, PrepareFiltered(sql, where));
    stmt.BindInt(2, ClampToInt64(limit));
    std::vector<DeadLetter> letters;
    constexpr int kAfterEvent = 1 + sqlite_internal::kEventColumnCount;
    while (true) {
      HERALD_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) return letters;
      DeadLetter letter;
      letter.seq = stmt.ColumnInt(0);
      HERALD_ASSIGN_OR_RETURN(letter.event, ReadEvent(stmt, 1));
      letter.attempts = static_cast<int>(stmt.ColumnInt(kAfterEvent));
      letter.error = stmt.ColumnText(kAfterEvent + 1);
      letter.failed_at = FromUnixMillis(stmt.ColumnInt(kAfterEvent + 2));
      letters.push_back(std::move(letter));
    }
  }

  Result<std::int64_t> DoRetryDeadLetters(const DeadLetterFilter& filter, std::int64_t now) {
    HERALD_ASSIGN_OR_RETURN(FilterSql where, CompileFilter(filter));
    HERALD_ASSIGN_OR_RETURN(Transaction tx,
                            Transaction::Begin(db(), Transaction::Kind::kWrite, kBusy));
    std::string copy = fmt::format(
        "INSERT INTO herald_outbox ({0}, attempts, next_attempt_at, last_error) "
        "SELECT {0}, 0, ?2, NULL FROM herald_dead_letters WHERE {{where}} ORDER BY seq "
        "ON CONFLICT (event_id) DO NOTHING",
        kEventColumns);
    {
      HERALD_ASSIGN_OR_RETURN(Statement insert, PrepareFiltered(copy, where));
      insert.BindInt(2, now);
      if (Status s = insert.Run(); !s.ok()) return std::unexpected(s);
    }
    HERALD_ASSIGN_OR_RETURN(std::int64_t moved, DeleteFiltered(where));
    if (Status s = tx.Commit(); !s.ok()) return std::unexpected(s);
    if (moved > 0) local_writes_ = true;
    return moved;
  }

  Result<std::int64_t> DoPurgeDeadLetters(const DeadLetterFilter& filter) {
    HERALD_ASSIGN_OR_RETURN(FilterSql where, CompileFilter(filter));
    return DeleteFiltered(where);
  }

  Result<std::int64_t> DeleteFiltered(const FilterSql& where) {
    HERALD_ASSIGN_OR_RETURN(
        Statement del, PrepareFiltered("DELETE FROM herald_dead_letters WHERE {where}", where));
    if (Status s = del.Run(); !s.ok()) return std::unexpected(s);
    return std::int64_t{del.Changes()};
  }

  std::string path_;
  Connection db_;
  sqlite_internal::RelayLock lock_;
  std::array<std::string, kSqlCount> sql_;
  std::array<std::optional<Statement>, kSqlCount> statements_;
  // PRAGMA data_version as of the last claim (or wait): a different value
  // means another connection has committed since.
  std::optional<std::int64_t> seen_data_version_;
  // This store committed new pending events itself, which data_version does
  // not show to its own connection.
  bool local_writes_ = false;
  store_internal::ClaimCursor cursor_;
};

// OK for an existing file that is not a directory; NotFound for a missing
// one unless `missing_ok`.
Status CheckPath(const std::string& path, bool missing_ok) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) {
      return InvalidArgument(fmt::format("database '{}' is a directory, not a file", path));
    }
    return OkStatus();
  }
  if (errno == ENOENT && missing_ok) return OkStatus();
  if (errno == ENOENT) return NotFound(fmt::format("database file '{}' does not exist", path));
  return Unavailable(fmt::format("cannot stat database file '{}': {}", path, std::strerror(errno)));
}

Status Configure(sqlite3* db, const StoreOptions& options) {
  // The busy timeout first: switching to WAL may wait for other connections.
  int ms = static_cast<int>(
      std::clamp<std::int64_t>(options.busy_timeout.count(), 0, std::numeric_limits<int>::max()));
  sqlite3_busy_timeout(db, ms);
  HERALD_RETURN_IF_ERROR(Exec(db, "PRAGMA synchronous = FULL", kBusy));
  if (options.read_only) return OkStatus();
  HERALD_ASSIGN_OR_RETURN(bool herald_database, sqlite_internal::HasSchema(db));
  return herald_database ? UseWal(db) : OkStatus();
}

}  // namespace

Result<std::unique_ptr<Store>> OpenSqliteStore(std::string path, const StoreOptions& options) {
  if (path.empty()) return std::unexpected(InvalidArgument("empty SQLite database path"));
  if (Status s = CheckPath(path, options.create_if_missing); !s.ok()) return std::unexpected(s);
  int flags = options.read_only ? SQLITE_OPEN_READONLY
                                : SQLITE_OPEN_READWRITE |
                                      (options.create_if_missing ? SQLITE_OPEN_CREATE : 0);
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  Connection db(raw);
  if (rc != SQLITE_OK) {
    return std::unexpected(MapError(db.get(), rc, fmt::format("open database '{}'", path), kBusy));
  }
  sqlite3_extended_result_codes(db.get(), 1);
  Status configured =
      Configure(db.get(), options).WithContext(fmt::format("configure database '{}'", path));
  if (!configured.ok()) return std::unexpected(configured);
  return std::unique_ptr<Store>(std::make_unique<SqliteStore>(std::move(path), std::move(db)));
}

std::string SqliteLibrary() { return std::string("SQLite ") + sqlite3_libversion(); }

}  // namespace herald
