#include "herald/relay.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/backoff.h"
#include "core/macros.h"

namespace herald {
namespace {

// How many times one settlement is tried before it is dropped (its events
// stay pending and are published again: a duplicate, never a loss).
constexpr int kSettleAttempts = 5;
// Shortest idle sleep, so that a store reporting a next-due time that has
// already passed cannot make the relay spin.
constexpr std::chrono::milliseconds kMinIdleSleep{1};

// One Publish() call: the events it carries and the deliveries reported for
// them. Shared with the publisher's callback, so the events and the state
// stay valid until the last callback has returned, even one that runs on the
// publisher's thread after the engine stopped waiting. Thread-safe.
class WaveCall {
 public:
  explicit WaveCall(std::vector<Event> events)
      : events_(std::move(events)), deliveries_(events_.size()), remaining_(events_.size()) {}

  std::span<const Event> events() const { return events_; }

  void Report(std::size_t index, Delivery delivery) {
    std::lock_guard<std::mutex> lock(mu_);
    if (index >= deliveries_.size() || deliveries_[index].has_value()) {
      spdlog::error("publisher reported index {} of a call of {} events twice or out of range",
                    index, deliveries_.size());
      return;
    }
    deliveries_[index] = std::move(delivery);
    if (--remaining_ == 0) done_.notify_all();
  }

  // Blocks until every event has its delivery, then returns them in index
  // order. Not interruptible: a publisher reports every event eventually.
  std::vector<Delivery> Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    done_.wait(lock, [this] { return remaining_ == 0; });
    std::vector<Delivery> out;
    out.reserve(deliveries_.size());
    for (auto& d : deliveries_) out.push_back(std::move(*d));
    return out;
  }

 private:
  const std::vector<Event> events_;
  std::mutex mu_;
  std::condition_variable done_;
  std::vector<std::optional<Delivery>> deliveries_;
  std::size_t remaining_;
};

// Splits a batch (indices into it) into the Publish() calls that keep per-key
// order. A publisher that keeps key order takes the whole batch at once.
// Otherwise call k carries the k-th event of every non-empty key, so at most
// one event per key is in flight; events without a key all go in the first.
std::vector<std::vector<std::size_t>> PlanWaves(const std::vector<PendingEvent>& batch,
                                                bool keeps_key_order) {
  std::vector<std::vector<std::size_t>> waves;
  if (batch.empty()) return waves;
  if (keeps_key_order) {
    waves.emplace_back(batch.size());
    for (std::size_t i = 0; i < batch.size(); ++i) waves[0][i] = i;
    return waves;
  }
  std::unordered_map<std::string_view, std::size_t> seen_per_key;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const std::string& key = batch[i].event.key;
    std::size_t wave = key.empty() ? 0 : seen_per_key[key]++;
    if (wave >= waves.size()) waves.resize(wave + 1);
    waves[wave].push_back(i);
  }
  return waves;
}

}  // namespace

class Relay::Impl {
 public:
  Impl(Store& store, Publisher& publisher, RelayOptions options)
      : store_(store),
        publisher_(publisher),
        options_(options),
        clock_(options.clock != nullptr ? *options.clock : Clock::Real()),
        backoff_(options.backoff_initial, options.backoff_max),
        rng_(options.seed != 0 ? options.seed : std::random_device{}()) {
    options_.batch_size = std::max<std::size_t>(options_.batch_size, 1);
  }

  Status Run();
  void Stop() { stop_.request_stop(); }

  RelayStats stats() const {
    RelayStats s;
    s.published = counters_.published.load();
    s.retried = counters_.retried.load();
    s.unavailable = counters_.unavailable.load();
    s.dead_lettered = counters_.dead_lettered.load();
    s.batches = counters_.batches.load();
    s.claims = counters_.claims.load();
    s.settle_failures = counters_.settle_failures.load();
    return s;
  }

