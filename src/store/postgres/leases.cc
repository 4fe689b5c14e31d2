#include "store/postgres/leases.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <utility>

#include "core/log.h"
#include "core/macros.h"
#include "store/postgres/pg.h"

namespace herald::pg_internal {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Relays silent for this long are forgotten (they are long gone; their
// partitions were taken over after one lease).
constexpr const char* kForgetAfter = "1 day";

std::string LeaseSql(std::string_view param) {
  return fmt::format("now() + {}::int8 * interval '1 millisecond'", param);
}

Result<std::vector<PartitionEpoch>> ReadPartitions(const PGresult* res) {
  std::vector<PartitionEpoch> out;
  for (int row = 0; row < PQntuples(res); ++row) {
    HERALD_ASSIGN_OR_RETURN(std::int64_t partition, Int64(res, row, 0));
    HERALD_ASSIGN_OR_RETURN(std::int64_t epoch, Int64(res, row, 1));
    out.push_back({static_cast<int>(partition), epoch});
  }
  return out;
}

Status SetupLeaseConnection(PGconn* conn, std::chrono::milliseconds lease) {
  // A relay frozen inside a round must not keep its rows locked for long.
  auto idle = std::max<std::chrono::milliseconds>(lease / 2, std::chrono::milliseconds(1000));
  return ExecSimple(conn,
                    fmt::format("SET idle_in_transaction_session_timeout = {}; "
                                "SET lock_timeout = {}",
                                idle.count(), (lease / 3).count()),
                    "");
}

}  // namespace

LeaseKeeper::LeaseKeeper(LeaseOptions options)
    : options_(std::move(options)),
      sql_heartbeat_(fmt::format(
          "INSERT INTO {}.relays (relay_id) VALUES ($1) "
          "ON CONFLICT (relay_id) DO UPDATE SET heartbeat_at = now()",
          options_.schema)),
      sql_renew_(fmt::format("UPDATE {}.partitions SET lease_until = {} WHERE owner = $1 "
                             "RETURNING partition::int8, epoch",
                             options_.schema, LeaseSql("$2"))),
      sql_counts_(fmt::format(
          "SELECT pg_try_advisory_xact_lock(hashtext($1))::int::int8, "
          "(SELECT partitions FROM {0}.config LIMIT 1)::int8, "
          "(SELECT count(*) FROM {0}.relays "
          " WHERE heartbeat_at > now() - $2::int8 * interval '1 millisecond')::int8",
          options_.schema)),
      sql_release_(fmt::format("UPDATE {}.partitions SET owner = NULL, lease_until = NULL "
                               "WHERE owner = $1 AND partition = ANY($2::int[])",
                               options_.schema)),
      sql_take_(fmt::format(
          "UPDATE {0}.partitions t SET owner = $1, epoch = t.epoch + 1, lease_until = {1} "
          "FROM (SELECT partition FROM {0}.partitions "
          "      WHERE owner IS NULL OR lease_until IS NULL OR lease_until < now() "
          "      ORDER BY partition LIMIT $3 FOR UPDATE SKIP LOCKED) f "
          "WHERE t.partition = f.partition RETURNING t.partition::int8, t.epoch",
          options_.schema, LeaseSql("$2"))),
      sql_forget_(fmt::format("DELETE FROM {}.relays WHERE heartbeat_at < now() - interval '{}'",
                              options_.schema, kForgetAfter)),
      sql_release_all_(fmt::format(
          "UPDATE {}.partitions SET owner = NULL, lease_until = NULL WHERE owner = $1",
          options_.schema)),
      sql_deregister_(fmt::format("DELETE FROM {}.relays WHERE relay_id = $1", options_.schema)),
      conn_(options_.conninfo, fmt::format("herald-lease {}", options_.relay_id),
            "lease maintenance",
            [lease = options_.lease](PGconn* c) { return SetupLeaseConnection(c, lease); }) {}

LeaseKeeper::~LeaseKeeper() {
  if (thread_.joinable()) {
    thread_.request_stop();
    wake_.notify_all();
    thread_.join();
  }
  ReleaseAll();
}

Status LeaseKeeper::Start() {
  if (thread_.joinable()) return OkStatus();
  HERALD_RETURN_IF_ERROR(Tick());
  {
    std::lock_guard<std::mutex> lock(mu_);
    started_ = true;
  }
  thread_ = std::jthread([this](std::stop_token stop) { Loop(std::move(stop)); });
  return OkStatus();
}

void LeaseKeeper::Loop(std::stop_token stop) {
  const auto period = options_.lease / 3;
  bool failing = false;
  while (!stop.stop_requested()) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait_for(lock, stop, period, [] { return false; });
    }
    if (stop.stop_requested()) break;
    Status s = Tick();
    if (!s.ok() && !failing) {
      LogWarning("relay {}: renewing partition leases failed: {}", options_.relay_id,
                   s.ToString());
    } else if (s.ok() && failing) {
      LogInfo("relay {}: renewing partition leases again", options_.relay_id);
    }
    failing = !s.ok();
  }
}

