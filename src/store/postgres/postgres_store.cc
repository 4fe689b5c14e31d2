#include "store/postgres/postgres_store.h"

#include <fmt/format.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <unordered_map>
#include <utility>

#include "core/log.h"
#include "core/macros.h"
#include "store/common/claim_cursor.h"
#include "store/common/store_common.h"
#include "store/postgres/connection.h"
#include "store/postgres/leases.h"
#include "store/postgres/pg.h"
#include "store/postgres/pg_url.h"
#include "store/postgres/rows.h"
#include "store/postgres/schema.h"

namespace herald {
namespace {

using pg_internal::Exec;
using pg_internal::Int64;
using pg_internal::IsNull;
using pg_internal::Params;
using pg_internal::PartitionEpoch;
using pg_internal::ResultPtr;
using store_internal::ClampToInt64;
using store_internal::WithContext;

// Errors of the store's own statements: a conflict means "retry the call".
constexpr Code kConflict = Code::kUnavailable;
constexpr std::chrono::milliseconds kWaitSlice{50};
// How long a relay waits before it claims again when inserting transactions
// are about to commit.
constexpr std::chrono::milliseconds kBusyWait{1};

// An eventfd that a stop request writes to, so that a wait on the
// connection's socket ends at once.
class WakeFd {
 public:
  WakeFd() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
  ~WakeFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  WakeFd(const WakeFd&) = delete;
  WakeFd& operator=(const WakeFd&) = delete;
  int fd() const { return fd_; }
  void Notify() const {
    const std::uint64_t one = 1;
    if (fd_ >= 0 && ::write(fd_, &one, sizeof one) < 0) {
      // Full (cannot happen below 2^64 - 1 writes) or closed: the wait ends
      // at its next slice anyway.
    }
  }
  void Clear() const {
    std::uint64_t value = 0;
    if (fd_ >= 0 && ::read(fd_, &value, sizeof value) < 0) {
      // Nothing was written: EAGAIN.
    }
  }

