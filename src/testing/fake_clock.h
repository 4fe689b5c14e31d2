// A Clock for tests: virtual time that moves only when told to, so that
// backoff, retry schedules and long outages take no real time.
#ifndef HERALD_TESTING_FAKE_CLOCK_H_
#define HERALD_TESTING_FAKE_CLOCK_H_

#include <chrono>
#include <cstdint>
#include <mutex>
#include <stop_token>

#include "herald/clock.h"

namespace herald::testing {

// Thread-safe. Now() starts at Start() unless told otherwise and never goes
// back. SleepFor(d) advances virtual time by d at once and returns true, or,
// if `stop` is already requested, advances nothing and returns false.
class FakeClock final : public Clock {
 public:
  // 2026-01-01T00:00:00Z: a realistic epoch for stored timestamps.
  static TimePoint Start();

  explicit FakeClock(TimePoint start = Start());

  TimePoint Now() override;
  bool SleepFor(std::chrono::nanoseconds d, std::stop_token stop) override;

  // Moves virtual time forward by `d` (negative durations count as zero).
  void Advance(std::chrono::nanoseconds d);

  // Virtual time spent in SleepFor so far, and how many calls advanced it.
  std::chrono::nanoseconds slept() const;
  std::uint64_t sleeps() const;

 private:
  mutable std::mutex mu_;
  TimePoint now_;
  std::chrono::nanoseconds slept_{0};
  std::uint64_t sleeps_ = 0;
};

}  // namespace herald::testing

#endif  // HERALD_TESTING_FAKE_CLOCK_H_