Status LeaseKeeper::Tick() {
  std::lock_guard<std::mutex> tick(tick_mu_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (paused_) return OkStatus();
  }
  HERALD_ASSIGN_OR_RETURN(PGconn * conn, conn_.Get());
  Status s = TickLocked(conn);
  if (!s.ok()) {
    if (PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) != PQTRANS_IDLE) {
      static_cast<void>(ExecSimple(conn, "ROLLBACK", ""));
    }
    conn_.Observe(s);
  }
  return s.WithContext("maintain partition leases");
}

Status LeaseKeeper::TickLocked(PGconn* conn) {
  // Measured before the transaction starts, so before the database's now().
  const SteadyClock::time_point sent = SteadyClock::now();
  HERALD_RETURN_IF_ERROR(ExecSimple(conn, "BEGIN", ""));
  Params me;
  me.Add(options_.relay_id);
  HERALD_ASSIGN_OR_RETURN(ResultPtr hb, Exec(conn, sql_heartbeat_, me, "heartbeat"));
  Params renew;
  renew.Add(options_.relay_id).Add(static_cast<std::int64_t>(options_.lease.count()));
  HERALD_ASSIGN_OR_RETURN(ResultPtr renewed, Exec(conn, sql_renew_, renew, "renew leases"));
  HERALD_ASSIGN_OR_RETURN(std::vector<PartitionEpoch> owned, ReadPartitions(renewed.get()));
  std::vector<int> released;
  HERALD_RETURN_IF_ERROR(Rebalance(conn, owned, released));
  HERALD_RETURN_IF_ERROR(ExecSimple(conn, "COMMIT", "commit leases"));
  Apply(owned, released, sent);
  return OkStatus();
}

Status LeaseKeeper::Rebalance(PGconn* conn, std::vector<PartitionEpoch>& owned,
                              std::vector<int>& released) {
  Params counts;
  counts.Add(fmt::format("herald.rebalance.{}", options_.schema))
      .Add(static_cast<std::int64_t>(options_.lease.count()));
  HERALD_ASSIGN_OR_RETURN(ResultPtr res, Exec(conn, sql_counts_, counts, "count relays"));
  HERALD_ASSIGN_OR_RETURN(std::int64_t locked, Int64(res.get(), 0, 0));
  if (locked == 0) return OkStatus();  // another relay is rebalancing: renew only
  if (IsNull(res.get(), 0, 1)) return NoSchemaError(options_.schema);
  HERALD_ASSIGN_OR_RETURN(std::int64_t partitions, Int64(res.get(), 0, 1));
  HERALD_ASSIGN_OR_RETURN(std::int64_t live, Int64(res.get(), 0, 2));
  const auto share =
      static_cast<std::size_t>((partitions + std::max<std::int64_t>(live, 1) - 1) /
                               std::max<std::int64_t>(live, 1));

  std::vector<int> release = MarkDraining(owned, share);
  if (!release.empty()) {
    std::vector<std::int64_t> ids(release.begin(), release.end());
    Params p;
    p.Add(options_.relay_id).Add(IntArrayLiteral(ids));
    HERALD_ASSIGN_OR_RETURN(ResultPtr r, Exec(conn, sql_release_, p, "give back partitions"));
    std::erase_if(owned, [&](const PartitionEpoch& pe) {
      return std::find(release.begin(), release.end(), pe.partition) != release.end();
    });
    released = release;
  }
  if (owned.size() < share) {
    Params take;
    take.Add(options_.relay_id)
        .Add(static_cast<std::int64_t>(options_.lease.count()))
        .Add(static_cast<std::int64_t>(share - owned.size()));
    HERALD_ASSIGN_OR_RETURN(ResultPtr taken, Exec(conn, sql_take_, take, "take partitions"));
    HERALD_ASSIGN_OR_RETURN(std::vector<PartitionEpoch> more, ReadPartitions(taken.get()));
    owned.insert(owned.end(), more.begin(), more.end());
  }
  HERALD_ASSIGN_OR_RETURN(ResultPtr forgot, Exec(conn, sql_forget_, Params(), "forget relays"));
  return OkStatus();
}