 private:
  int fd_;
};

std::string DefaultRelayId() {
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  std::uniform_int_distribution<std::uint32_t> dist(0, 0xffffff);
  std::random_device rd;
  return fmt::format("{}:{}:{:06x}", host[0] != '\0' ? host : "localhost", ::getpid(), dist(rd));
}

std::string PartitionsLiteral(const std::vector<PartitionEpoch>& owned) {
  std::vector<std::int64_t> ids;
  for (const PartitionEpoch& pe : owned) ids.push_back(pe.partition);
  return pg_internal::IntArrayLiteral(ids);
}

std::string EpochsLiteral(const std::vector<PartitionEpoch>& owned) {
  std::vector<std::int64_t> epochs;
  for (const PartitionEpoch& pe : owned) epochs.push_back(pe.epoch);
  return pg_internal::IntArrayLiteral(epochs);
}

// A DeadLetterFilter as SQL: `where` uses $1 when it has a parameter.
struct FilterSql {
  std::string where;
  std::optional<std::string> param;
};

Result<FilterSql> CompileFilter(const DeadLetterFilter& filter) {
  HERALD_RETURN_IF_ERROR(store_internal::CheckDeadLetterFilter(filter));
  if (filter.all) return FilterSql{"$1::text IS NULL", std::nullopt};
  if (filter.topic) return FilterSql{"topic = $1", *filter.topic};
  std::vector<std::string> ids;
  for (const EventId& id : filter.ids) ids.push_back(id.ToString());
  return FilterSql{"event_id = ANY($1::uuid[])", pg_internal::ArrayLiteral(ids)};
}

Params FilterParams(const FilterSql& filter) {
  Params p;
  if (filter.param) {
    p.Add(*filter.param);
  } else {
    p.AddNull();
  }
  return p;
}

// Every SQL statement of the store, made once for its schema.
struct Statements {
  explicit Statements(const std::string& s) {
    const std::string now2 = pg_internal::FromMillisSql("$2");
    claim_fresh = ClaimSql(s, "");
    claim_rescan = ClaimSql(s, "AND o.seq <> ALL('{excluded}'::int8[])");
    next_due = fmt::format(
        "SELECT {1} FROM {0}.outbox WHERE partition = ANY($1::int[]) "
        "AND next_attempt_at > 'epoch'::timestamptz AND next_attempt_at > {2}",
        s, pg_internal::ToMillisSql("min(next_attempt_at)"), now2);
    settle = fmt::format(
        "WITH fence AS ("
        " SELECT p.partition FROM {0}.partitions p"
        " JOIN unnest($2::int[], $3::int8[]) AS c(partition, epoch)"
        "   ON c.partition = p.partition AND c.epoch = p.epoch"
        " WHERE p.owner = $1 FOR SHARE OF p), "
        "published AS (DELETE FROM {0}.outbox o WHERE o.seq = ANY($4::int8[]) "
        " AND o.partition IN (SELECT partition FROM fence) RETURNING o.seq), "
        "retried AS (UPDATE {0}.outbox o SET attempts = o.attempts + 1, "
        " next_attempt_at = 'epoch'::timestamptz + r.at * interval '1 millisecond', "
        " last_error = r.error "
        " FROM unnest($5::int8[], $6::int8[], $7::text[]) AS r(seq, at, error) "
        " WHERE o.seq = r.seq AND o.partition IN (SELECT partition FROM fence) RETURNING o.seq), "
        "dead_rows AS (DELETE FROM {0}.outbox o USING unnest($8::int8[], $9::text[]) AS d(seq, error) "
        " WHERE o.seq = d.seq AND o.partition IN (SELECT partition FROM fence) "
        " RETURNING o.seq, o.event_id, o.topic, o.key, o.type, o.payload, o.content_type, "
        " o.headers, o.created_at, o.attempts, d.error), "
        "dead AS (INSERT INTO {0}.dead_letters (seq, event_id, topic, key, type, payload, "
        " content_type, headers, created_at, attempts, last_error, failed_at) "
        " SELECT seq, event_id, topic, key, type, payload, content_type, headers, created_at, "
        " attempts + 1, error, {1} FROM dead_rows "
        " ON CONFLICT (event_id) DO UPDATE SET seq = EXCLUDED.seq, topic = EXCLUDED.topic, "
        " key = EXCLUDED.key, type = EXCLUDED.type, payload = EXCLUDED.payload, "
        " content_type = EXCLUDED.content_type, headers = EXCLUDED.headers, "
        " created_at = EXCLUDED.created_at, attempts = EXCLUDED.attempts, "
        " last_error = EXCLUDED.last_error, failed_at = EXCLUDED.failed_at RETURNING seq) "
        "SELECT (SELECT count(*) FROM published) + (SELECT count(*) FROM retried) + "
        "(SELECT count(*) FROM dead)",
        s, pg_internal::FromMillisSql("$10"));
    may_sleep = fmt::format("SELECT {}.relay_may_sleep()", s);
    wake_unlock = fmt::format("SELECT pg_advisory_unlock({}, hashtext('{}'))::int::int8",
                              pg_internal::kWakeLockClass, s);
    pending_stats = fmt::format(
        "SELECT topic, count(*)::int8, {1} FROM {0}.outbox GROUP BY topic", s,
        pg_internal::ToMillisSql("min(created_at)"));
    dead_stats = fmt::format("SELECT topic, count(*)::int8 FROM {}.dead_letters GROUP BY topic", s);
    relay_stats = fmt::format(
        "SELECT r.relay_id, {1}, COALESCE(string_agg(p.partition::text, ',' ORDER BY p.partition), '') "
        "FROM {0}.relays r LEFT JOIN {0}.partitions p "
        "  ON p.owner = r.relay_id AND p.lease_until > now() "
        "WHERE r.heartbeat_at > now() - $1::int8 * interval '1 millisecond' "
        "GROUP BY r.relay_id, r.heartbeat_at ORDER BY r.relay_id COLLATE \"C\"",
        s, pg_internal::ToMillisSql("r.heartbeat_at"));
    list_dead = fmt::format(
        "SELECT seq, {1}, attempts::int8, last_error, {2} FROM {0}.dead_letters d "
        "WHERE {{where}} ORDER BY seq LIMIT $2::int8",
        s, pg_internal::EventColumns("d"), pg_internal::ToMillisSql("failed_at"));
    retry_dead = fmt::format(
        "WITH moved AS (DELETE FROM {0}.dead_letters WHERE {{where}} RETURNING *), "
        "requeued AS (INSERT INTO {0}.outbox (event_id, topic, key, type, payload, content_type, "
        " headers, created_at, attempts, next_attempt_at) "
        " SELECT event_id, topic, key, type, payload, content_type, headers, created_at, 0, {1} "
        " FROM moved ORDER BY seq ON CONFLICT (event_id) DO NOTHING RETURNING 1) "
        "SELECT count(*)::int8 FROM moved",
        s, now2);
    purge_dead = fmt::format(
        "WITH gone AS (DELETE FROM {}.dead_letters WHERE {{where}} RETURNING 1) "
        "SELECT count(*)::int8 FROM gone",
        s);
  }
  // The claim: due rows of owned partitions after $6 in seq order (the
  // primary key), leaving out rows of a key behind one of its rows
  // scheduled later (held: read through the partial index
  // outbox_scheduled, which new rows never enter) and, in a rescan, the
  // rows in flight (a literal array, {excluded}, so that the server
  // compares each row with a hash of them). The first column is the earliest
  // scheduled time still ahead. Ownership is checked against the partitions
  // table as the rows are read. No plan of it reads more than the rows before
  // the LIMIT in seq order (and the scheduled ones): see docs/postgres.md.
  static std::string ClaimSql(const std::string& s, std::string_view exclusion) {
    const std::string now2 = pg_internal::FromMillisSql("$2");
    return fmt::format(
        "WITH owned AS MATERIALIZED ("
        " SELECT p.partition FROM {0}.partitions p"
        " JOIN unnest($4::int[], $5::int8[]) AS c(partition, epoch)"
        "   ON c.partition = p.partition AND c.epoch = p.epoch"
        " WHERE p.owner = $1 AND p.lease_until > now()), "
        "held AS MATERIALIZED ("
        " SELECT h.key, min(h.seq) AS seq, min(h.next_attempt_at) AS due FROM {0}.outbox h"
        " WHERE h.next_attempt_at > 'epoch'::timestamptz AND h.next_attempt_at > {2}"
        " AND h.partition = ANY($4::int[]) GROUP BY h.key), "
        "due AS ("
        " SELECT o.seq, o.attempts::int8 AS attempts, o.partition::int8 AS partition, {1}"
        " FROM {0}.outbox o"
        " WHERE o.seq > $6::int8 AND o.partition = ANY(ARRAY(SELECT partition FROM owned))"
        " AND o.next_attempt_at <= {2} {3}"
        " AND (o.key = '' OR NOT EXISTS (SELECT 1 FROM held"
        "      WHERE held.key = o.key AND held.seq < o.seq))"
        " ORDER BY o.seq LIMIT $3::int8) "
        "SELECT (SELECT {4} FROM held), due.* FROM due ORDER BY due.seq",
        s, pg_internal::EventColumns("o"), now2, exclusion, pg_internal::ToMillisSql("min(due)"));
  }