 private:
  // Outcome of each event of a batch; nullopt for an event left untouched
  // (not published in this round, or not settled on its own merits).
  using Outcomes = std::vector<std::optional<Delivery>>;

  // What publishing one batch came to.
  struct Published {
    Outcomes outcomes;
    // Keys with an event of the batch that was not published: their later
    // events must wait for it (I3), in this batch and in the next.
    std::unordered_set<std::string> held_keys;
  };

  struct Counters {
    std::atomic<std::uint64_t> published{0};
    std::atomic<std::uint64_t> retried{0};
    std::atomic<std::uint64_t> unavailable{0};
    std::atomic<std::uint64_t> dead_lettered{0};
    std::atomic<std::uint64_t> batches{0};
    std::atomic<std::uint64_t> claims{0};
    std::atomic<std::uint64_t> settle_failures{0};
  };

  Result<bool> Round(std::stop_token stop);
  Result<std::optional<std::vector<PendingEvent>>> ClaimFresh(std::stop_token stop);
  void ReadAhead(const std::vector<PendingEvent>& in_flight, std::stop_token stop);
  void Idle(std::optional<TimePoint> next_due, TimePoint now, std::stop_token stop);
  Published PublishBatch(std::vector<PendingEvent>& batch, std::stop_token stop);
  bool PublishWave(std::vector<PendingEvent>& batch, const std::vector<std::size_t>& wave,
                   std::unordered_set<std::string>& failed_keys, Outcomes& outcomes);
  Settlement Decide(const std::vector<PendingEvent>& batch, const Outcomes& outcomes,
                    TimePoint now);
  void SettleDecided(std::stop_token stop);
  void UpdateBreaker(const Outcomes& outcomes);

  Store& store_;
  Publisher& publisher_;
  RelayOptions options_;
  Clock& clock_;
  Backoff backoff_;
  std::stop_source stop_;
  Counters counters_;

  // Touched only by the thread in Run(), except last_bus_error_, which the
  // publishing thread writes while Run() waits for it.
  std::mt19937_64 rng_;
  bool keeps_key_order_ = false;
  int bus_down_rounds_ = 0;       // consecutive rounds that saw kUnavailable
  int store_failures_ = 0;        // consecutive failed claims
  std::string last_bus_error_;
  // The next batch, read while the previous one was being published.
  std::optional<std::vector<PendingEvent>> ahead_;
  // Keys held back by the last published batch.
  std::unordered_set<std::string> held_keys_;
  // The last published batch's settlement, applied while the next batch is
  // on the bus, and always before a claim that does not exclude its events.
  std::optional<Settlement> decided_;
  TimePoint decided_at_{};
};

Status Relay::Impl::Run() {
  std::stop_token stop = stop_.get_token();
  if (stop.stop_requested()) return OkStatus();
  if (Status s = store_.AcquireRelayRole(options_.standby, stop); !s.ok()) {
    if (s.code() == Code::kCancelled && stop.stop_requested()) return OkStatus();
    return s;
  }
  if (Status s = store_.CheckSchema(); !s.ok()) return s;
  keeps_key_order_ = publisher_.guarantees().keeps_key_order;
  spdlog::info("relay started: batch size {}, max attempts {}, {}{}", options_.batch_size,
               options_.max_attempts,
               keeps_key_order_ ? "whole batches per call" : "one event per key per call",
               options_.read_ahead ? ", reading the next batch while one is on the bus" : "");
  Status result = OkStatus();
  while (!stop.stop_requested()) {
    if (bus_down_rounds_ > 0) {
      SettleDecided(stop);
      if (!clock_.SleepFor(backoff_.Delay(bus_down_rounds_, rng_), stop)) break;
    }
    Result<bool> more = Round(stop);
    if (!more.has_value()) {
      result = more.error();
      break;
    }
    if (!*more) break;
  }
  // Stop: nothing new is published; what was, is settled.
  SettleDecided(stop);
  spdlog::info("relay stopped");
  return result;
}

