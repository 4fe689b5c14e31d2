#include "herald/relay.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/backoff.h"
#include "core/log.h"

namespace herald {
namespace {

using std::chrono::milliseconds;

// Shortest idle sleep, so that a store reporting a next-due time that has
// already passed cannot make the relay spin.
constexpr milliseconds kMinIdleSleep{1};
// Tries of the last settlement when Run() is stopping; after them its events
// stay pending and are published again by the next relay.
constexpr int kStopSettleAttempts = 3;
// The listener of a relay that was given none.
RelayListener& NoListener() {
  static RelayListener none;
  return none;
}

std::chrono::microseconds Since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                               start);
}

// What an event costs the window besides its strings.
constexpr std::size_t kEventOverhead = 256;

std::size_t EventBytes(const Event& e) {
  std::size_t bytes = kEventOverhead + e.topic.size() + e.key.size() + e.type.size() +
                      e.payload.size() + e.content_type.size();
  for (const auto& [name, value] : e.headers) bytes += name.size() + value.size();
  return bytes;
}

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// One event of a Publish() call, as the engine needs it to settle.
struct Slot {
  std::int64_t seq = 0;
  int attempts = 0;
  std::uint64_t handed = 0;  // hand-over number within its key
};

// One Publish() call. Shared with the publisher's callback, so the events
// stay valid until the last delivery has been reported, even after the
// engine stopped waiting for it.
struct Call {
  std::vector<Event> events;
  std::vector<Slot> slots;
  std::size_t unprocessed = 0;  // deliveries the engine has not taken in yet
  bool probe = false;           // the one call sent while the bus was down
};

// A delivery on its way from the publisher to the engine.
struct Completion {
  std::shared_ptr<Call> call;
  std::size_t index = 0;
  Delivery delivery;
  bool sent = true;  // false: the engine never handed it over (stopping)
};

// Where deliveries wait for the engine thread, from any thread. The engine
// arms a wake-up before it blocks; a completion (or Stop) fires it.
class Inbox {
 public:
  void Push(Completion completion) {
    std::lock_guard<std::mutex> lock(mu_);
    items_.push_back(std::move(completion));
    if (armed_) armed_->request_stop();
    cv_.notify_all();
  }

  std::vector<Completion> Take() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Completion> out;
    out.swap(items_);
    return out;
  }

  // A token that is stopped when a completion arrives or Interrupt() is
  // called (at once if a completion is already waiting).
  std::stop_token Arm() {
    std::lock_guard<std::mutex> lock(mu_);
    armed_.emplace();
    if (!items_.empty() || interrupted_) armed_->request_stop();
    return armed_->get_token();
  }

  // Blocks until the armed token is stopped.
  void Wait(const std::stop_token& token) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, token, [] { return false; });
  }

  // Blocks until a completion is waiting, whatever Interrupt() did, or
  // `deadline` passes (false).
  bool WaitForItemsUntil(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_until(lock, deadline, [this] { return !items_.empty(); });
  }

  // Stops every wait from now on: the relay is stopping.
  void Interrupt() {
    std::lock_guard<std::mutex> lock(mu_);
    interrupted_ = true;
    if (armed_) armed_->request_stop();
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable_any cv_;
  std::vector<Completion> items_;
  std::optional<std::stop_source> armed_;
  bool interrupted_ = false;
};

// The publisher's caller: one thread that hands calls and resumed keys to
// the publisher in the order the engine queued them, so that a publisher
// that writes synchronously (a file) does so while the engine reads and
// settles.
class Handoff {
 public:
  // Once `stop` is requested nothing more is handed over.
  Handoff(Publisher& publisher, std::shared_ptr<Inbox> inbox, std::stop_token stop)
      : publisher_(publisher), inbox_(std::move(inbox)), stop_(std::move(stop)),
        thread_([this](std::stop_token) { Loop(); }) {}

  ~Handoff() { Close(); }

  void Send(std::shared_ptr<Call> call) {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(Item{std::move(call), {}});
    cv_.notify_all();
  }

  void Resume(std::vector<std::string> keys) {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(Item{nullptr, std::move(keys)});
    cv_.notify_all();
  }

