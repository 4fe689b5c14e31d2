// Internal: how one relay keeps its share of the outbox's partitions.
//
// Partitions are divided among live relays through <schema>.partitions:
// each row has an owner, an epoch (the fencing token, bumped on every change
// of owner) and lease_until, decided by the database clock. A relay
// heartbeats and renews its leases every lease/3 from a thread of its own
// with a connection of its own, so that a slow bus never delays renewal.
// Fair share = ceil(partitions / live relays), live meaning a heartbeat
// within one lease. A relay takes free or expired partitions up to its share
// (bumping their epoch) and gives back its extras when more relays join,
// once it has settled what it claimed from them. Rebalancing is serialized
// by a transaction-level advisory lock that is only tried, never waited for.
//
// Locally, a partition is claimable until `renewal sent + lease - lease/3`
// by the steady clock, measured from before the renewing transaction began,
// so a relay stops claiming well before the database lets another relay
// take the partition over.
#ifndef HERALD_STORE_POSTGRES_LEASES_H_
#define HERALD_STORE_POSTGRES_LEASES_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "herald/status.h"
#include "store/postgres/connection.h"

namespace herald::pg_internal {

// A partition and the epoch under which this relay owns it.
struct PartitionEpoch {
  int partition = 0;
  std::int64_t epoch = 0;
};

struct LeaseOptions {
  std::string conninfo;
  std::string schema;
  std::string relay_id;
  std::chrono::milliseconds lease{6000};
};

// Thread-safe.
class LeaseKeeper {
 public:
  explicit LeaseKeeper(LeaseOptions options);
  // Stops the thread, then gives back every partition and removes this
  // relay's row (best effort) so that others take over at once.
  ~LeaseKeeper();
  LeaseKeeper(const LeaseKeeper&) = delete;
  LeaseKeeper& operator=(const LeaseKeeper&) = delete;

  // Registers the relay and takes its first share synchronously, then
  // starts the background thread. Errors of that first round are returned
  // (Unavailable, FailedPrecondition for a missing schema); the thread is
  // not started then, and Start may be called again.
  Status Start();

  // The partitions to claim from now: owned, locally unexpired, and not
  // being given back. Ascending.
  std::vector<PartitionEpoch> Claimable() const;

  // Claimable(), marking every partition returned as in flight in the same
  // step, together with `still_in_flight` (partitions of events claimed
  // earlier and not settled yet): a partition in flight is never given back,
  // so a claim and a rebalance cannot cross. After the claim, SetInFlight()
  // keeps only the partitions of events claimed and not yet settled.
  std::vector<PartitionEpoch> BeginClaim(const std::set<int>& still_in_flight);
  void SetInFlight(std::set<int> partitions);

  // Bumped whenever a partition becomes claimable.
  std::uint64_t generation() const { return generation_.load(); }

  // Runs one maintenance round now, on the caller's thread.
  Status Tick();

  // Testing: a frozen relay. While paused nothing is renewed; with
  // `forever` the destructor does not give anything back either (a crash).
  void PauseForTesting(bool paused, bool forever = false);

 private:
  struct Owned {
    std::int64_t epoch = 0;
    std::chrono::steady_clock::time_point deadline{};
  };

  void Loop(std::stop_token stop);
  Status TickLocked(PGconn* conn);
  Status Rebalance(PGconn* conn, std::vector<PartitionEpoch>& owned,
                   std::vector<int>& released);
  void Apply(const std::vector<PartitionEpoch>& owned, const std::vector<int>& released,
             std::chrono::steady_clock::time_point sent);
  std::vector<int> MarkDraining(const std::vector<PartitionEpoch>& owned, std::size_t share);
  void ReleaseAll();

  const LeaseOptions options_;
  const std::string sql_heartbeat_, sql_renew_, sql_counts_, sql_release_, sql_take_,
      sql_forget_, sql_release_all_, sql_deregister_;

  std::mutex tick_mu_;  // one round at a time; guards conn_
  Connection conn_;

  mutable std::mutex mu_;  // guards the members below
  std::map<int, Owned> owned_;
  std::set<int> draining_;  // owned but to be given back: not claimable
  std::set<int> in_flight_;
  bool started_ = false;
  bool paused_ = false;
  bool crashed_ = false;

  std::atomic<std::uint64_t> generation_{0};
  std::condition_variable_any wake_;
  std::jthread thread_;
};

}  // namespace herald::pg_internal

#endif  // HERALD_STORE_POSTGRES_LEASES_H_
