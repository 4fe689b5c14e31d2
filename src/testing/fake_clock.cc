#include "testing/fake_clock.h"

#include <algorithm>

namespace herald::testing {

TimePoint FakeClock::Start() {
  using namespace std::chrono;
  return time_point_cast<system_clock::duration>(sys_days{year{2026} / January / 1});
}

FakeClock::FakeClock(TimePoint start) : now_(start) {}

TimePoint FakeClock::Now() {
  std::lock_guard<std::mutex> lock(mu_);
  return now_;
}

bool FakeClock::SleepFor(std::chrono::nanoseconds d, std::stop_token stop) {
  if (stop.stop_requested()) return false;
  d = std::max(d, std::chrono::nanoseconds::zero());
  std::lock_guard<std::mutex> lock(mu_);
  now_ += std::chrono::duration_cast<TimePoint::duration>(d);
  slept_ += d;
  ++sleeps_;
  return true;
}

void FakeClock::Advance(std::chrono::nanoseconds d) {
  d = std::max(d, std::chrono::nanoseconds::zero());
  std::lock_guard<std::mutex> lock(mu_);
  now_ += std::chrono::duration_cast<TimePoint::duration>(d);
}

std::chrono::nanoseconds FakeClock::slept() const {
  std::lock_guard<std::mutex> lock(mu_);
  return slept_;
}

std::uint64_t FakeClock::sleeps() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sleeps_;
}

}  // namespace herald::testing
