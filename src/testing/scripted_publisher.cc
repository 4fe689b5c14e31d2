#include "testing/scripted_publisher.h"

#include <algorithm>

namespace herald::testing {

ScriptedPublisher::ScriptedPublisher(Options options) : options_(options) {}

ScriptedPublisher::~ScriptedPublisher() { JoinReporters(); }

void ScriptedPublisher::JoinReporters() {
  std::vector<std::jthread> reporters;
  {
    std::lock_guard<std::mutex> lock(mu_);
    reporters.swap(reporters_);
  }
  // Each std::jthread joins as it is destroyed here, outside the lock.
}

Guarantees ScriptedPublisher::guarantees() const {
  return {.keeps_key_order = options_.keeps_key_order,
          .deduplicates_by_id = options_.deduplicates_by_id};
}

void ScriptedPublisher::Publish(std::span<const Event> events, DeliveryCallback on_delivery) {
  JoinReporters();
  std::function<void(int)> hook;
  int call = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    call = ++calls_;
    max_call_size_ = std::max(max_call_size_, events.size());
    hook = on_call_;
  }
  if (hook) hook(call);

  std::vector<Report> reports;
  std::size_t inline_count = events.size();
  std::chrono::milliseconds delay{0};
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::set<std::string> failed_keys;
    for (std::size_t i = 0; i < events.size(); ++i) {
      reports.emplace_back(i, DecideLocked(events[i], call, failed_keys));
    }
    if (shuffle_rng_.has_value()) {
      std::shuffle(reports.begin(), reports.end(), *shuffle_rng_);
      inline_count = std::uniform_int_distribution<std::size_t>(0, reports.size())(*shuffle_rng_);
    }
    if (slow_delay_.has_value()) {
      inline_count = 0;
      delay = *slow_delay_;
    }
  }

  std::vector<Report> later(std::make_move_iterator(reports.begin() + inline_count),
                            std::make_move_iterator(reports.end()));
  reports.resize(inline_count);
  ReportAll(std::move(reports), on_delivery);
  if (later.empty()) return;

  std::lock_guard<std::mutex> lock(mu_);
  reporters_.emplace_back([later = std::move(later), on_delivery, delay]() mutable {
    for (Report& report : later) {
      if (delay.count() > 0) std::this_thread::sleep_for(delay);
      on_delivery(report.first, std::move(report.second));
    }
  });
}

void ScriptedPublisher::ReportAll(std::vector<Report> reports,
                                  const DeliveryCallback& on_delivery) {
  for (Report& report : reports) on_delivery(report.first, std::move(report.second));
}

Delivery ScriptedPublisher::DecideLocked(const Event& event, int call,
                                         std::set<std::string>& failed_keys) {
  Delivery delivery = [&]() -> Delivery {
    if (options_.keeps_key_order && !event.key.empty() && failed_keys.contains(event.key)) {
      return {Outcome::kRetry, "an earlier event of the key failed in this call"};
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
  if (delivery.outcome != Outcome::kPublished && !event.key.empty()) {
    failed_keys.insert(event.key);
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