  std::string claim_fresh, claim_rescan, next_due, settle, may_sleep, wake_unlock, pending_stats,
      dead_stats, relay_stats, list_dead, retry_dead, purge_dead;
};

// The statements every relay connection prepares once (and again after a
// reconnect), with their names.
constexpr const char* kClaimFresh = "herald_claim";
constexpr const char* kNextDue = "herald_next_due";
constexpr const char* kSettle = "herald_settle";

// Session settings of the store's connection. Prepared statements get one
// generic plan, made once: the same plan whatever the parameters, so a
// claim's plan cannot change with the backlog (and the server does not plan
// the hot statements again for every batch). No parallel workers and no JIT:
// a claim reads a few hundred rows, and starting workers or compiling its
// expressions (which a generic plan's estimates on a table without
// statistics would trigger) costs ten times more than reading them.
// A read-only store's transactions are read-only: the server refuses any
// write.
Status SetupStoreConnection(PGconn* conn, const std::string& schema,
                            std::chrono::milliseconds lock_timeout, bool read_only) {
  return pg_internal::ExecSimple(
      conn,
      fmt::format("SET lock_timeout = {}; SET idle_in_transaction_session_timeout = 60000; "
                  "SET plan_cache_mode = force_generic_plan; "
                  "SET max_parallel_workers_per_gather = 0; SET jit = off; "
                  "SET default_transaction_read_only = {}; LISTEN {}",
                  std::max<std::int64_t>(lock_timeout.count(), 1), read_only ? "on" : "off",
                  pg_internal::WakeChannel(schema)),
      "");
}

class PostgresStoreImpl final : public PostgresStore {
 public:
  PostgresStoreImpl(pg_internal::PgUrl url, std::string relay_id,
                    std::chrono::milliseconds lock_timeout, bool read_only)
      : url_(std::move(url)),
        relay_id_(std::move(relay_id)),
        sql_(url_.schema),
        conn_(url_.conninfo, fmt::format("herald {}", relay_id_), "relay store",
              [schema = url_.schema, lock_timeout, read_only](PGconn* c) {
                return SetupStoreConnection(c, schema, lock_timeout, read_only);
              }) {}