  // Calls still queued are not handed over: their events come back as not
  // sent. Returns at once.
  void CancelQueued() {
    std::deque<Item> cancelled;
    {
      std::lock_guard<std::mutex> lock(mu_);
      cancelled.swap(queue_);
      cancelling_ = true;
    }
    for (Item& item : cancelled) NotSent(item.call);
  }

  // Finishes what is queued, then joins the thread.
  void Close() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closing_ = true;
      cv_.notify_all();
    }
    if (thread_.joinable()) thread_.join();
  }

 private:
  struct Item {
    std::shared_ptr<Call> call;
    std::vector<std::string> resume;
  };

  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      cv_.wait(lock, [this] { return !queue_.empty() || closing_; });
      if (queue_.empty()) return;
      Item item = std::move(queue_.front());
      queue_.pop_front();
      const bool cancelled = cancelling_ || stop_.stop_requested();
      lock.unlock();
      if (!item.resume.empty()) publisher_.Resume(item.resume);
      if (item.call != nullptr) {
        if (cancelled) {
          NotSent(item.call);
        } else {
          Publish(item.call);
        }
      }
      lock.lock();
    }
  }

  void Publish(const std::shared_ptr<Call>& call) {
    publisher_.Publish(call->events, [call, inbox = inbox_](std::size_t index, Delivery d) {
      if (index >= call->events.size()) {
        LogError("publisher reported index {} of a call of {} events", index,
                      call->events.size());
        return;
      }
      inbox->Push(Completion{call, index, std::move(d), true});
    });
  }

  void NotSent(const std::shared_ptr<Call>& call) {
    if (call == nullptr) return;
    for (std::size_t i = 0; i < call->events.size(); ++i) {
      inbox_->Push(Completion{call, i, Delivery{Outcome::kRetry, "not sent"}, false});
    }
  }

  Publisher& publisher_;
  std::shared_ptr<Inbox> inbox_;
  const std::stop_token stop_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;
  bool cancelling_ = false;
  bool closing_ = false;
  std::jthread thread_;  // last: started once the rest exists
};

// The engine's view of one key with events held.
struct KeyState {
  int in_flight = 0;  // handed over, delivery not taken in yet
  // An event of the key was not published: its events are left pending
  // until the failure is settled and nothing of the key is in flight.
  bool blocked = false;
  std::uint64_t blocked_after = 0;  // hand-over number of the failed event
  int awaiting = 0;                 // retries and dead letters not yet settled
  std::uint64_t handed = 0;         // hand-overs so far
  std::uint64_t taken = 0;          // deliveries taken in so far
  // Publishers that keep key order: deliveries that came before one of an
  // earlier hand-over of the key, taken in once it has come.
  std::map<std::uint64_t, Completion> early;
  std::deque<PendingEvent> waiting; // publishers without key order: next ones
};

// `options` within the bounds RelayOptions documents: sizes of at least 1,
// durations from kMinDuration to kMaxDuration (so that no deadline computed
// from one can overflow the clock).
RelayOptions Bounded(RelayOptions options) {
  constexpr milliseconds kMinDuration{1};
  constexpr milliseconds kMaxDuration = std::chrono::hours(24);
  options.batch_size = std::max<std::size_t>(options.batch_size, 1);
  options.max_in_flight_events = std::max<std::size_t>(options.max_in_flight_events, 1);
  for (milliseconds* d : {&options.backoff_initial, &options.backoff_max, &options.poll_interval}) {
    *d = std::clamp(*d, kMinDuration, kMaxDuration);
  }
  options.backoff_max = std::max(options.backoff_max, options.backoff_initial);
  options.shutdown_timeout = std::clamp(options.shutdown_timeout, milliseconds(0), kMaxDuration);
  return options;
}

}  // namespace

class Relay::Impl {
 public:
  Impl(Store& store, Publisher& publisher, RelayOptions options)
      : store_(store),
        publisher_(publisher),
        options_(Bounded(options)),
        clock_(options.clock != nullptr ? *options.clock : Clock::Real()),
        listener_(options.listener != nullptr ? *options.listener : NoListener()),
        backoff_(options_.backoff_initial, options_.backoff_max),
        rng_(options.seed != 0 ? options.seed : std::random_device{}()) {}

