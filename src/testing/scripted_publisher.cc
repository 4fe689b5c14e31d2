#include "testing/scripted_publisher.h"

#include <algorithm>
#include <iterator>

namespace herald::testing {

ScriptedPublisher::ScriptedPublisher(Options options) : options_(options) {}

ScriptedPublisher::~ScriptedPublisher() {
  ReleaseAll();
  if (reporter_.joinable()) {
    reporter_.request_stop();
    reporter_.join();  // after everything scheduled was reported
  }
}

Guarantees ScriptedPublisher::guarantees() const {
  return {.keeps_key_order = options_.keeps_key_order,
          .deduplicates_by_id = options_.deduplicates_by_id};
}

void ScriptedPublisher::Publish(std::span<const Event> events, DeliveryCallback on_delivery) {
  std::function<void(int)> hook;
  int call = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    call = ++calls_;
    max_call_size_ = std::max(max_call_size_, events.size());
    if (!events.empty()) {
      undelivered_[call] = events.size();
      max_outstanding_ = std::max(max_outstanding_, static_cast<int>(undelivered_.size()));
    }
    hook = on_call_;
  }
  if (hook) hook(call);

  std::vector<Report> now;
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Report> held;
    for (std::size_t i = 0; i < events.size(); ++i) {
      Report report{i, DecideLocked(events[i], call), events[i].key};
      if (!report.key.empty()) {
        int& n = in_flight_per_key_[report.key];
        max_in_flight_per_key_ = std::max(max_in_flight_per_key_, ++n);
      }
      if (holding_ || (hold_matcher_.has_value() && (*hold_matcher_)(events[i]))) {
        held.push_back(std::move(report));
      } else {
        now.push_back(std::move(report));
      }
    }
    std::vector<Report> later;
    if (slow_delay_.has_value()) {
      later = std::move(now);
      now.clear();
    } else if (shuffle_rng_.has_value()) {
      std::shuffle(now.begin(), now.end(), *shuffle_rng_);
      const std::size_t inline_count =
          std::uniform_int_distribution<std::size_t>(0, now.size())(*shuffle_rng_);
      later.assign(std::make_move_iterator(now.begin() + static_cast<std::ptrdiff_t>(inline_count)),
                   std::make_move_iterator(now.end()));
      now.resize(inline_count);
    }
    if (!held.empty()) held_.push_back(Pending{call, std::move(held), on_delivery});
    if (!later.empty()) ScheduleLocked(Pending{call, std::move(later), on_delivery});
  }
  ReportAll(call, std::move(now), on_delivery);
}

void ScriptedPublisher::Resume(std::span<const std::string> keys) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const std::string& key : keys) closed_keys_.erase(key);
}

void ScriptedPublisher::ReportAll(int call, std::vector<Report> reports,
                                  const DeliveryCallback& on_delivery) {
  if (reports.empty()) return;
  {
    // Counted out before the report: the caller may hand the key over again
    // from inside on_delivery.
    std::lock_guard<std::mutex> lock(mu_);
    for (const Report& report : reports) {
      if (!report.key.empty()) --in_flight_per_key_[report.key];
    }
  }
  const std::size_t n = reports.size();
  for (Report& report : reports) on_delivery(report.index, std::move(report.delivery));
  std::lock_guard<std::mutex> lock(mu_);
  auto it = undelivered_.find(call);
  if (it != undelivered_.end() && (it->second -= n) == 0) undelivered_.erase(it);
}

void ScriptedPublisher::ScheduleLocked(Pending pending) {
  scheduled_.push_back(std::move(pending));
  if (!reporter_.joinable()) {
    reporter_ = std::jthread([this](std::stop_token stop) { ReporterLoop(stop); });
  }
  reporter_cv_.notify_all();
}

void ScriptedPublisher::ReporterLoop(std::stop_token stop) {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    reporter_cv_.wait(lock, stop, [this] { return !scheduled_.empty(); });
    if (scheduled_.empty()) return;  // stopping, and everything was reported
    Pending pending = std::move(scheduled_.front());
    scheduled_.pop_front();
    const std::optional<std::chrono::milliseconds> delay = slow_delay_;
    lock.unlock();
    if (delay.has_value()) {
      for (Report& report : pending.reports) {
        std::this_thread::sleep_for(*delay);
        ReportAll(pending.call, {std::move(report)}, pending.on_delivery);
      }
    } else {
      ReportAll(pending.call, std::move(pending.reports), pending.on_delivery);
    }
    lock.lock();
  }
}

void ScriptedPublisher::HoldConfirmations() {
  std::lock_guard<std::mutex> lock(mu_);
  holding_ = true;
}

void ScriptedPublisher::HoldConfirmations(EventMatcher matcher) {
  std::lock_guard<std::mutex> lock(mu_);
  hold_matcher_ = std::move(matcher);
}

bool ScriptedPublisher::Release(int call) {
  Pending pending;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = std::find_if(held_.begin(), held_.end(),
                           [call](const Pending& p) { return p.call == call; });
    if (it == held_.end()) return false;
    pending = std::move(*it);
    held_.erase(it);
  }
  ReportAll(pending.call, std::move(pending.reports), pending.on_delivery);
  return true;
}

void ScriptedPublisher::ReleaseAll() {
  std::vector<Pending> held;
  {
    std::lock_guard<std::mutex> lock(mu_);
    holding_ = false;
    hold_matcher_.reset();
    held.swap(held_);
  }
  for (Pending& p : held) ReportAll(p.call, std::move(p.reports), p.on_delivery);
}