  Status Open() {
    Result<PGconn*> conn = conn_.Get();
    return conn ? OkStatus() : conn.error();
  }

  const std::string& relay_id() const override { return relay_id_; }

  std::vector<int> ClaimablePartitions() const override {
    std::vector<int> out;
    if (leases_ == nullptr) return out;
    for (const PartitionEpoch& pe : leases_->Claimable()) out.push_back(pe.partition);
    return out;
  }

  Status TickLeasesForTesting() override {
    if (leases_ == nullptr) return FailedPrecondition("not a relay yet");
    return leases_->Tick();
  }

  void PauseLeasesForTesting(bool paused, bool crash) override {
    if (leases_ != nullptr) leases_->PauseForTesting(paused, crash);
  }

  Status Migrate() override {
    return Call([&](PGconn* c) {
             return pg_internal::MigrateSchema(c, url_.schema, url_.partitions);
           })
        .WithContext("migrate");
  }

  Status CheckSchema() override {
    return Call([&](PGconn* c) { return pg_internal::CheckSchema(c, url_.schema, url_.display); });
  }

  Status AcquireRelayRole(bool /*wait*/, std::stop_token /*stop*/) override {
    if (leases_ == nullptr) {
      leases_ = std::make_unique<pg_internal::LeaseKeeper>(pg_internal::LeaseOptions{
          url_.conninfo, url_.schema, relay_id_, url_.lease});
    }
    return leases_->Start().WithContext(fmt::format("start relay {}", relay_id_));
  }

  Result<Claim> ClaimDue(TimePoint now, std::size_t limit,
                         std::span<const std::int64_t> in_flight) override {
    return WithContext(
        CallR<Claim>([&](PGconn* c) { return DoClaimDue(c, now, limit, in_flight); }),
        "claim due events");
  }

  Status Settle(const Settlement& settlement, TimePoint now) override {
    return Call([&](PGconn* c) { return DoSettle(c, settlement, now); })
        .WithContext("settle published events");
  }

  Status WaitForWork(std::chrono::milliseconds timeout, std::stop_token stop) override {
    return DoWaitForWork(timeout, stop).WithContext("wait for new events");
  }

  // One INSERT in autocommit: a connection lost after it was sent leaves
  // its commit in doubt.
  Status Enqueue(std::span<const Event> events) override {
    bool lost = false;
    Status s = Call([&](PGconn* c) {
      Status inserted = pg_internal::InsertEvents(c, url_.schema, events,
                                                  kDefaultMaxPayloadBytes, kConflict);
      lost = !inserted.ok() && PQstatus(c) != CONNECTION_OK;
      return inserted;
    });
    if (lost) {
      s = InDoubt(s.message() +
                  "; the connection was lost before the database confirmed the commit, so the "
                  "events may or may not be stored (enqueueing them again is safe: an event id "
                  "already stored is refused)");
    }
    return s.WithContext("enqueue");
  }

  Result<OutboxStats> Stats() override {
    return WithContext(CallR<OutboxStats>([&](PGconn* c) { return DoStats(c); }),
                       "read outbox statistics");
  }

  Result<std::vector<DeadLetter>> ListDeadLetters(const DeadLetterFilter& filter,
                                                  std::size_t limit) override {
    return WithContext(CallR<std::vector<DeadLetter>>(
                           [&](PGconn* c) { return DoListDeadLetters(c, filter, limit); }),
                       "list dead letters");
  }

  Result<std::int64_t> RetryDeadLetters(const DeadLetterFilter& filter, TimePoint now) override {
    return WithContext(CountFiltered(sql_.retry_dead, filter, ToUnixMillis(now)),
                       "retry dead letters");
  }

  Result<std::int64_t> PurgeDeadLetters(const DeadLetterFilter& filter) override {
    return WithContext(CountFiltered(sql_.purge_dead, filter, std::nullopt), "purge dead letters");
  }

 private:
  // Runs `f` on the connection (reconnecting first if needed) and drops the
  // connection if `f` found it broken.
  template <typename F>
  Status Call(F f) {
    HERALD_ASSIGN_OR_RETURN(PGconn * conn, conn_.Get());
    Status s = f(conn);
    conn_.Observe(s);
    return s;
  }

  template <typename T, typename F>
  Result<T> CallR(F f) {
    HERALD_ASSIGN_OR_RETURN(PGconn * conn, conn_.Get());
    Result<T> r = f(conn);
    if (!r) conn_.Observe(r.error());
    return r;
  }