  Status Run();
  void Stop() {
    stop_.request_stop();
    inbox_->Interrupt();
  }

  RelayStats stats() const {
    RelayStats s;
    s.published = counters_.published.load();
    s.retried = counters_.retried.load();
    s.unavailable = counters_.unavailable.load();
    s.dead_lettered = counters_.dead_lettered.load();
    s.batches = counters_.batches.load();
    s.claims = counters_.claims.load();
    s.settles = counters_.settles.load();
    s.settle_failures = counters_.settle_failures.load();
    s.holds_role = counters_.holds_role.load();
    s.bus_down = counters_.bus_down.load();
    s.store_failing = counters_.store_failing.load();
    s.in_flight_events = counters_.in_flight_events.load();
    s.in_flight_bytes = counters_.in_flight_bytes.load();
    return s;
  }

 private:
  struct Counters {
    std::atomic<std::uint64_t> published{0};
    std::atomic<std::uint64_t> retried{0};
    std::atomic<std::uint64_t> unavailable{0};
    std::atomic<std::uint64_t> dead_lettered{0};
    std::atomic<std::uint64_t> batches{0};
    std::atomic<std::uint64_t> claims{0};
    std::atomic<std::uint64_t> settles{0};
    std::atomic<std::uint64_t> settle_failures{0};
    // Gauges, published after each pass of the loop.
    std::atomic<bool> holds_role{false};
    std::atomic<bool> bus_down{false};
    std::atomic<bool> store_failing{false};
    std::atomic<std::size_t> in_flight_events{0};
    std::atomic<std::size_t> in_flight_bytes{0};
  };

  // Publishes the engine thread's state to the gauges of stats().
  void PublishGauges() {
    counters_.bus_down.store(bus_down_);
    counters_.store_failing.store(store_failures_ > 0 || settle_failures_ > 0);
    counters_.in_flight_events.store(held_.size());
    counters_.in_flight_bytes.store(held_bytes_);
  }

  // What Run() does after a pass of its loop.
  enum class Next { kGoOn, kDrained, kFail };

  Next Step(std::stop_token stop, Status& failure);
  Next Claim(std::stop_token stop, Status& failure);
  bool WindowHasRoom() const;
  void Accept(std::vector<PendingEvent> events);
  void Dispatch();
  void TakeIn();
  void TakeIn(Completion& completion);
  void Process(Completion& completion);
  void BusAnswered();
  void Block(std::string_view key, KeyState& state, std::uint64_t handed);
  void Hold(const PendingEvent& p);
  void LeavePending(std::int64_t seq);
  void DropWaiting();
  void Forget(std::string_view key);
  KeyState* StateOf(std::string_view key);
  bool Settle(std::stop_token stop);
  bool SettleOnce();
  void Wait(bool store_too, std::stop_token stop);
  void Shutdown();

  Store& store_;
  Publisher& publisher_;
  RelayOptions options_;
  Clock& clock_;
  RelayListener& listener_;
  Backoff backoff_;
  std::stop_source stop_;
  Counters counters_;
  std::shared_ptr<Inbox> inbox_ = std::make_shared<Inbox>();
  std::optional<Handoff> handoff_;

