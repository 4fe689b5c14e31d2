// Internal: the PostgreSQL implementation of herald::Store, shared safely by
// any number of relays (I7). Reach it through
// herald::OpenStore("postgres://...") (see store/postgres/pg_url.h for the
// query parameters).
//
// Beyond the Store contract:
//  - Each store is one relay, named by relay_id (URL parameter; default
//    host:pid:random). AcquireRelayRole registers it and takes its first
//    share of partitions at once; many relays may hold the role together
//    (`wait` changes nothing). See store/postgres/leases.h for how
//    partitions are divided, renewed and taken over.
//  - ClaimDue reads only partitions this relay owns with a valid lease (by
//    its own clock and by the database's), in seq order, with per-key
//    hold-back; it takes no row locks. Without the relay role it is
//    FailedPrecondition. Rows that commit late are claimed whenever they
//    become visible: there is no high-water mark.
//  - Settle is fenced: in one statement it acknowledges, retries and
//    dead-letters only rows of partitions that this relay still owns at the
//    epoch it claimed them under; the rest are left to their new owner (a
//    duplicate around a takeover, never a loss). Sequence numbers no longer
//    in the outbox are skipped.
//  - WaitForWork LISTENs on the schema's channel and returns on a
//    notification, when this relay gained partitions, on timeout or stop.
//  - A lost connection makes the call fail with Unavailable; the next calls
//    reconnect (with backoff), LISTEN again and go on.
//  - Stats().relays lists live relays (heartbeat within one lease) with the
//    partitions they hold unexpired leases on.
#ifndef HERALD_STORE_POSTGRES_POSTGRES_STORE_H_
#define HERALD_STORE_POSTGRES_POSTGRES_STORE_H_

#include <memory>
#include <string>
#include <string_view>

#include "herald/status.h"
#include "herald/store.h"

namespace herald {

// The testing face of a PostgreSQL store.
class PostgresStore : public Store {
 public:
  virtual const std::string& relay_id() const = 0;
  // The partitions this relay may claim from right now.
  virtual std::vector<int> ClaimablePartitions() const = 0;
  // Runs one lease round now (rebalancing without waiting for the thread).
  virtual Status TickLeasesForTesting() = 0;
  // A frozen relay: no heartbeats or renewals while paused; with `crash`
  // nothing is given back at destruction either.
  virtual void PauseLeasesForTesting(bool paused, bool crash = false) = 0;
};

// Opens a store on the database `url` names (postgres:// or postgresql://),
// connecting at once: InvalidArgument for a malformed URL, Unavailable with
// libpq's message when the server cannot be reached, NotFound when the
// database does not exist. Does not create or check the schema.
// options.busy_timeout becomes the connections' lock_timeout.
// "libpq 15.18": the library as linked.
std::string PostgresLibrary();

Result<std::unique_ptr<PostgresStore>> OpenPostgresStore(std::string_view url,
                                                         const StoreOptions& options);

}  // namespace herald

#endif  // HERALD_STORE_POSTGRES_POSTGRES_STORE_H_