// Marks the partitions beyond `share` (the highest-numbered) as draining and
// returns those that may be given back now: the ones not in flight.
std::vector<int> LeaseKeeper::MarkDraining(const std::vector<PartitionEpoch>& owned,
                                           std::size_t share) {
  std::vector<int> ids;
  for (const PartitionEpoch& pe : owned) ids.push_back(pe.partition);
  std::sort(ids.begin(), ids.end());
  std::lock_guard<std::mutex> lock(mu_);
  draining_.clear();
  std::vector<int> release;
  for (std::size_t i = share; i < ids.size(); ++i) {
    draining_.insert(ids[i]);
    if (!in_flight_.contains(ids[i])) release.push_back(ids[i]);
  }
  return release;
}

void LeaseKeeper::Apply(const std::vector<PartitionEpoch>& owned,
                        const std::vector<int>& released, SteadyClock::time_point sent) {
  const SteadyClock::time_point deadline = sent + options_.lease - options_.lease / 3;
  std::lock_guard<std::mutex> lock(mu_);
  std::map<int, Owned> next;
  bool gained = false;
  for (const PartitionEpoch& pe : owned) {
    auto old = owned_.find(pe.partition);
    if (old == owned_.end() || old->second.epoch != pe.epoch ||
        old->second.deadline <= SteadyClock::now()) {
      gained = true;
    }
    next[pe.partition] = Owned{pe.epoch, deadline};
  }
  for (int p : released) draining_.erase(p);
  std::erase_if(draining_, [&](int p) { return !next.contains(p); });
  if (owned_.size() != next.size() || gained) {
    std::vector<int> ids;
    for (const auto& [p, o] : next) ids.push_back(p);
    LogInfo("relay {} owns {} partitions: {}", options_.relay_id, ids.size(),
                 fmt::join(ids, ","));
  }
  owned_ = std::move(next);
  if (gained) generation_.fetch_add(1);
}

std::vector<PartitionEpoch> LeaseKeeper::Claimable() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<PartitionEpoch> out;
  const SteadyClock::time_point now = SteadyClock::now();
  for (const auto& [p, o] : owned_) {
    if (o.deadline > now && !draining_.contains(p)) out.push_back({p, o.epoch});
  }
  return out;
}

std::vector<PartitionEpoch> LeaseKeeper::BeginClaim(const std::set<int>& still_in_flight) {
  std::vector<PartitionEpoch> out = Claimable();
  std::lock_guard<std::mutex> lock(mu_);
  // Anything made draining between the two locks is dropped here.
  std::erase_if(out, [&](const PartitionEpoch& pe) { return draining_.contains(pe.partition); });
  in_flight_ = still_in_flight;
  for (const PartitionEpoch& pe : out) in_flight_.insert(pe.partition);
  return out;
}

void LeaseKeeper::SetInFlight(std::set<int> partitions) {
  std::lock_guard<std::mutex> lock(mu_);
  in_flight_ = std::move(partitions);
}

void LeaseKeeper::PauseForTesting(bool paused, bool forever) {
  std::lock_guard<std::mutex> lock(mu_);
  paused_ = paused;
  crashed_ = crashed_ || forever;
}

void LeaseKeeper::ReleaseAll() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (crashed_ || !started_) return;
  }
  std::lock_guard<std::mutex> tick(tick_mu_);
  Result<PGconn*> conn = conn_.Get();
  if (!conn) return;
  Params me;
  me.Add(options_.relay_id);
  Result<ResultPtr> released = Exec(*conn, sql_release_all_, me, "give back partitions");
  Result<ResultPtr> gone = Exec(*conn, sql_deregister_, me, "deregister relay");
  if (!released || !gone) {
    LogWarning("relay {} could not give back its partitions; others take them over when the "
                 "leases end: {}",
                 options_.relay_id, (!released ? released.error() : gone.error()).ToString());
  }
}

}  // namespace herald::pg_internal