  // Everything below is the engine thread's (Run()).
  std::mt19937_64 rng_;
  bool keeps_key_order_ = false;
  std::unordered_map<std::string, KeyState, StringHash, std::equal_to<>> keys_;
  // Events held between their claim and their settlement (named in every
  // claim's in_flight): seq -> bytes, and the sum of the bytes.
  std::unordered_map<std::int64_t, std::size_t> held_;
  std::size_t held_bytes_ = 0;
  std::vector<PendingEvent> ready_;  // claimed, to hand over
  int calls_in_flight_ = 0;          // handed to Handoff, not all taken in
  // Decided and not yet settled. `settling_keys_` has the key of every retry
  // and dead letter in it: its KeyState waits for the settlement.
  Settlement settlement_;
  std::vector<std::string> settling_keys_;
  std::vector<std::string> dead_ids_;  // event id of each dead letter, for the log
  std::vector<std::string> resume_;    // keys to resume after this pass
  int settle_failures_ = 0;            // consecutive
  int store_failures_ = 0;             // consecutive failed claims
  // Breaker: the bus answered kUnavailable; one probe call per backoff
  // interval until it answers again.
  bool bus_down_ = false;
  int bus_down_rounds_ = 0;
  bool probe_in_flight_ = false;
  // A claim may find something new: the last one was full, the store woke
  // the relay, a retry came due, or events were left pending for later.
  bool claim_wanted_ = true;
  bool drain_check_due_ = true;  // with exit_when_drained: claim once the window is empty
  std::optional<TimePoint> next_due_;
  bool breach_logged_ = false;
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
  LogInfo("relay started: batch size {}, window {} events / {} bytes, max attempts {}, {}",
               options_.batch_size, options_.max_in_flight_events, options_.max_in_flight_bytes,
               options_.max_attempts,
               keeps_key_order_ ? "several events of a key in flight"
                                : "one event per key in flight");
  handoff_.emplace(publisher_, inbox_, stop);
  counters_.holds_role.store(true);
  Status failure = OkStatus();
  while (!stop.stop_requested()) {
    const Next next = Step(stop, failure);
    PublishGauges();
    if (next != Next::kGoOn) break;
  }
  Shutdown();
  PublishGauges();
  counters_.holds_role.store(false);
  LogInfo("relay stopped");
  return failure;
}

// One pass: take in deliveries, hand over what is ready, claim if there is
// room and reason to, and settle what came in before blocking.
Relay::Impl::Next Relay::Impl::Step(std::stop_token stop, Status& failure) {
  TakeIn();
  if (settle_failures_ > 0) {
    // Nothing new until the store takes the settlement.
    if (!Settle(stop)) return Next::kGoOn;
  }
  Dispatch();
  if (settlement_.published.size() + settlement_.retries.size() + settlement_.dead.size() >=
      options_.batch_size) {
    if (!Settle(stop)) return Next::kGoOn;
  }
  if (stop.stop_requested()) return Next::kGoOn;

  if (bus_down_) {
    // Let the window drain, back off, then claim for one probe call.
    if (calls_in_flight_ == 0) {
      if (!settlement_.empty()) {
        Settle(stop);
        return Next::kGoOn;
      }
      if (!clock_.SleepFor(backoff_.Delay(bus_down_rounds_, rng_), stop)) return Next::kGoOn;
      return Claim(stop, failure);
    }
  } else if (claim_wanted_ && WindowHasRoom()) {
    return Claim(stop, failure);
  }
  // Nothing to do but wait: settle first what came in.
  if (!settlement_.empty()) {
    Settle(stop);
    return Next::kGoOn;
  }
  if (options_.exit_when_drained && drain_check_due_ && held_.empty() && calls_in_flight_ == 0) {
    claim_wanted_ = true;
    return Next::kGoOn;
  }
  Wait(/*store_too=*/!bus_down_ && WindowHasRoom(), stop);
  return Next::kGoOn;
}

bool Relay::Impl::WindowHasRoom() const {
  const std::size_t max = options_.max_in_flight_events;
  const std::size_t room = max - std::min(max, held_.size());
  return room >= std::min(options_.batch_size, max) && held_bytes_ < options_.max_in_flight_bytes;
}

