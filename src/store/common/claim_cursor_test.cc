#include "store/common/claim_cursor.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <vector>

namespace herald::store_internal {
namespace {

using std::chrono::milliseconds;
using Steady = ClaimCursor::Steady;

TimePoint At(int ms) { return TimePoint{} + milliseconds(ms); }

class ClaimCursorTest : public ::testing::Test {
 protected:
  // Begins a claim with `in_flight`, ends it returning `seqs` of `limit`.
  ClaimCursor::Scan Claim(std::vector<std::int64_t> in_flight, std::vector<std::int64_t> seqs,
                          std::size_t limit = 3, std::optional<TimePoint> next_due = {}) {
    ClaimCursor::Scan scan = cursor_.Begin(in_flight, now_, steady_);
    cursor_.Returned(seqs, limit, next_due);
    return scan;
  }

  ClaimCursor cursor_{milliseconds(250)};
  TimePoint now_ = At(1000);
  Steady::time_point steady_ = Steady::now();
};

TEST_F(ClaimCursorTest, ABacklogIsReadOnwardWithoutExclusion) {
  ClaimCursor::Scan first = Claim({}, {1, 2, 3});
  EXPECT_EQ(first.after, 0);  // the first claim starts at the beginning
  ClaimCursor::Scan second = Claim({1, 2, 3}, {4, 5, 6});
  EXPECT_EQ(second.after, 3);
  EXPECT_FALSE(second.exclude);
  ClaimCursor::Scan third = Claim({1, 2, 3, 4, 5, 6}, {7, 8, 9});
  EXPECT_EQ(third.after, 6);
  EXPECT_FALSE(third.exclude);
}

TEST_F(ClaimCursorTest, EventsLeftPendingAreFoundByARescanThatExcludesTheRest) {
  Claim({}, {1, 2, 3});
  Claim({1, 2, 3}, {4, 5, 6});
  // The relay left 2 pending: it is no longer named.
  ClaimCursor::Scan scan = Claim({1, 3, 4, 5, 6}, {2, 7, 8});
  EXPECT_EQ(scan.after, 0);
  EXPECT_TRUE(scan.exclude);
  // Past the old cursor: back to reading onward.
  EXPECT_EQ(Claim({1, 2, 3, 4, 5, 6, 7, 8}, {9, 10, 11}).after, 8);
}

TEST_F(ClaimCursorTest, ARescanCutShortByTheLimitGoesOnWhereItStopped) {
  Claim({}, {10, 11, 12});
  Claim({10, 11, 12}, {13, 14, 15});
  Claim({10, 11, 12, 13, 14, 15}, {16, 17, 18});
  // Three left pending; the rescan returns them, the limit reached below
  // the old cursor.
  ClaimCursor::Scan scan = Claim({10, 14, 15, 16, 17, 18}, {11, 12, 13});
  EXPECT_EQ(scan.after, 0);
  ClaimCursor::Scan next = Claim({10, 11, 12, 13, 14, 15, 16, 17, 18}, {19, 20, 21});
  EXPECT_EQ(next.after, 13);
  EXPECT_TRUE(next.exclude);
  EXPECT_EQ(Claim({10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21}, {22, 23, 24}).after, 21);
}

TEST_F(ClaimCursorTest, EventsLeftPendingDuringARescanStartItAgainFromTheStart) {
  Claim({}, {10, 11, 12});
  Claim({10, 11, 12}, {13, 14, 15});
  Claim({10, 11, 12, 13, 14, 15}, {16, 17, 18});
  // 11, 12 and 13 left pending; the rescan is cut short at 13.
  Claim({10, 14, 15, 16, 17, 18}, {11, 12, 13});
  // Now 10 and 12 are left pending: going on after 13 would return 14's
  // successors before them.
  ClaimCursor::Scan scan = Claim({11, 13, 14, 15, 16, 17, 18}, {10, 12, 19});
  EXPECT_EQ(scan.after, 0);
  EXPECT_TRUE(scan.exclude);
}

TEST_F(ClaimCursorTest, AShortClaimMakesTheNextOneARescanForLateRows) {
  Claim({}, {1, 2, 3});
  Claim({1, 2, 3}, {5});  // caught up: 4 may commit late
  ClaimCursor::Scan scan = Claim({1, 2, 3, 5}, {4});
  EXPECT_EQ(scan.after, 0);
  EXPECT_TRUE(scan.exclude);
}

TEST_F(ClaimCursorTest, ARetryComingDueMakesARescan) {
  Claim({}, {1, 2, 3});
  Settlement settlement;
  settlement.published = {1, 3};
  settlement.retries.push_back({2, At(1500), "timeout"});
  cursor_.Settled(settlement);
  // The store reports the retry's time as the next due with every claim.
  EXPECT_EQ(Claim({}, {4, 5, 6}, 3, At(1500)).after, 3);
  EXPECT_EQ(Claim({4, 5, 6}, {7, 8, 9}, 3, At(1500)).after, 6);
  now_ = At(1500);
  ClaimCursor::Scan scan = Claim({4, 5, 6, 7, 8, 9}, {2, 10, 11});
  EXPECT_EQ(scan.after, 0);
  EXPECT_TRUE(scan.exclude);
}

TEST_F(ClaimCursorTest, ABacklogIsRescannedEveryIntervalAndOnInvalidate) {
  Claim({}, {1, 2, 3});
  EXPECT_EQ(Claim({1, 2, 3}, {4, 5, 6}).after, 3);
  steady_ += milliseconds(250);
  EXPECT_EQ(Claim({1, 2, 3, 4, 5, 6}, {7, 8, 9}).after, 0);
  EXPECT_EQ(Claim({1, 2, 3, 4, 5, 6, 7, 8, 9}, {10, 11, 12}).after, 9);
  cursor_.Invalidate();
  EXPECT_EQ(Claim({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {13, 14, 15}).after, 0);
}

}  // namespace
}  // namespace herald::store_internal