// One round: take the batch read ahead (or claim one), publish it, and while
// it is on the bus settle the previous batch and read the next. Returns
// false when Run() should return OK (drained, with exit_when_drained), an
// error that retrying cannot fix, or true to go on.
Result<bool> Relay::Impl::Round(std::stop_token stop) {
  std::vector<PendingEvent> batch;
  if (ahead_.has_value() && !ahead_->empty()) {
    batch = std::move(*ahead_);
  } else {
    HERALD_ASSIGN_OR_RETURN(std::optional<std::vector<PendingEvent>> claimed, ClaimFresh(stop));
    if (!claimed.has_value()) return false;
    batch = std::move(*claimed);
  }
  ahead_.reset();
  if (batch.empty()) return true;
  const bool full = batch.size() >= options_.batch_size;
  // Events of a key whose event in the previous batch was not published stay
  // pending behind it.
  std::erase_if(batch, [&](const PendingEvent& p) {
    return !p.event.key.empty() && held_keys_.contains(p.event.key);
  });
  if (batch.empty()) return true;

  auto publishing = std::async(std::launch::async, [this, &batch, stop] {
    return PublishBatch(batch, stop);
  });
  SettleDecided(stop);
  if (options_.read_ahead && full && bus_down_rounds_ == 0) ReadAhead(batch, stop);
  Published published = publishing.get();

  held_keys_ = std::move(published.held_keys);
  decided_at_ = clock_.Now();
  decided_ = Decide(batch, published.outcomes, decided_at_);
  UpdateBreaker(published.outcomes);
  if (bus_down_rounds_ > 0) ahead_.reset();
  return true;
}

// Claims a batch with nothing in flight, after settling what was decided.
// Returns nullopt when Run() should return OK (drained, with
// exit_when_drained), an empty batch after an idle wait or a retriable
// store failure.
Result<std::optional<std::vector<PendingEvent>>> Relay::Impl::ClaimFresh(std::stop_token stop) {
  using Batch = std::optional<std::vector<PendingEvent>>;
  SettleDecided(stop);
  held_keys_.clear();  // settled: the store holds back what must wait
  const TimePoint now = clock_.Now();
  counters_.claims.fetch_add(1);
  Result<Claim> claim = store_.ClaimDue(now, options_.batch_size, {});
  if (!claim.has_value()) {
    const Status& error = claim.error();
    if (!error.retriable()) return std::unexpected(error);
    ++store_failures_;
    spdlog::warn("claiming from the store failed ({} in a row): {}", store_failures_,
                 error.ToString());
    clock_.SleepFor(backoff_.Delay(store_failures_, rng_), stop);
    return Batch(std::vector<PendingEvent>());
  }
  if (store_failures_ > 0) {
    spdlog::info("store reachable again");
    store_failures_ = 0;
  }
  if (claim->events.empty()) {
    if (options_.exit_when_drained && !claim->next_due.has_value()) return Batch();
    Idle(claim->next_due, now, stop);
  }
  return Batch(std::move(claim->events));
}

// Reads the next batch while `in_flight` is being published. A failure here
// costs nothing: the next round claims afresh and handles it.
void Relay::Impl::ReadAhead(const std::vector<PendingEvent>& in_flight, std::stop_token stop) {
  if (stop.stop_requested()) return;
  std::vector<std::int64_t> seqs;
  seqs.reserve(in_flight.size());
  for (const PendingEvent& p : in_flight) seqs.push_back(p.seq);
  counters_.claims.fetch_add(1);
  Result<Claim> claim = store_.ClaimDue(clock_.Now(), options_.batch_size, seqs);
  if (!claim.has_value()) {
    spdlog::debug("reading ahead failed: {}", claim.error().ToString());
    return;
  }
  ahead_ = std::move(claim->events);
}