Relay::Impl::Next Relay::Impl::Claim(std::stop_token stop, Status& failure) {
  const std::size_t max = options_.max_in_flight_events;
  const std::size_t limit = std::min(options_.batch_size, max - std::min(max, held_.size()));
  std::vector<std::int64_t> in_flight;
  in_flight.reserve(held_.size());
  for (const auto& [seq, bytes] : held_) in_flight.push_back(seq);
  counters_.claims.fetch_add(1);
  const auto started = std::chrono::steady_clock::now();
  Result<herald::Claim> claim = store_.ClaimDue(clock_.Now(), limit, in_flight);
  listener_.OnClaim(claim.has_value() ? claim->events.size() : 0, Since(started),
                    claim.has_value());
  if (!claim.has_value()) {
    const Status& error = claim.error();
    if (!error.retriable()) {
      failure = error;
      return Next::kFail;
    }
    if (++store_failures_ == 1) {
      LogWarning("claiming from the store failed, retrying with backoff: {}",
                   error.ToString());
    }
    clock_.SleepFor(backoff_.Delay(store_failures_, rng_), stop);
    return Next::kGoOn;
  }
  if (store_failures_ > 0) {
    LogInfo("store reachable again after {} failed claims", store_failures_);
    store_failures_ = 0;
  }
  const bool full = claim->events.size() >= limit;
  next_due_ = full ? std::nullopt : claim->next_due;
  // Whether nothing is pending is known only from a claim that found
  // nothing and excluded nothing.
  const bool window_empty = held_.empty() && calls_in_flight_ == 0 && settlement_.empty();
  drain_check_due_ = !(claim->events.empty() && window_empty);
  if (claim->events.empty()) {
    claim_wanted_ = false;
    if (options_.exit_when_drained && !claim->next_due.has_value() && window_empty) {
      return Next::kDrained;
    }
    return Next::kGoOn;
  }
  const std::size_t held_before = held_.size();
  Accept(std::move(claim->events));
  // A full claim that brought nothing into the window (every event of it
  // behind a failure) is not repeated before something changes.
  claim_wanted_ = full && held_.size() > held_before;
  // While the bus is down the ready events are the probe: one call. Events
  // waiting behind them go once they are published, or are left pending.
  if (bus_down_) probe_in_flight_ = !ready_.empty();
  Dispatch();
  return Next::kGoOn;
}

void Relay::Impl::Hold(const PendingEvent& p) {
  const std::size_t bytes = EventBytes(p.event);
  if (held_.emplace(p.seq, bytes).second) held_bytes_ += bytes;
}

// Takes claimed events into the window: ready to hand over, waiting behind
// an earlier event of their key, or left pending (their key is blocked).
void Relay::Impl::Accept(std::vector<PendingEvent> events) {
  for (PendingEvent& p : events) {
    if (!p.event.key.empty()) {
      KeyState* state = StateOf(p.event.key);
      if (state != nullptr && state->blocked) continue;  // a later claim returns it
      if (!keeps_key_order_ && state != nullptr &&
          (state->in_flight > 0 || !state->waiting.empty())) {
        Hold(p);
        state->waiting.push_back(std::move(p));
        continue;
      }
      if (!keeps_key_order_) {
        // The first of its key: later ones of this claim wait behind it.
        KeyState& fresh = keys_.try_emplace(p.event.key).first->second;
        ++fresh.in_flight;  // counted as handed over from here on
      }
    }
    Hold(p);
    ready_.push_back(std::move(p));
  }
}

// Hands the ready events to the publisher, at most a batch per call; while
// the bus is down, only the probe call.
void Relay::Impl::Dispatch() {
  if (ready_.empty()) return;
  const bool probe = bus_down_ && probe_in_flight_;
  std::size_t start = 0;
  while (start < ready_.size()) {
    const std::size_t end = std::min(ready_.size(), start + options_.batch_size);
    auto call = std::make_shared<Call>();
    call->events.reserve(end - start);
    call->slots.reserve(end - start);
    for (std::size_t i = start; i < end; ++i) {
      PendingEvent& p = ready_[i];
      Slot slot{p.seq, p.attempts, 0};
      if (!p.event.key.empty()) {
        KeyState& state = keys_.try_emplace(p.event.key).first->second;
        if (keeps_key_order_) ++state.in_flight;  // else counted when it became ready
        slot.handed = ++state.handed;
      }
      call->events.push_back(std::move(p.event));
      call->slots.push_back(slot);
    }
    call->unprocessed = call->events.size();
    call->probe = probe;
    ++calls_in_flight_;
    counters_.batches.fetch_add(1);
    handoff_->Send(std::move(call));
    start = end;
    if (probe) break;
  }
  for (std::size_t i = start; i < ready_.size(); ++i) {
    if (KeyState* state = StateOf(ready_[i].event.key); state != nullptr && !keeps_key_order_) {
      --state->in_flight;
    }
    LeavePending(ready_[i].seq);
    Forget(ready_[i].event.key);
  }
  ready_.clear();
}

KeyState* Relay::Impl::StateOf(std::string_view key) {
  if (key.empty()) return nullptr;
  auto it = keys_.find(key);
  return it == keys_.end() ? nullptr : &it->second;
}

