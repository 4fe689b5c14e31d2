// A Publisher for tests whose bus misbehaves on cue: failed calls, outages,
// permanent rejections, lost confirmations, confirmations out of order or
// from another thread. It records every event that reached the bus, so a
// test can check what was delivered, in which order, and how often.
#ifndef HERALD_TESTING_SCRIPTED_PUBLISHER_H_
#define HERALD_TESTING_SCRIPTED_PUBLISHER_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "herald/clock.h"
#include "herald/event.h"
#include "herald/publisher.h"

namespace herald::testing {

// One event as it reached the bus.
struct Arrival {
  EventId id;
  std::string key;
  std::string topic;
  int call = 0;  // the Publish() call that carried it, counted from 1
};

// One event as it was handed to the publisher, with the outcome reported.
struct Offer {
  EventId id;
  std::string key;
  int call = 0;
  Outcome outcome = Outcome::kPublished;
};

using EventMatcher = std::function<bool(const Event&)>;

// Scripts decide each event's outcome in this order, at hand-over: the
// publisher keeps key order and the event's key is closed (an earlier event
// of it failed, and Resume() has not named the key since: kRetry, not
// delivered); the bus is down (kUnavailable); the call fails (kRetry); the
// event is rejected (kRejected); a failure rule or a random failure matches
// (kRetry); otherwise the bus gets it (recorded) and it is kPublished, or
// kRetry if its confirmation is lost. Only events the bus got are recorded.
//
// Thread-safe: scripts and records may be used while calls are in flight.
// Publish() requires one caller at a time, as for every Publisher; several
// calls may be outstanding at once. Reports made from another thread finish
// before the destructor returns.
class ScriptedPublisher final : public Publisher {
 public:
  struct Options {
    // Declared, and kept: after a non-published event of a key, its events
    // handed over later, in this call or a later one, are kRetry and never
    // reach the bus until Resume() names the key.
    bool keeps_key_order = false;
    bool deduplicates_by_id = false;
  };

  ScriptedPublisher() : ScriptedPublisher(Options{}) {}
  explicit ScriptedPublisher(Options options);
  ~ScriptedPublisher() override;

  Guarantees guarantees() const override;
  void Publish(std::span<const Event> events, DeliveryCallback on_delivery) override;
  void Resume(std::span<const std::string> keys) override;

  // ---- scripts; each applies from the next Publish() call ----

  // The n-th Publish() call (from 1) reaches no bus: kRetry for all its events.
  void FailCall(int n, std::string error = "scripted call failure");
  // Calls from_call..to_call (inclusive) find the bus down: kUnavailable.
  void GoDown(int from_call, int to_call);
  // The bus is down while clock.Now() < until. `clock` must outlive this.
  void DownUntil(Clock& clock, TimePoint until);
  // kRejected, for good, for the event with `id` / every event matching.
  void Reject(EventId id, std::string error);
  void Reject(EventMatcher matcher, std::string error);
  // kRetry, not delivered, for events matching, `times` times in all
  // (negative: every time).
  void Fail(EventMatcher matcher, std::string error, int times = -1);
  // Each event fails with kRetry (not delivered) with `probability`, drawn
  // from a generator seeded with `seed`.
  void FailRandomly(double probability, std::uint64_t seed);
  // The bus gets the event with `id` (recorded) but the confirmation is
  // lost: kRetry, so a duplicate follows. Applies once.
  void LoseConfirmation(EventId id);
  // Reports each call's deliveries in a shuffled order (seeded); a random
  // tail of them from another thread after Publish() returned.
  void ConfirmOutOfOrder(std::uint64_t seed);
  // Reports every delivery from another thread, each after `delay` of real
  // time: a slow bus.
  void ConfirmSlowly(std::chrono::milliseconds delay);
  // Holds every call's deliveries until the test lets them go with Release()
  // or ReleaseAll(); the outcomes are decided at hand-over all the same.
  void HoldConfirmations();
  // The same for the deliveries of matching events only; the others are
  // reported as the other scripts say.
  void HoldConfirmations(EventMatcher matcher);
  // Reports the held deliveries of call `call` (from 1) on this thread, in
  // index order. Returns false if nothing of that call is held.
  bool Release(int call);
  // Stops holding and reports everything held, oldest call first.
  void ReleaseAll();
  // The calls with held deliveries, oldest first.
  std::vector<int> held_calls() const;
  // Runs hook(call) at the start of every Publish() call, before anything is
  // decided or reported, without the publisher's lock held.
  void OnCall(std::function<void(int call)> hook);