// Waits for work: on the clock until the next retry when that comes before
// the poll interval (so a test clock makes backoff instant), else on the
// store's wake-up.
void Relay::Impl::Idle(std::optional<TimePoint> next_due, TimePoint now, std::stop_token stop) {
  if (next_due.has_value() && *next_due - now < options_.poll_interval) {
    auto wait = std::chrono::duration_cast<std::chrono::nanoseconds>(*next_due - now);
    clock_.SleepFor(std::max<std::chrono::nanoseconds>(wait, kMinIdleSleep), stop);
    return;
  }
  if (Status s = store_.WaitForWork(options_.poll_interval, stop); !s.ok()) {
    spdlog::warn("waiting for work failed: {}", s.ToString());
    clock_.SleepFor(options_.poll_interval, stop);
  }
}

// Publishes `batch` one wave at a time (see PlanWaves). After a wave, a key
// with an event that was not published has its later events dropped from the
// remaining waves: they stay pending behind it. A wave that meets an
// unavailable bus ends the batch. Moves the published events out of `batch`
// (settlement needs only their seq and attempts). Runs on a thread of its
// own while Run() settles and reads ahead; touches no store.
Relay::Impl::Published Relay::Impl::PublishBatch(std::vector<PendingEvent>& batch,
                                                 std::stop_token stop) {
  Published result;
  result.outcomes.resize(batch.size());
  std::vector<bool> sent(batch.size(), false);
  for (const std::vector<std::size_t>& wave : PlanWaves(batch, keeps_key_order_)) {
    if (stop.stop_requested()) break;
    for (std::size_t i : wave) sent[i] = !result.held_keys.contains(batch[i].event.key);
    if (!PublishWave(batch, wave, result.held_keys, result.outcomes)) break;
  }
  // Events never sent (a wave cut short) hold their keys back too.
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (!sent[i] && !batch[i].event.key.empty()) result.held_keys.insert(batch[i].event.key);
  }
  return result;
}

// Publishes the events of `wave` not held back by `failed_keys`, waits for
// all their deliveries and records them. Returns false if the bus was
// unavailable.
bool Relay::Impl::PublishWave(std::vector<PendingEvent>& batch,
                              const std::vector<std::size_t>& wave,
                              std::unordered_set<std::string>& failed_keys, Outcomes& outcomes) {
  std::vector<std::size_t> sent;
  std::vector<Event> events;
  for (std::size_t i : wave) {
    if (failed_keys.contains(batch[i].event.key)) continue;
    sent.push_back(i);
    events.push_back(std::move(batch[i].event));
  }
  if (sent.empty()) return true;

  auto call = std::make_shared<WaveCall>(std::move(events));
  counters_.batches.fetch_add(1);
  publisher_.Publish(call->events(), [call](std::size_t index, Delivery delivery) {
    call->Report(index, std::move(delivery));
  });
  std::vector<Delivery> deliveries = call->Wait();

  bool bus_available = true;
  for (std::size_t j = 0; j < sent.size(); ++j) {
    const Event& event = call->events()[j];
    Delivery& delivery = deliveries[j];
    if (delivery.outcome == Outcome::kUnavailable) {
      bus_available = false;
      counters_.unavailable.fetch_add(1);
      last_bus_error_ = delivery.error;
    }
    const bool after_failure = !event.key.empty() && failed_keys.contains(event.key);
    if (after_failure && delivery.outcome == Outcome::kPublished) {
      spdlog::error("publisher broke its key-order guarantee: event {} of key '{}' was published "
                    "after an earlier event of its key failed",
                    event.id.ToString(), event.key);
    }
    if (delivery.outcome != Outcome::kPublished) {
      if (!event.key.empty()) failed_keys.insert(event.key);
      // A later event of a key whose earlier event failed in this call failed
      // because of it: leave it pending, its attempts untouched.
      if (after_failure) continue;
    }
    outcomes[sent[j]] = std::move(delivery);
  }
  return bus_available;
}