void Relay::Impl::TakeIn() {
  std::vector<Completion> completions = inbox_->Take();
  for (Completion& c : completions) TakeIn(c);
  if (!resume_.empty()) {
    handoff_->Resume(std::move(resume_));
    resume_.clear();
  }
}

// Takes in one delivery. Deliveries of a key are taken in in hand-over
// order (a publisher that keeps key order may report them in any order), so
// that an event held back behind an earlier failure is known as such.
void Relay::Impl::TakeIn(Completion& c) {
  const std::string_view key = c.call->events[c.index].key;
  if (!keeps_key_order_ || key.empty()) {
    Process(c);
    return;
  }
  KeyState* state = StateOf(key);  // exists while one of its events is in flight
  if (state == nullptr) {  // cannot happen: its hand-over made the state
    Process(c);
    return;
  }
  if (c.call->slots[c.index].handed != state->taken + 1) {
    state->early.emplace(c.call->slots[c.index].handed, std::move(c));
    return;
  }
  std::shared_ptr<Call> keep = c.call;  // `key` points into it
  Process(c);
  while ((state = StateOf(key)) != nullptr) {
    auto it = state->early.find(state->taken + 1);
    if (it == state->early.end()) break;
    Completion next = std::move(it->second);
    state->early.erase(it);
    Process(next);
  }
}

// Takes in one delivery: into the settlement or left pending, and what it
// means for its key and for the breaker.
void Relay::Impl::Process(Completion& c) {
  Call& call = *c.call;
  const Slot& slot = call.slots[c.index];
  const Event& event = call.events[c.index];
  KeyState* state = StateOf(event.key);
  if (state != nullptr) {
    --state->in_flight;
    ++state->taken;
  }
  // Failed because an earlier event of its key failed: left as it is.
  const bool after_failure =
      state != nullptr && state->blocked && slot.handed > state->blocked_after;
  const Delivery& d = c.delivery;

  if (!c.sent) {
    LeavePending(slot.seq);
  } else if (d.outcome == Outcome::kPublished) {
    if (after_failure && !breach_logged_) {
      breach_logged_ = true;
      LogError("publisher broke its key-order guarantee: event {} of key '{}' was "
                    "published after an earlier event of its key failed",
                    event.id.ToString(), event.key);
    }
    settlement_.published.push_back(slot.seq);
    listener_.OnPublished(event, std::max(milliseconds(0), std::chrono::duration_cast<milliseconds>(
                                                             clock_.Now() - event.created_at)));
    BusAnswered();
    if (state != nullptr && !state->waiting.empty() && !state->blocked) {
      ++state->in_flight;
      ready_.push_back(std::move(state->waiting.front()));
      state->waiting.pop_front();
    }
  } else if (d.outcome == Outcome::kUnavailable) {
    counters_.unavailable.fetch_add(1);
    LeavePending(slot.seq);
    if (state != nullptr) Block(event.key, *state, slot.handed);
    if (!bus_down_) {
      LogWarning("bus unavailable, backing off: {}", d.error);
      bus_down_ = true;
      bus_down_rounds_ = 1;
      listener_.OnBusState(false);
      DropWaiting();
    }
  } else if (after_failure) {
    LeavePending(slot.seq);
  } else {
    // kRetry or kRejected: the event's own failure, counted.
    BusAnswered();
    const int attempts = slot.attempts + 1;
    if (d.outcome == Outcome::kRejected) {
      settlement_.dead.push_back({slot.seq, d.error});
      dead_ids_.push_back(event.id.ToString());
      listener_.OnDeadLetter(event, settlement_.dead.back().error);
    } else if (options_.max_attempts > 0 && attempts >= options_.max_attempts) {
      settlement_.dead.push_back(
          {slot.seq, fmt::format("gave up after {} attempts: {}", attempts, d.error)});
      dead_ids_.push_back(event.id.ToString());
      listener_.OnDeadLetter(event, settlement_.dead.back().error);
    } else {
      settlement_.retries.push_back(
          {slot.seq, clock_.Now() + backoff_.Delay(attempts, rng_), d.error});
      listener_.OnRetry(event, d.error);
    }
    if (state != nullptr) {
      ++state->awaiting;
      settling_keys_.push_back(event.key);
      Block(event.key, *state, slot.handed);
    }
  }

  if (--call.unprocessed == 0) {
    --calls_in_flight_;
    if (call.probe) {
      probe_in_flight_ = false;
      if (bus_down_) ++bus_down_rounds_;
    }
  }
  Forget(event.key);
}

