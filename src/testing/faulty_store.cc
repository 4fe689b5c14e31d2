#include "testing/faulty_store.h"

#include <utility>

namespace herald::testing {

void FaultyStore::FailClaims(int from, int to, Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  claim_faults_.push_back({from, to, std::move(status)});
}

void FaultyStore::FailSettles(int from, int to, Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  settle_faults_.push_back({from, to, std::move(status)});
}

void FaultyStore::OnSettle(std::function<void(int n)> hook) {
  std::lock_guard<std::mutex> lock(mu_);
  on_settle_ = std::move(hook);
}

Status FaultyStore::FaultFor(const std::vector<Fault>& faults, int n) const {
  for (const Fault& fault : faults) {
    if (n >= fault.from && n <= fault.to) return fault.status;
  }
  return OkStatus();
}

Result<Claim> FaultyStore::ClaimDue(TimePoint now, std::size_t limit,
                                    std::span<const std::int64_t> in_flight) {
  const int n = ++claims_;
  Status fault;
  {
    std::lock_guard<std::mutex> lock(mu_);
    fault = FaultFor(claim_faults_, n);
  }
  if (!fault.ok()) return std::unexpected(fault);
  return base_.ClaimDue(now, limit, in_flight);
}

Status FaultyStore::Settle(const Settlement& settlement, TimePoint now) {
  const int n = ++settles_;
  std::function<void(int)> hook;
  Status fault;
  {
    std::lock_guard<std::mutex> lock(mu_);
    hook = on_settle_;
    fault = FaultFor(settle_faults_, n);
  }
  if (hook) hook(n);
  if (!fault.ok()) return fault;
  return base_.Settle(settlement, now);
}

}  // namespace herald::testing
