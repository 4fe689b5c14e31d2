// A Store that forwards every call to another one, counts the relay-side
// calls, and fails them on cue: a database that drops connections, or a
// relay that dies between publishing a batch and settling it.
#ifndef HERALD_TESTING_FAULTY_STORE_H_
#define HERALD_TESTING_FAULTY_STORE_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <stop_token>
#include <vector>

#include "herald/store.h"

namespace herald::testing {

// Thread-compatible like any Store; scripts and counters are thread-safe.
// `base` is not owned and must outlive this.
class FaultyStore final : public Store {
 public:
  explicit FaultyStore(Store& base) : base_(base) {}

  // ClaimDue calls from..to (counted from 1, inclusive) fail with `status`
  // without reaching the base store.
  void FailClaims(int from, int to, Status status);
  // The same for Settle calls: nothing of the settlement is applied.
  void FailSettles(int from, int to, Status status);
  // Runs hook(n) at the start of the n-th Settle call, before it is applied
  // or failed.
  void OnSettle(std::function<void(int n)> hook);

  int claims() const { return claims_.load(); }
  int settles() const { return settles_.load(); }

  Status Migrate() override { return base_.Migrate(); }
  Status CheckSchema() override { return base_.CheckSchema(); }
  Status AcquireRelayRole(bool wait, std::stop_token stop) override {
    return base_.AcquireRelayRole(wait, stop);
  }
  Result<Claim> ClaimDue(TimePoint now, std::size_t limit,
                         std::span<const std::int64_t> in_flight) override;
  Status Settle(const Settlement& settlement, TimePoint now) override;
  Status WaitForWork(std::chrono::milliseconds timeout, std::stop_token stop) override {
    return base_.WaitForWork(timeout, stop);
  }
  Status Enqueue(std::span<const Event> events) override { return base_.Enqueue(events); }
  Result<OutboxStats> Stats() override { return base_.Stats(); }
  Result<std::vector<DeadLetter>> ListDeadLetters(const DeadLetterFilter& filter,
                                                  std::size_t limit) override {
    return base_.ListDeadLetters(filter, limit);
  }
  Result<std::int64_t> RetryDeadLetters(const DeadLetterFilter& filter, TimePoint now) override {
    return base_.RetryDeadLetters(filter, now);
  }
  Result<std::int64_t> PurgeDeadLetters(const DeadLetterFilter& filter) override {
    return base_.PurgeDeadLetters(filter);
  }

 private:
  struct Fault {
    int from;
    int to;
    Status status;
  };
  // The status of the first fault covering call `n`, or OK.
  Status FaultFor(const std::vector<Fault>& faults, int n) const;

  Store& base_;
  mutable std::mutex mu_;
  std::vector<Fault> claim_faults_;
  std::vector<Fault> settle_faults_;
  std::function<void(int)> on_settle_;
  std::atomic<int> claims_{0};
  std::atomic<int> settles_{0};
};

}  // namespace herald::testing

#endif  // HERALD_TESTING_FAULTY_STORE_H_