// Closes the breaker: the bus answered.
void Relay::Impl::BusAnswered() {
  if (!bus_down_) return;
  LogInfo("bus available again after {} probes", bus_down_rounds_);
  bus_down_ = false;
  bus_down_rounds_ = 0;
  listener_.OnBusState(true);
}

// Holds `key` back after a failure of its event handed over as `handed`:
// its later events in flight are left pending when they come back, its
// waiting events are left pending now, and claims leave it alone until the
// failure is settled and nothing of it is in flight.
void Relay::Impl::Block(std::string_view key, KeyState& state, std::uint64_t handed) {
  if (!state.blocked || handed < state.blocked_after) state.blocked_after = handed;
  state.blocked = true;
  for (PendingEvent& p : state.waiting) LeavePending(p.seq);
  state.waiting.clear();
  if (keeps_key_order_) resume_.emplace_back(key);
}

// An event leaves the window without a settlement: it stays pending in the
// store, and a later claim returns it.
void Relay::Impl::LeavePending(std::int64_t seq) {
  auto it = held_.find(seq);
  if (it == held_.end()) return;
  held_bytes_ -= std::min(held_bytes_, it->second);
  held_.erase(it);
  claim_wanted_ = true;
}

// Events waiting behind an earlier one of their key are left pending.
void Relay::Impl::DropWaiting() {
  for (auto& [key, state] : keys_) {
    for (PendingEvent& p : state.waiting) LeavePending(p.seq);
    state.waiting.clear();
  }
  std::erase_if(keys_, [](const auto& entry) {
    const KeyState& s = entry.second;
    return s.in_flight == 0 && s.awaiting == 0 && s.waiting.empty() && !s.blocked;
  });
}

// Drops the state of `key` once nothing of it is held.
void Relay::Impl::Forget(std::string_view key) {
  auto it = key.empty() ? keys_.end() : keys_.find(key);
  if (it == keys_.end()) return;
  const KeyState& s = it->second;
  if (s.in_flight > 0 || s.awaiting > 0 || !s.waiting.empty()) return;
  if (s.blocked) claim_wanted_ = true;  // its events left pending may go now
  keys_.erase(it);
}

// Applies the settlement of what was taken in. On failure it is kept (and
// grows with what comes in), the relay backs off and the next pass tries
// again; until it succeeds nothing new is claimed, and nothing of it is
// published again. Returns true on success.
bool Relay::Impl::Settle(std::stop_token stop) {
  if (SettleOnce()) {
    if (settle_failures_ > 0) {
      LogInfo("settling works again after {} failed tries", settle_failures_);
      settle_failures_ = 0;
    }
    return true;
  }
  clock_.SleepFor(backoff_.Delay(settle_failures_, rng_), stop);
  return false;
}

bool Relay::Impl::SettleOnce() {
  const std::size_t n =
      settlement_.published.size() + settlement_.retries.size() + settlement_.dead.size();
  if (n == 0) return true;
  const auto started = std::chrono::steady_clock::now();
  Status s = store_.Settle(settlement_, clock_.Now());
  listener_.OnSettle(n, Since(started), s.ok());
  if (!s.ok()) {
    counters_.settle_failures.fetch_add(1);
    if (++settle_failures_ == 1) {
      LogError("settling {} delivered events failed: {}; retrying with backoff, and "
                    "claiming nothing new until it succeeds",
                    n, s.ToString());
    }
    return false;
  }
  counters_.settles.fetch_add(1);
  counters_.published.fetch_add(settlement_.published.size());
  counters_.retried.fetch_add(settlement_.retries.size());
  counters_.dead_lettered.fetch_add(settlement_.dead.size());
  for (std::size_t i = 0; i < settlement_.dead.size(); ++i) {
    LogWarning("event {} (seq {}) moved to the dead-letter table: {}", dead_ids_[i],
                 settlement_.dead[i].seq, settlement_.dead[i].error);
  }
  auto release = [this](std::int64_t seq) {
    auto it = held_.find(seq);
    if (it == held_.end()) return;
    held_bytes_ -= std::min(held_bytes_, it->second);
    held_.erase(it);
  };
  for (std::int64_t seq : settlement_.published) release(seq);
  for (const Settlement::Retry& r : settlement_.retries) release(r.seq);
  for (const Settlement::Dead& d : settlement_.dead) release(d.seq);
  // Retries and dead letters change what the store holds back.
  if (!settlement_.retries.empty() || !settlement_.dead.empty()) claim_wanted_ = true;
  settlement_ = Settlement{};
  dead_ids_.clear();
  std::vector<std::string> keys;
  keys.swap(settling_keys_);
  for (const std::string& key : keys) {
    if (KeyState* state = StateOf(key); state != nullptr) --state->awaiting;
    Forget(key);
  }
  return true;
}

