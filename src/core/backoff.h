// Exponential backoff with full jitter, as a value type. Internal.
#ifndef HERALD_CORE_BACKOFF_H_
#define HERALD_CORE_BACKOFF_H_

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>

namespace herald {

class Backoff {
 public:
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max)
      : initial_(std::max(initial, std::chrono::milliseconds(1))), max_(std::max(max, initial_)) {}

  // The ceiling after `failures` consecutive failures (1 for the first):
  // initial * 2^(failures-1), capped at max.
  std::chrono::milliseconds Ceiling(int failures) const {
    if (failures <= 1) return initial_;
    std::int64_t ceiling = initial_.count();
    for (int i = 1; i < failures && ceiling < max_.count(); ++i) ceiling *= 2;
    return std::min(std::chrono::milliseconds(ceiling), max_);
  }

  // Full jitter: a uniform draw in [0, Ceiling(failures)].
  template <typename Rng>
  std::chrono::milliseconds Delay(int failures, Rng& rng) const {
    std::uniform_int_distribution<std::int64_t> dist(0, Ceiling(failures).count());
    return std::chrono::milliseconds(dist(rng));
  }

  std::chrono::milliseconds initial() const { return initial_; }
  std::chrono::milliseconds max() const { return max_; }

 private:
  std::chrono::milliseconds initial_;
  std::chrono::milliseconds max_;
};

}  // namespace herald

#endif  // HERALD_CORE_BACKOFF_H_