  Result<Claim> DoClaimDue(PGconn* conn, TimePoint now, std::size_t limit,
                           std::span<const std::int64_t> in_flight) {
    if (leases_ == nullptr) {
      return std::unexpected(
          FailedPrecondition("this store is not a relay: call AcquireRelayRole first"));
    }
    HERALD_RETURN_IF_ERROR(PrepareHot(conn));
    // Remember only what is still in flight; the rest of the last claims was
    // settled, or was left for a later claim to return again.
    std::unordered_map<std::int64_t, PartitionEpoch> kept;
    for (std::int64_t seq : in_flight) {
      if (auto it = claimed_.find(seq); it != claimed_.end()) kept.insert(*it);
    }
    claimed_ = std::move(kept);
    // Partitions newly owned may hold rows below the cursor.
    if (leases_->generation() != seen_generation_) cursor_.Invalidate();
    seen_generation_ = leases_->generation();
    std::vector<PartitionEpoch> owned = leases_->BeginClaim(ClaimedPartitions());
    Result<Claim> claim = ReadClaim(conn, now, limit, in_flight, owned);
    leases_->SetInFlight(ClaimedPartitions());
    if (claim && !claim->events.empty()) {
      busy_waits_ = 0;
      HERALD_RETURN_IF_ERROR(StopSleeping(conn));
    }
    return claim;
  }

  // The claim query proper; records each returned event in claimed_.
  Result<Claim> ReadClaim(PGconn* conn, TimePoint now, std::size_t limit,
                          std::span<const std::int64_t> in_flight,
                          const std::vector<PartitionEpoch>& owned) {
    Claim claim;
    if (owned.empty() || limit == 0) return claim;
    std::map<int, std::int64_t> epoch_of;
    for (const PartitionEpoch& pe : owned) epoch_of[pe.partition] = pe.epoch;
    const store_internal::ClaimCursor::Scan scan = cursor_.Begin(in_flight, now);
    Params p;
    p.Add(relay_id_)
        .Add(ToUnixMillis(now))
        .Add(ClampToInt64(limit))
        .Add(PartitionsLiteral(owned))
        .Add(EpochsLiteral(owned))
        .Add(scan.after);
    Result<ResultPtr> read =
        scan.exclude
            ? Exec(conn,
                   fmt::format(fmt::runtime(sql_.claim_rescan),
                               fmt::arg("excluded", pg_internal::IntArrayLiteral(in_flight))),
                   p, "", kConflict)
            : pg_internal::ExecPrepared(conn, kClaimFresh, p, "", kConflict);
    if (!read) return std::unexpected(read.error());
    const PGresult* res = read->get();
    std::vector<std::int64_t> seqs;
    for (int row = 0; row < PQntuples(res); ++row) {
      if (row == 0 && !IsNull(res, 0, 0)) {
        HERALD_ASSIGN_OR_RETURN(std::int64_t due, Int64(res, 0, 0));
        claim.next_due = FromUnixMillis(due);
      }
      PendingEvent pending;
      HERALD_ASSIGN_OR_RETURN(pending.seq, Int64(res, row, 1));
      HERALD_ASSIGN_OR_RETURN(std::int64_t attempts, Int64(res, row, 2));
      HERALD_ASSIGN_OR_RETURN(std::int64_t partition, Int64(res, row, 3));
      pending.attempts = static_cast<int>(attempts);
      HERALD_ASSIGN_OR_RETURN(pending.event, pg_internal::ReadEvent(res, row, 4));
      const int part = static_cast<int>(partition);
      claimed_[pending.seq] = PartitionEpoch{part, epoch_of[part]};
      seqs.push_back(pending.seq);
      claim.events.push_back(std::move(pending));
    }
    if (claim.events.empty()) {
      HERALD_ASSIGN_OR_RETURN(claim.next_due, NextDue(conn, owned, now));
    }
    cursor_.Returned(seqs, limit, claim.next_due);
    return claim;
  }

  std::set<int> ClaimedPartitions() const {
    std::set<int> partitions;
    for (const auto& [seq, pe] : claimed_) partitions.insert(pe.partition);
    return partitions;
  }

  Result<std::optional<TimePoint>> NextDue(PGconn* conn, const std::vector<PartitionEpoch>& owned,
                                           TimePoint now) {
    Params p;
    p.Add(PartitionsLiteral(owned)).Add(ToUnixMillis(now));
    HERALD_ASSIGN_OR_RETURN(ResultPtr res, pg_internal::ExecPrepared(conn, kNextDue, p, "",
                                                                     kConflict));
    if (PQntuples(res.get()) == 0 || IsNull(res.get(), 0, 0)) return std::optional<TimePoint>();
    HERALD_ASSIGN_OR_RETURN(std::int64_t ms, Int64(res.get(), 0, 0));
    return std::optional<TimePoint>(FromUnixMillis(ms));
  }