// Blocks until a delivery arrives or Stop(); with `store_too` also until
// the store may have new work, the next retry comes due, or the poll
// interval passes.
void Relay::Impl::Wait(bool store_too, std::stop_token stop) {
  std::stop_token woken = inbox_->Arm();
  std::stop_callback on_stop(stop, [this] { inbox_->Interrupt(); });
  if (!store_too) {
    inbox_->Wait(woken);
    return;
  }
  const TimePoint now = clock_.Now();
  const bool due_soon = next_due_.has_value() && *next_due_ - now < options_.poll_interval;
  if (due_soon && calls_in_flight_ == 0) {
    // On the relay's clock, so that a test clock makes a retry's backoff
    // take no time.
    auto wait = std::chrono::duration_cast<std::chrono::nanoseconds>(*next_due_ - now);
    if (clock_.SleepFor(std::max<std::chrono::nanoseconds>(wait, kMinIdleSleep), woken)) {
      claim_wanted_ = true;
    }
    return;
  }
  milliseconds timeout = options_.poll_interval;
  if (due_soon) {
    timeout = std::max(kMinIdleSleep, std::chrono::ceil<milliseconds>(*next_due_ - now));
  }
  if (Status s = store_.WaitForWork(timeout, woken); !s.ok()) {
    LogWarning("waiting for work failed: {}", s.ToString());
    clock_.SleepFor(options_.poll_interval, woken);
  }
  if (!woken.stop_requested()) claim_wanted_ = true;
}

// Stop: nothing new goes out; what went out is taken in and settled.
void Relay::Impl::Shutdown() {
  if (!handoff_.has_value()) return;
  for (PendingEvent& p : ready_) {
    if (KeyState* state = StateOf(p.event.key); state != nullptr && !keeps_key_order_) {
      --state->in_flight;
    }
    LeavePending(p.seq);
  }
  ready_.clear();
  DropWaiting();
  handoff_->CancelQueued();
  TakeIn();
  const auto deadline = std::chrono::steady_clock::now() + options_.shutdown_timeout;
  while (calls_in_flight_ > 0) {
    if (!inbox_->WaitForItemsUntil(deadline)) {
      LogWarning("stopping with {} events on the bus unconfirmed after {} ms: they stay "
                   "pending and will be published again",
                   held_.size(), options_.shutdown_timeout.count());
      break;
    }
    TakeIn();
  }
  handoff_->Close();
  std::stop_token never;
  for (int attempt = 1; !settlement_.empty(); ++attempt) {
    if (SettleOnce()) break;
    if (attempt >= kStopSettleAttempts) {
      LogError("stopping with delivered events not settled: they stay pending and will "
                    "be published again");
      break;
    }
    clock_.SleepFor(backoff_.Delay(attempt, rng_), never);
  }
}

Relay::Relay(Store& store, Publisher& publisher, RelayOptions options)
    : impl_(std::make_unique<Impl>(store, publisher, options)) {}

Relay::~Relay() = default;

Status Relay::Run() { return impl_->Run(); }

void Relay::Stop() { impl_->Stop(); }

RelayStats Relay::stats() const { return impl_->stats(); }

}  // namespace herald
