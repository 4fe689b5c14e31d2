#include "store/common/claim_cursor.h"

#include <algorithm>

namespace herald::store_internal {

ClaimCursor::Scan ClaimCursor::Begin(std::span<const std::int64_t> in_flight, TimePoint now,
                                     Steady::time_point steady) {
  // What the relay no longer names was left pending: it lies below the
  // cursor now, for a rescan to find.
  // A rescan under way starts again from the start: read on from where it
  // stopped, it would return a key's later rows before earlier ones left
  // pending below it (against per-key order).
  if (!outstanding_.empty()) {
    std::unordered_set<std::int64_t> still;
    still.reserve(in_flight.size());
    for (std::int64_t seq : in_flight) {
      if (outstanding_.contains(seq)) still.insert(seq);
    }
    if (still.size() < outstanding_.size()) rescan_from_ = 0;
    outstanding_.swap(still);
  }
  if (!rescan_from_) {
    const bool retry_due = due_.has_value() && *due_ <= now;
    if (!last_full_ || retry_due || steady - last_rescan_ >= rescan_interval_) rescan_from_ = 0;
  }
  cursor_at_begin_ = cursor_;
  if (rescan_from_) {
    last_rescan_ = steady;
    scan_ = Scan{*rescan_from_, !in_flight.empty()};
  } else {
    scan_ = Scan{cursor_, false};
  }
  return scan_;
}

void ClaimCursor::Returned(std::span<const std::int64_t> seqs, std::size_t limit,
                           std::optional<TimePoint> next_due) {
  const bool full = seqs.size() >= limit;
  for (std::int64_t seq : seqs) outstanding_.insert(seq);
  const std::int64_t last = seqs.empty() ? scan_.after : seqs.back();
  cursor_ = std::max(cursor_, last);
  if (rescan_from_) {
    // Done once it read past the cursor it started below, or ran dry.
    rescan_from_ = (full && last < cursor_at_begin_) ? std::optional<std::int64_t>(last)
                                                      : std::nullopt;
  }
  last_full_ = full;
  due_ = next_due;
}

void ClaimCursor::Settled(const Settlement& settlement) {
  for (std::int64_t seq : settlement.published) outstanding_.erase(seq);
  for (const Settlement::Dead& d : settlement.dead) outstanding_.erase(d.seq);
  for (const Settlement::Retry& r : settlement.retries) {
    outstanding_.erase(r.seq);
    if (!due_ || r.next_attempt_at < *due_) due_ = r.next_attempt_at;
  }
}

}  // namespace herald::store_internal
