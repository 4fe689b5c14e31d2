// Internal: what keeps a store's claim as cheap at a backlog of millions as
// at a few, for both backends.
//
// A claim reads due rows in seq order. Without help it would read, every
// time, past every row still in flight (named in `in_flight`) and compare
// each with that list. The cursor remembers the highest seq any claim
// returned: rows above it were never returned, so a claim that reads only
// `seq > after` needs no exclusion at all (a fresh scan). Rows below it that
// are not in flight are stragglers: events the relay left pending (a key held
// back behind a failure, a batch cut short, a stop), retries that came due,
// rows of partitions taken over, and rows whose transaction committed after
// rows with higher seqs were claimed (commit order is not seq order). They
// are found by a rescan: from the start (or from where the last rescan
// stopped), excluding what is in flight. A rescan is due when the cursor
// sees that something was left pending or a retry came due, when the last
// claim was not full (the relay has caught up: late rows are picked up at
// once), when the store says so (Invalidate), and at least every
// `rescan_interval` while the relay works through a backlog.
//
// Thread-compatible, like the store that owns it.
#ifndef HERALD_STORE_COMMON_CLAIM_CURSOR_H_
#define HERALD_STORE_COMMON_CLAIM_CURSOR_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <unordered_set>

#include "herald/event.h"
#include "herald/store.h"

namespace herald::store_internal {

class ClaimCursor {
 public:
  using Steady = std::chrono::steady_clock;

  explicit ClaimCursor(std::chrono::milliseconds rescan_interval = std::chrono::milliseconds(250))
      : rescan_interval_(rescan_interval) {}

  // The rows a claim reads: those with seq > after, leaving out `in_flight`
  // only when `exclude` (a rescan).
  struct Scan {
    std::int64_t after = 0;
    bool exclude = false;
  };

  // Starts a claim at `now` (the relay's time, compared with retry times)
  // with the caller's `in_flight`.
  Scan Begin(std::span<const std::int64_t> in_flight, TimePoint now,
             Steady::time_point steady = Steady::now());

  // Ends the claim begun last: it returned `seqs` (ascending) out of at
  // most `limit`, and the earliest not-yet-due retry is `next_due`.
  void Returned(std::span<const std::int64_t> seqs, std::size_t limit,
                std::optional<TimePoint> next_due);

  // `settlement` was applied: its events are no longer outstanding, and its
  // retries come due later.
  void Settled(const Settlement& settlement);

  // The next claim rescans from the start (the store's view changed in a
  // way the cursor cannot see, such as partitions taken over).
  void Invalidate() { rescan_from_ = 0; }

  std::int64_t cursor() const { return cursor_; }

 private:
  const std::chrono::milliseconds rescan_interval_;
  std::int64_t cursor_ = 0;  // highest seq returned so far
  // Where the rescan under way goes on from; nullopt: none needed.
  std::optional<std::int64_t> rescan_from_ = 0;
  Scan scan_;                // of the claim begun last
  std::int64_t cursor_at_begin_ = 0;
  bool last_full_ = false;
  std::optional<TimePoint> due_;  // earliest retry not yet due, as last seen
  Steady::time_point last_rescan_{};
  // Returned by a claim and not settled since: in flight, or left pending
  // by the relay (seen when a claim no longer names it in `in_flight`).
  std::unordered_set<std::int64_t> outstanding_;
};

}  // namespace herald::store_internal

#endif  // HERALD_STORE_COMMON_CLAIM_CURSOR_H_
