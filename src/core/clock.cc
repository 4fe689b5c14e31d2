#include "herald/clock.h"

#include <condition_variable>
#include <mutex>

namespace herald {
namespace {

class RealClock final : public Clock {
 public:
  TimePoint Now() override { return std::chrono::system_clock::now(); }

  bool SleepFor(std::chrono::nanoseconds d, std::stop_token stop) override {
    std::mutex mu;
    std::condition_variable_any cv;
    std::unique_lock<std::mutex> lock(mu);
    // Returns the predicate's value: false unless stop was requested.
    cv.wait_for(lock, stop, d, [] { return false; });
    return !stop.stop_requested();
  }
};

}  // namespace

Clock& Clock::Real() {
  static RealClock* clock = new RealClock;
  return *clock;
}

}  // namespace herald