Settlement Relay::Impl::Decide(const std::vector<PendingEvent>& batch, const Outcomes& outcomes,
                               TimePoint now) {
  Settlement settlement;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (!outcomes[i].has_value()) continue;
    const PendingEvent& pending = batch[i];
    const Delivery& delivery = *outcomes[i];
    switch (delivery.outcome) {
      case Outcome::kPublished:
        settlement.published.push_back(pending.seq);
        break;
      case Outcome::kRetry: {
        const int attempts = pending.attempts + 1;
        if (options_.max_attempts > 0 && attempts >= options_.max_attempts) {
          settlement.dead.push_back({pending.seq, fmt::format("gave up after {} attempts: {}",
                                                              attempts, delivery.error)});
        } else {
          settlement.retries.push_back(
              {pending.seq, now + backoff_.Delay(attempts, rng_), delivery.error});
        }
        break;
      }
      case Outcome::kRejected:
        settlement.dead.push_back({pending.seq, delivery.error});
        break;
      case Outcome::kUnavailable:
        break;  // not the event's fault: untouched, the breaker backs off
    }
  }
  return settlement;
}

// Applies the decided settlement in one store transaction, retrying a
// retriable failure a few times. If it still fails it is dropped: its events
// stay pending and are published again later (a duplicate, never a loss).
void Relay::Impl::SettleDecided(std::stop_token stop) {
  if (!decided_.has_value()) return;
  const Settlement settlement = std::move(*decided_);
  decided_.reset();
  if (settlement.empty()) return;
  for (int attempt = 1;; ++attempt) {
    Status s = store_.Settle(settlement, decided_at_);
    if (s.ok()) break;
    counters_.settle_failures.fetch_add(1);
    const bool give_up = attempt >= kSettleAttempts || !s.retriable() ||
                         !clock_.SleepFor(backoff_.Delay(attempt, rng_), stop);
    if (give_up) {
      spdlog::error("settling {} events failed ({} tries), they stay pending and will be "
                    "published again: {}",
                    settlement.published.size() + settlement.retries.size() +
                        settlement.dead.size(),
                    attempt, s.ToString());
      return;
    }
    spdlog::warn("settling failed, retrying: {}", s.ToString());
  }
  counters_.published.fetch_add(settlement.published.size());
  counters_.retried.fetch_add(settlement.retries.size());
  counters_.dead_lettered.fetch_add(settlement.dead.size());
  for (const Settlement::Dead& dead : settlement.dead) {
    spdlog::warn("event seq {} moved to the dead-letter table: {}", dead.seq, dead.error);
  }
}

// Opens the breaker after a round that met an unavailable bus (the next
// claim waits for a growing backoff), closes it after a round the bus
// answered.
void Relay::Impl::UpdateBreaker(const Outcomes& outcomes) {
  bool unavailable = false;
  bool answered = false;
  for (const std::optional<Delivery>& d : outcomes) {
    if (!d.has_value()) continue;
    (d->outcome == Outcome::kUnavailable ? unavailable : answered) = true;
  }
  if (unavailable) {
    if (bus_down_rounds_ == 0) {
      spdlog::warn("bus unavailable, backing off: {}", last_bus_error_);
    }
    ++bus_down_rounds_;
  } else if (answered && bus_down_rounds_ > 0) {
    spdlog::info("bus available again after {} probes", bus_down_rounds_);
    bus_down_rounds_ = 0;
  }
}

Relay::Relay(Store& store, Publisher& publisher, RelayOptions options)
    : impl_(std::make_unique<Impl>(store, publisher, options)) {}

Relay::~Relay() = default;

Status Relay::Run() { return impl_->Run(); }

void Relay::Stop() { impl_->Stop(); }

RelayStats Relay::stats() const { return impl_->stats(); }

}  // namespace herald
