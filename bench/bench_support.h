// What every benchmark here shares: failing loudly, timing, the machine's
// description and the workload's events.
#ifndef HERALD_BENCH_BENCH_SUPPORT_H_
#define HERALD_BENCH_BENCH_SUPPORT_H_

#include <errno.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <span>
#include <vector>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>

#include "herald/event.h"
#include "herald/publisher.h"
#include "herald/relay.h"
#include "herald/status.h"
#include "herald/store.h"
#include "testing/observing_publisher.h"

namespace herald::bench {

// Distinct keys of the workload, so per-key ordering has work to do.
inline constexpr int kKeys = 64;

// Exits with a message naming the program when `ok` is false.
inline void Check(bool ok, std::string_view what) {
  if (!ok) {
    std::fprintf(stderr, "%s: %.*s\n", program_invocation_short_name,
                 static_cast<int>(what.size()), what.data());
    std::exit(1);
  }
}

inline void Check(const Status& s, std::string_view what) {
  Check(s.ok(), fmt::format("{}: {}", what, s.ToString()));
}

inline double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

inline std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

// A JSON payload of about `bytes` bytes for the i-th transaction.
inline std::string Payload(std::size_t bytes, long i) {
  std::string p = fmt::format(R"({{"account":"acct-{}","amount_cents":{},"note":")", i % kKeys, i);
  while (p.size() + 2 < bytes) p.push_back('x');
  return p + "\"}";
}

// The i-th TransactionCreated event, keyed by its account.
inline Event MakeEvent(std::size_t payload_bytes, long i) {
  return Event::Make("transactions", fmt::format("acct-{}", i % kKeys), "TransactionCreated",
                     Payload(payload_bytes, i));
}

// Forwards to another publisher and notes when each event was first reported
// published. Thread-safe.
class TimingPublisher final : public Publisher {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  explicit TimingPublisher(Publisher& inner)
      : observed_(inner, [this](const Event& event, const Delivery& d) {
          if (d.outcome != Outcome::kPublished) return;
          std::lock_guard lock(mu_);
          published_.try_emplace(event.id, std::chrono::steady_clock::now());
        }) {}
  Guarantees guarantees() const override { return observed_.guarantees(); }
  void Publish(std::span<const Event> events, DeliveryCallback done) override {
    observed_.Publish(events, std::move(done));
  }
  void Resume(std::span<const std::string> keys) override { observed_.Resume(keys); }
  std::size_t count() const {
    std::lock_guard lock(mu_);
    return published_.size();
  }
  std::map<EventId, TimePoint> published() const {
    std::lock_guard lock(mu_);
    return published_;
  }

 private:
  mutable std::mutex mu_;
  std::map<EventId, TimePoint> published_;
  testing::ObservingPublisher observed_;  // last: its hook uses the members above
};

struct Percentiles {
  double p50 = 0, p99 = 0, max = 0;
};

// Nearest-rank percentiles of `samples`. REQUIRES: not empty.
inline Percentiles Summarize(std::vector<double> samples) {
  std::sort(samples.begin(), samples.end());
  auto at = [&](double q) {
    return samples[static_cast<std::size_t>(q * static_cast<double>(samples.size() - 1))];
  };
  return {at(0.50), at(0.99), samples.back()};
}

// Confirms every event at once: the engine's and the store's cost without
// a bus.
class ConfirmAtOncePublisher final : public Publisher {
 public:
  Guarantees guarantees() const override { return {.keeps_key_order = true}; }
  void Publish(std::span<const Event> events, DeliveryCallback done) override {
    for (std::size_t i = 0; i < events.size(); ++i) done(i, {});
  }
};

// Drains the `backlog` events of `store` into `publisher` with one Relay and
// returns events per second.
inline double DrainRate(Store& store, Publisher& publisher, std::size_t batch,
                        std::size_t window, long backlog) {
  RelayOptions options;
  options.batch_size = batch;
  options.exit_when_drained = true;
  options.max_in_flight_events = window;
  Relay relay(store, publisher, options);
  const auto start = std::chrono::steady_clock::now();
  Check(relay.Run(), "relay");
  const double secs = Seconds(std::chrono::steady_clock::now() - start);
  Check(relay.stats().published == static_cast<std::uint64_t>(backlog), "published count");
  return static_cast<double>(backlog) / secs;
}

}  // namespace herald::bench

#endif  // HERALD_BENCH_BENCH_SUPPORT_H_