std::vector<int> ScriptedPublisher::held_calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<int> calls;
  for (const Pending& p : held_) calls.push_back(p.call);
  return calls;
}

Delivery ScriptedPublisher::DecideLocked(const Event& event, int call) {
  Delivery delivery = [&]() -> Delivery {
    if (options_.keeps_key_order && !event.key.empty() && closed_keys_.contains(event.key)) {
      return {Outcome::kRetry, "held back: an earlier event of the key was not published"};
    }
    if (DownLocked(call)) return {Outcome::kUnavailable, "scripted outage"};
    if (auto it = failed_calls_.find(call); it != failed_calls_.end()) {
      return {Outcome::kRetry, it->second};
    }
    for (const Rule& rule : rejections_) {
      if (rule.matcher(event)) return {Outcome::kRejected, rule.error};
    }
    for (Rule& rule : failures_) {
      if (rule.times != 0 && rule.matcher(event)) {
        if (rule.times > 0) --rule.times;
        return {Outcome::kRetry, rule.error};
      }
    }
    if (random_failure_.has_value() && (*random_failure_)(failure_rng_)) {
      return {Outcome::kRetry, "scripted random failure"};
    }
    arrivals_.push_back({event.id, event.key, event.topic, call});
    if (lost_confirmations_.erase(event.id) > 0) {
      return {Outcome::kRetry, "confirmation lost"};
    }
    return {Outcome::kPublished, ""};
  }();
  if (options_.keeps_key_order && delivery.outcome != Outcome::kPublished &&
      !event.key.empty()) {
    closed_keys_.insert(event.key);
  }
  offers_.push_back({event.id, event.key, call, delivery.outcome});
  return delivery;
}

bool ScriptedPublisher::DownLocked(int call) const {
  for (const auto& [from, to] : down_calls_) {
    if (call >= from && call <= to) return true;
  }
  return down_clock_ != nullptr && down_clock_->Now() < down_until_;
}

void ScriptedPublisher::FailCall(int n, std::string error) {
  std::lock_guard<std::mutex> lock(mu_);
  failed_calls_[n] = std::move(error);
}

void ScriptedPublisher::GoDown(int from_call, int to_call) {
  std::lock_guard<std::mutex> lock(mu_);
  down_calls_.emplace_back(from_call, to_call);
}

void ScriptedPublisher::DownUntil(Clock& clock, TimePoint until) {
  std::lock_guard<std::mutex> lock(mu_);
  down_clock_ = &clock;
  down_until_ = until;
}

void ScriptedPublisher::Reject(EventId id, std::string error) {
  Reject([id](const Event& e) { return e.id == id; }, std::move(error));
}

void ScriptedPublisher::Reject(EventMatcher matcher, std::string error) {
  std::lock_guard<std::mutex> lock(mu_);
  rejections_.push_back({std::move(matcher), std::move(error), -1});
}

void ScriptedPublisher::Fail(EventMatcher matcher, std::string error, int times) {
  std::lock_guard<std::mutex> lock(mu_);
  failures_.push_back({std::move(matcher), std::move(error), times});
}

void ScriptedPublisher::FailRandomly(double probability, std::uint64_t seed) {
  std::lock_guard<std::mutex> lock(mu_);
  random_failure_.emplace(probability);
  failure_rng_.seed(seed);
}

void ScriptedPublisher::LoseConfirmation(EventId id) {
  std::lock_guard<std::mutex> lock(mu_);
  lost_confirmations_.insert(id);
}

void ScriptedPublisher::ConfirmOutOfOrder(std::uint64_t seed) {
  std::lock_guard<std::mutex> lock(mu_);
  shuffle_rng_.emplace(seed);
}

void ScriptedPublisher::ConfirmSlowly(std::chrono::milliseconds delay) {
  std::lock_guard<std::mutex> lock(mu_);
  slow_delay_ = delay;
}

void ScriptedPublisher::OnCall(std::function<void(int call)> hook) {
  std::lock_guard<std::mutex> lock(mu_);
  on_call_ = std::move(hook);
}

std::vector<Arrival> ScriptedPublisher::arrivals() const {
  std::lock_guard<std::mutex> lock(mu_);
  return arrivals_;
}

std::vector<Offer> ScriptedPublisher::offers() const {
  std::lock_guard<std::mutex> lock(mu_);
  return offers_;
}

int ScriptedPublisher::calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return calls_;
}

std::size_t ScriptedPublisher::max_call_size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return max_call_size_;
}

int ScriptedPublisher::outstanding_calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(undelivered_.size());
}

int ScriptedPublisher::max_outstanding_calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return max_outstanding_;
}

int ScriptedPublisher::max_in_flight_per_key() const {
  std::lock_guard<std::mutex> lock(mu_);
  return max_in_flight_per_key_;
}

std::set<EventId> ScriptedPublisher::DeliveredIds() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::set<EventId> ids;
  for (const Arrival& a : arrivals_) ids.insert(a.id);
  return ids;
}

std::map<std::string, std::vector<EventId>> ScriptedPublisher::FirstDeliveryOrderByKey() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, std::vector<EventId>> order;
  std::set<EventId> seen;
  for (const Arrival& a : arrivals_) {
    if (seen.insert(a.id).second) order[a.key].push_back(a.id);
  }
  return order;
}

std::map<EventId, int> ScriptedPublisher::Duplicates() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<EventId, int> counts;
  for (const Arrival& a : arrivals_) ++counts[a.id];
  std::erase_if(counts, [](const auto& entry) { return entry.second < 2; });
  return counts;
}

}  // namespace herald::testing
