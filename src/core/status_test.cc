#include "herald/status.h"

#include <gtest/gtest.h>

#include "core/backoff.h"
#include "core/macros.h"

namespace herald {
namespace {

TEST(StatusTest, OkAndErrors) {
  Status ok;
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(ok.ToString(), "ok");
  Status s = Unavailable("connection refused");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.ToString(), "unavailable: connection refused");
  EXPECT_EQ(s.WithContext("publish").message(), "publish: connection refused");
}

TEST(StatusTest, RetriableCodesSayRetry) {
  EXPECT_TRUE(Unavailable("").retriable());
  EXPECT_TRUE(Aborted("").retriable());
  EXPECT_TRUE(DeadlineExceeded("").retriable());
  EXPECT_FALSE(InvalidArgument("").retriable());
  EXPECT_FALSE(FailedPrecondition("").retriable());
  EXPECT_FALSE(Internal("").retriable());
  EXPECT_FALSE(InDoubt("").retriable());
}

// The three ways on after a failure are told apart, and an in-doubt commit
// is never one of the retries.
TEST(StatusTest, RecoverySeparatesRetryingTheCallTheTransactionAndInDoubt) {
  EXPECT_EQ(OkStatus().recovery(), Recovery::kNone);
  EXPECT_EQ(Unavailable("").recovery(), Recovery::kRetryCall);
  EXPECT_EQ(DeadlineExceeded("").recovery(), Recovery::kRetryCall);
  EXPECT_EQ(Aborted("").recovery(), Recovery::kRetryTransaction);
  EXPECT_EQ(InDoubt("").recovery(), Recovery::kInDoubt);
  for (const Status& s : {InvalidArgument(""), NotFound(""), AlreadyExists(""),
                          FailedPrecondition(""), ResourceExhausted(""), Internal(""),
                          Cancelled("")}) {
    EXPECT_EQ(s.recovery(), Recovery::kNone) << s.ToString();
  }
  EXPECT_EQ(InDoubt("commit").ToString(), "in doubt: commit");
}

Result<int> Half(int x) {
  if (x % 2 != 0) return std::unexpected(InvalidArgument("odd"));
  return x / 2;
}

Result<int> Quarter(int x) {
  HERALD_RETURN_IF_ERROR(x < 0 ? InvalidArgument("negative") : OkStatus());
  HERALD_ASSIGN_OR_RETURN(int h, Half(x));
  HERALD_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

Status CheckQuarter(int x) {
  HERALD_ASSIGN_OR_RETURN(int q, Quarter(x));
  (void)q;
  HERALD_RETURN_IF_ERROR(OkStatus());
  return OkStatus();
}

TEST(StatusTest, MacrosPropagateIntoStatusAndResult) {
  EXPECT_EQ(Quarter(8).value(), 2);
  EXPECT_EQ(Quarter(6).error().code(), Code::kInvalidArgument);
  EXPECT_EQ(Quarter(-4).error().message(), "negative");
  EXPECT_TRUE(CheckQuarter(8).ok());
  EXPECT_EQ(CheckQuarter(5).message(), "odd");
}

TEST(BackoffTest, CeilingDoublesUpToTheCap) {
  Backoff b(std::chrono::milliseconds(100), std::chrono::milliseconds(1000));
  EXPECT_EQ(b.Ceiling(1).count(), 100);
  EXPECT_EQ(b.Ceiling(2).count(), 200);
  EXPECT_EQ(b.Ceiling(4).count(), 800);
  EXPECT_EQ(b.Ceiling(5).count(), 1000);
  EXPECT_EQ(b.Ceiling(500).count(), 1000);
}

TEST(BackoffTest, FullJitterStaysWithinCeilingAndSpreads) {
  Backoff b(std::chrono::milliseconds(100), std::chrono::milliseconds(1000));
  std::mt19937_64 rng(42);
  std::int64_t lo = 1 << 30, hi = -1;
  for (int i = 0; i < 2000; ++i) {
    auto d = b.Delay(3, rng).count();
    ASSERT_GE(d, 0);
    ASSERT_LE(d, 400);
    lo = std::min(lo, d);
    hi = std::max(hi, d);
  }
  EXPECT_LT(lo, 40);
  EXPECT_GT(hi, 360);
}

}  // namespace
}  // namespace herald