  // ---- records ----

  // Every event the bus got, in arrival order (duplicates included).
  std::vector<Arrival> arrivals() const;
  // Every event handed to Publish(), in call order, whatever its outcome.
  std::vector<Offer> offers() const;
  // Publish() calls so far, and the largest number of events in one.
  int calls() const;
  std::size_t max_call_size() const;
  // Calls started whose deliveries have not all been reported, now and at
  // most at any one time.
  int outstanding_calls() const;
  int max_outstanding_calls() const;
  // The most events of one (non-empty) key handed over and not yet reported
  // at any one time.
  int max_in_flight_per_key() const;
  // The distinct ids the bus got.
  std::set<EventId> DeliveredIds() const;
  // Per key, the ids in the order of their first arrival.
  std::map<std::string, std::vector<EventId>> FirstDeliveryOrderByKey() const;
  // The ids the bus got more than once, with how many times.
  std::map<EventId, int> Duplicates() const;

 private:
  struct Rule {
    EventMatcher matcher;
    std::string error;
    int times;  // negative: unlimited
  };
  struct Report {
    std::size_t index = 0;
    Delivery delivery;
    std::string key;
  };
  // Deliveries to report later, and to whom.
  struct Pending {
    int call = 0;
    std::vector<Report> reports;
    DeliveryCallback on_delivery;
  };

  Delivery DecideLocked(const Event& event, int call);
  bool DownLocked(int call) const;
  // Reports `reports` of `call`, then counts them delivered.
  void ReportAll(int call, std::vector<Report> reports, const DeliveryCallback& on_delivery);
  // Hands `pending` to the reporting thread, started on first use.
  void ScheduleLocked(Pending pending);
  void ReporterLoop(std::stop_token stop);

  const Options options_;
  mutable std::mutex mu_;
  std::condition_variable_any reporter_cv_;
  std::function<void(int)> on_call_;
  std::map<int, std::string> failed_calls_;
  std::vector<std::pair<int, int>> down_calls_;
  Clock* down_clock_ = nullptr;
  TimePoint down_until_{};
  std::vector<Rule> rejections_;
  std::vector<Rule> failures_;
  std::optional<std::bernoulli_distribution> random_failure_;
  std::mt19937_64 failure_rng_;
  std::set<EventId> lost_confirmations_;
  std::optional<std::mt19937_64> shuffle_rng_;
  std::optional<std::chrono::milliseconds> slow_delay_;
  bool holding_ = false;
  std::optional<EventMatcher> hold_matcher_;
  std::vector<Pending> held_;       // oldest call first
  std::deque<Pending> scheduled_;   // for the reporting thread, in order
  std::set<std::string> closed_keys_;
  std::vector<Arrival> arrivals_;
  std::vector<Offer> offers_;
  int calls_ = 0;
  std::size_t max_call_size_ = 0;
  std::map<int, std::size_t> undelivered_;  // per outstanding call
  int max_outstanding_ = 0;
  std::map<std::string, int> in_flight_per_key_;
  int max_in_flight_per_key_ = 0;
  std::jthread reporter_;  // last: joined first
};

}  // namespace herald::testing

#endif  // HERALD_TESTING_SCRIPTED_PUBLISHER_H_