  // Prepares the hot statements on this connection once (again after a
  // reconnect, which also lets go of the wake lock).
  Status PrepareHot(PGconn* conn) {
    if (prepared_generation_ == conn_.generation()) return OkStatus();
    sleeping_ = false;
    for (const auto& [name, sql] : {std::pair<const char*, const std::string*>{kClaimFresh,
                                                                               &sql_.claim_fresh},
                                    {kNextDue, &sql_.next_due},
                                    {kSettle, &sql_.settle}}) {
      HERALD_RETURN_IF_ERROR(pg_internal::Prepare(
          conn, name, *sql, fmt::format("prepare the relay's statement {}", name), kConflict));
    }
    prepared_generation_ = conn_.generation();
    return OkStatus();
  }

  // Lets go of the wake lock: this relay is busy, and inserts need not
  // notify (unless another relay sleeps).
  Status StopSleeping(PGconn* conn) {
    if (!sleeping_) return OkStatus();
    sleeping_ = false;
    HERALD_ASSIGN_OR_RETURN(ResultPtr res,
                            Exec(conn, sql_.wake_unlock, Params(), "release the wake lock",
                                 kConflict));
    return OkStatus();
  }

  Status DoSettle(PGconn* conn, const Settlement& settlement, TimePoint now) {
    if (settlement.empty()) return OkStatus();
    std::vector<std::int64_t> retry_seqs, retry_at, dead_seqs;
    std::vector<std::string> retry_errors, dead_errors;
    for (const Settlement::Retry& r : settlement.retries) {
      retry_seqs.push_back(r.seq);
      retry_at.push_back(ToUnixMillis(r.next_attempt_at));
      retry_errors.push_back(r.error);
    }
    for (const Settlement::Dead& d : settlement.dead) {
      dead_seqs.push_back(d.seq);
      dead_errors.push_back(d.error);
    }
    // Fenced by the ownership each event was claimed under.
    std::map<int, std::int64_t> fence;
    auto note = [&](std::int64_t seq) {
      if (auto it = claimed_.find(seq); it != claimed_.end()) {
        fence[it->second.partition] = it->second.epoch;
      }
    };
    for (std::int64_t seq : settlement.published) note(seq);
    for (std::int64_t seq : retry_seqs) note(seq);
    for (std::int64_t seq : dead_seqs) note(seq);
    std::vector<PartitionEpoch> claimed_under;
    for (const auto& [partition, epoch] : fence) claimed_under.push_back({partition, epoch});
    Params p;
    p.Add(relay_id_)
        .Add(PartitionsLiteral(claimed_under))
        .Add(EpochsLiteral(claimed_under))
        .Add(pg_internal::IntArrayLiteral(settlement.published))
        .Add(pg_internal::IntArrayLiteral(retry_seqs))
        .Add(pg_internal::IntArrayLiteral(retry_at))
        .Add(pg_internal::ArrayLiteral(retry_errors))
        .Add(pg_internal::IntArrayLiteral(dead_seqs))
        .Add(pg_internal::ArrayLiteral(dead_errors))
        .Add(ToUnixMillis(now));
    HERALD_RETURN_IF_ERROR(PrepareHot(conn));
    HERALD_ASSIGN_OR_RETURN(ResultPtr res, pg_internal::ExecPrepared(conn, kSettle, p, "",
                                                                     kConflict));
    HERALD_ASSIGN_OR_RETURN(std::int64_t settled, Int64(res.get(), 0, 0));
    cursor_.Settled(settlement);
    for (std::int64_t seq : settlement.published) claimed_.erase(seq);
    for (std::int64_t seq : retry_seqs) claimed_.erase(seq);
    for (std::int64_t seq : dead_seqs) claimed_.erase(seq);
    if (leases_ != nullptr) leases_->SetInFlight(ClaimedPartitions());
    const auto asked = static_cast<std::int64_t>(
        settlement.published.size() + settlement.retries.size() + settlement.dead.size());
    if (settled < asked) {
      LogInfo("relay {}: {} of {} settled events were left alone: gone already, or of "
                   "partitions this relay no longer owns",
                   relay_id_, asked - settled, asked);
    }
    return OkStatus();
  }

  // Before it sleeps, the relay takes the wake lock, so that inserts
  // notify: 'acquired' means rows committed before it are visible now, so it
  // returns at once for a last claim, and sleeps on the next call. With
  // inserting transactions in progress ('busy') it looks again shortly; with
  // another relay holding the lock ('sleeper') inserts notify already.
  Status DoWaitForWork(std::chrono::milliseconds timeout, const std::stop_token& stop) {
    HERALD_ASSIGN_OR_RETURN(PGconn * conn, conn_.Get());
    if (stop.stop_requested()) return OkStatus();
    if (leases_ != nullptr && !sleeping_) {
      HERALD_RETURN_IF_ERROR(PrepareHot(conn));
      Result<ResultPtr> gate = Exec(conn, sql_.may_sleep, Params(), "", kConflict);
      if (!gate) {
        conn_.Observe(gate.error());
        return gate.error();
      }
      const std::string answer = pg_internal::Bytes(gate->get(), 0, 0);
      if (answer == "acquired") {
        sleeping_ = true;
        return OkStatus();
      }
      if (answer == "busy") {
        // Backs off while the same transactions stay open (one that inserted
        // and then works for minutes must not cost a claim a millisecond).
        timeout = std::min(timeout, kBusyWait * (1 << std::min(busy_waits_++, 10)));
      }
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::stop_callback interrupt(stop, [this] { wake_.Notify(); });
    while (!stop.stop_requested()) {
      if (leases_ != nullptr && leases_->generation() != seen_generation_) return OkStatus();
      if (PQconsumeInput(conn) == 0) {
        Status s = Unavailable(pg_internal::ConnectionMessage(conn));
        conn_.Drop(s.message());
        return s;
      }
      bool notified = false;
      while (PGnotify* n = PQnotifies(conn)) {
        notified = true;
        PQfreemem(n);
      }
      if (notified) return OkStatus();
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left <= std::chrono::milliseconds::zero()) break;
      // The generation is checked between slices: a partition taken over
      // is claimed within one.
      std::array<pollfd, 2> fds = {pollfd{PQsocket(conn), POLLIN, 0},
                                   pollfd{wake_.fd(), POLLIN, 0}};
      ::poll(fds.data(), fds.size(), static_cast<int>(std::min(left, kWaitSlice).count()));
      wake_.Clear();
    }
    return OkStatus();
  }

  Result<OutboxStats> DoStats(PGconn* conn) {
    std::map<std::string, TopicStats> topics;
    auto topic = [&](std::string name) -> TopicStats& {
      TopicStats& t = topics[name];
      t.topic = std::move(name);
      return t;
    };
    HERALD_ASSIGN_OR_RETURN(ResultPtr pending,
                            Exec(conn, sql_.pending_stats, Params(), "", kConflict));
    for (int row = 0; row < PQntuples(pending.get()); ++row) {
      TopicStats& t = topic(pg_internal::Bytes(pending.get(), row, 0));
      HERALD_ASSIGN_OR_RETURN(t.pending, Int64(pending.get(), row, 1));
      HERALD_ASSIGN_OR_RETURN(std::int64_t oldest, Int64(pending.get(), row, 2));
      t.oldest_pending_created_at = FromUnixMillis(oldest);
    }
    HERALD_ASSIGN_OR_RETURN(ResultPtr dead, Exec(conn, sql_.dead_stats, Params(), "", kConflict));
    for (int row = 0; row < PQntuples(dead.get()); ++row) {
      HERALD_ASSIGN_OR_RETURN(topic(pg_internal::Bytes(dead.get(), row, 0)).dead_letters,
                              Int64(dead.get(), row, 1));
    }
    OutboxStats stats = store_internal::SumTopics(std::move(topics));
    HERALD_ASSIGN_OR_RETURN(stats.relays, ReadRelays(conn));
    return stats;
  }

  Result<std::vector<RelayOwnership>> ReadRelays(PGconn* conn) {
    Params p;
    p.Add(static_cast<std::int64_t>(url_.lease.count()));
    HERALD_ASSIGN_OR_RETURN(ResultPtr res, Exec(conn, sql_.relay_stats, p, "", kConflict));
    std::vector<RelayOwnership> relays;
    for (int row = 0; row < PQntuples(res.get()); ++row) {
      RelayOwnership r;
      r.relay_id = pg_internal::Bytes(res.get(), row, 0);
      HERALD_ASSIGN_OR_RETURN(std::int64_t heartbeat, Int64(res.get(), row, 1));
      r.last_heartbeat = FromUnixMillis(heartbeat);
      std::string list = pg_internal::Bytes(res.get(), row, 2);
      for (std::size_t pos = 0; pos < list.size();) {
        std::size_t comma = list.find(',', pos);
        if (comma == std::string::npos) comma = list.size();
        r.partitions.push_back(std::stoi(list.substr(pos, comma - pos)));
        pos = comma + 1;
      }
      relays.push_back(std::move(r));
    }
    return relays;
  }

  Result<std::vector<DeadLetter>> DoListDeadLetters(PGconn* conn, const DeadLetterFilter& filter,
                                                    std::size_t limit) {
    HERALD_ASSIGN_OR_RETURN(FilterSql where, CompileFilter(filter));
    Params p = FilterParams(where);
    p.Add(ClampToInt64(limit));
    std::string sql = fmt::format(fmt::runtime(sql_.list_dead), fmt::arg("where", where.where));
    HERALD_ASSIGN_OR_RETURN(ResultPtr res, Exec(conn, sql, p, "", kConflict));
    std::vector<DeadLetter> letters;
    constexpr int kAfter = 1 + pg_internal::kEventColumnCount;
    for (int row = 0; row < PQntuples(res.get()); ++row) {
      DeadLetter d;
      HERALD_ASSIGN_OR_RETURN(d.seq, Int64(res.get(), row, 0));
      HERALD_ASSIGN_OR_RETURN(d.event, pg_internal::ReadEvent(res.get(), row, 1));
      HERALD_ASSIGN_OR_RETURN(std::int64_t attempts, Int64(res.get(), row, kAfter));
      d.attempts = static_cast<int>(attempts);
      d.error = pg_internal::Bytes(res.get(), row, kAfter + 1);
      HERALD_ASSIGN_OR_RETURN(std::int64_t failed, Int64(res.get(), row, kAfter + 2));
      d.failed_at = FromUnixMillis(failed);
      letters.push_back(std::move(d));
    }
    return letters;
  }

  // Runs `sql_template` (a count of affected dead letters) for `filter`;
  // `now_ms`, when given, is $2.
  Result<std::int64_t> CountFiltered(const std::string& sql_template,
                                     const DeadLetterFilter& filter,
                                     std::optional<std::int64_t> now_ms) {
    HERALD_ASSIGN_OR_RETURN(FilterSql where, CompileFilter(filter));
    return CallR<std::int64_t>([&](PGconn* conn) -> Result<std::int64_t> {
      Params p = FilterParams(where);
      if (now_ms) p.Add(*now_ms);
      std::string sql = fmt::format(fmt::runtime(sql_template), fmt::arg("where", where.where));
      HERALD_ASSIGN_OR_RETURN(ResultPtr res, Exec(conn, sql, p, "", kConflict));
      return Int64(res.get(), 0, 0);
    });
  }

  const pg_internal::PgUrl url_;
  const std::string relay_id_;
  const Statements sql_;
  pg_internal::Connection conn_;
  std::unique_ptr<pg_internal::LeaseKeeper> leases_;
  // Each event claimed and not yet settled, with the partition and the epoch
  // it was claimed under: its settlement is fenced by them.
  std::unordered_map<std::int64_t, PartitionEpoch> claimed_;
  std::uint64_t seen_generation_ = 0;
  store_internal::ClaimCursor cursor_;
  // The connection generation whose session has the hot statements.
  std::uint64_t prepared_generation_ = 0;
  // This relay's session holds the wake lock (it is idle).
  bool sleeping_ = false;
  int busy_waits_ = 0;  // 'busy' answers since the last claim that found events
  WakeFd wake_;
};

}  // namespace

Result<std::unique_ptr<PostgresStore>> OpenPostgresStore(std::string_view url,
                                                         const StoreOptions& options) {
  HERALD_ASSIGN_OR_RETURN(pg_internal::PgUrl parsed, pg_internal::ParsePgUrl(url));
  std::string relay_id = parsed.relay_id.empty() ? DefaultRelayId() : parsed.relay_id;
  auto store = std::make_unique<PostgresStoreImpl>(std::move(parsed), std::move(relay_id),
                                                   options.busy_timeout, options.read_only);
  if (Status s = store->Open(); !s.ok()) return std::unexpected(s);
  return std::unique_ptr<PostgresStore>(std::move(store));
}

std::string PostgresLibrary() {
  const int v = PQlibVersion();  // 150018 for 15.18
  return fmt::format("libpq {}.{}", v / 10000, v % 10000);
}

}  // namespace herald
