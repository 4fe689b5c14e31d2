#include "testing/scripted_publisher.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "testing/fake_clock.h"

namespace herald::testing {
namespace {

using std::chrono::milliseconds;

// Collects the deliveries of one Publish() call, from any thread.
class Collector {
 public:
  explicit Collector(std::size_t n) : deliveries_(n) {}

  Publisher::DeliveryCallback Callback() {
    return [this](std::size_t index, Delivery delivery) {
      std::lock_guard<std::mutex> lock(mu_);
      ASSERT_LT(index, deliveries_.size());
      EXPECT_FALSE(deliveries_[index].has_value()) << "index " << index << " reported twice";
      deliveries_[index] = std::move(delivery);
      order_.push_back(index);
      if (std::this_thread::get_id() != caller_) ++from_other_threads_;
      ++reported_;
      cv_.notify_all();
    };
  }

  // Reports made on a thread other than the one that made the Collector.
  std::size_t from_other_threads() {
    std::lock_guard<std::mutex> lock(mu_);
    return from_other_threads_;
  }

  // Waits for every delivery; returns the outcomes in index order.
  std::vector<Outcome> Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return reported_ == deliveries_.size(); });
    std::vector<Outcome> out;
    for (const auto& d : deliveries_) out.push_back(d->outcome);
    return out;
  }

  std::vector<std::size_t> order() {
    std::lock_guard<std::mutex> lock(mu_);
    return order_;
  }

  std::string error(std::size_t i) {
    std::lock_guard<std::mutex> lock(mu_);
    return deliveries_[i]->error;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::optional<Delivery>> deliveries_;
  std::vector<std::size_t> order_;
  std::size_t reported_ = 0;
  std::size_t from_other_threads_ = 0;
  const std::thread::id caller_ = std::this_thread::get_id();
};

std::vector<Event> MakeEvents(const std::vector<std::string>& keys) {
  std::vector<Event> events;
  for (const std::string& key : keys) events.push_back(Event::Make("t", key, "T", "{}"));
  return events;
}

std::vector<Outcome> PublishAndWait(ScriptedPublisher& publisher,
                                    const std::vector<Event>& events) {
  Collector collector(events.size());
  publisher.Publish(events, collector.Callback());
  return collector.Wait();
}

std::set<EventId> Ids(const std::vector<Event>& events) {
  std::set<EventId> ids;
  for (const Event& e : events) ids.insert(e.id);
  return ids;
}

constexpr Outcome kOk = Outcome::kPublished;
constexpr Outcome kRetry = Outcome::kRetry;

TEST(FakeClockTest, StartsAtEpochAndSleepsInstantly) {
  FakeClock clock;
  EXPECT_EQ(FormatRfc3339(clock.Now()), "2026-01-01T00:00:00.000Z");
  std::stop_source stop;
  EXPECT_TRUE(clock.SleepFor(std::chrono::hours(5), stop.get_token()));
  clock.Advance(milliseconds(250));
  EXPECT_EQ(FormatRfc3339(clock.Now()), "2026-01-01T05:00:00.250Z");
  EXPECT_EQ(clock.sleeps(), 1u);

  stop.request_stop();
  EXPECT_FALSE(clock.SleepFor(std::chrono::hours(1), stop.get_token()));
  EXPECT_EQ(FormatRfc3339(clock.Now()), "2026-01-01T05:00:00.250Z");
}

TEST(ScriptedPublisherTest, RecordsEveryArrivalInOrder) {
  ScriptedPublisher publisher;
  std::vector<Event> first = MakeEvents({"a", "b", ""});
  std::vector<Event> second = MakeEvents({"a"});
  EXPECT_EQ(PublishAndWait(publisher, first), std::vector<Outcome>({kOk, kOk, kOk}));
  EXPECT_EQ(PublishAndWait(publisher, second), std::vector<Outcome>({kOk}));

  std::vector<Arrival> arrivals = publisher.arrivals();
  ASSERT_EQ(arrivals.size(), 4u);
  EXPECT_EQ(arrivals[0].id, first[0].id);
  EXPECT_EQ(arrivals[1].key, "b");
  EXPECT_EQ(arrivals[3].id, second[0].id);
  EXPECT_EQ(arrivals[3].call, 2);
  EXPECT_EQ(publisher.calls(), 2);
  EXPECT_EQ(publisher.max_call_size(), 3u);
  EXPECT_EQ(publisher.FirstDeliveryOrderByKey().at("a"),
            std::vector<EventId>({first[0].id, second[0].id}));
  EXPECT_TRUE(publisher.Duplicates().empty());
}

TEST(ScriptedPublisherTest, FailedCallAndOutagesDeliverNothing) {
  FakeClock clock;
  ScriptedPublisher publisher;
  publisher.FailCall(2, "broker restarting");
  publisher.GoDown(3, 3);
  publisher.DownUntil(clock, clock.Now() + std::chrono::minutes(1));
  std::vector<Event> events = MakeEvents({"a", "b"});

  const std::vector<Outcome> down(2, Outcome::kUnavailable);
  EXPECT_EQ(PublishAndWait(publisher, events), down);  // call 1: before `until`
  clock.Advance(std::chrono::minutes(1));
  EXPECT_EQ(PublishAndWait(publisher, events), std::vector<Outcome>({kRetry, kRetry}));
  EXPECT_EQ(PublishAndWait(publisher, events), down);  // call 3: GoDown
  EXPECT_TRUE(publisher.arrivals().empty());
  EXPECT_EQ(PublishAndWait(publisher, events), std::vector<Outcome>({kOk, kOk}));
  EXPECT_EQ(publisher.arrivals().size(), 2u);
}

TEST(ScriptedPublisherTest, RejectsAndFailsMatchingEvents) {
  ScriptedPublisher publisher;
  std::vector<Event> events = MakeEvents({"a", "b", "c"});
  publisher.Reject(events[0].id, "message too large");
  publisher.Fail([](const Event& e) { return e.key == "b"; }, "leader moved", 2);

  Collector collector(3);
  publisher.Publish(events, collector.Callback());
  EXPECT_EQ(collector.Wait(), std::vector<Outcome>({Outcome::kRejected, kRetry, kOk}));
  EXPECT_EQ(collector.error(0), "message too large");
  EXPECT_EQ(collector.error(1), "leader moved");
  EXPECT_EQ(PublishAndWait(publisher, {events[1]}), std::vector<Outcome>({kRetry}));
  EXPECT_EQ(PublishAndWait(publisher, {events[1]}), std::vector<Outcome>({kOk}));
  EXPECT_EQ(PublishAndWait(publisher, {events[0]}), std::vector<Outcome>({Outcome::kRejected}));
  EXPECT_EQ(publisher.DeliveredIds(), std::set<EventId>({events[1].id, events[2].id}));

  std::vector<Offer> offers = publisher.offers();
  ASSERT_EQ(offers.size(), 6u);
  EXPECT_EQ(offers[1].id, events[1].id);
  EXPECT_EQ(offers[1].outcome, kRetry);
  EXPECT_EQ(offers[4].call, 3);
  EXPECT_EQ(offers[4].outcome, kOk);
}

TEST(ScriptedPublisherTest, LostConfirmationDeliversThenReportsRetryOnce) {
  ScriptedPublisher publisher;
  std::vector<Event> events = MakeEvents({"a"});
  publisher.LoseConfirmation(events[0].id);
  EXPECT_EQ(PublishAndWait(publisher, events), std::vector<Outcome>({kRetry}));
  EXPECT_EQ(publisher.DeliveredIds(), std::set<EventId>({events[0].id}));
  EXPECT_EQ(PublishAndWait(publisher, events), std::vector<Outcome>({kOk}));
  EXPECT_EQ(publisher.Duplicates(), (std::map<EventId, int>{{events[0].id, 2}}));
}

TEST(ScriptedPublisherTest, KeepsKeyOrderWhenItSaysSo) {
  ScriptedPublisher publisher({.keeps_key_order = true});
  EXPECT_TRUE(publisher.guarantees().keeps_key_order);
  std::vector<Event> events = MakeEvents({"a", "b", "a", "a", "b"});
  publisher.Fail([&](const Event& e) { return e.id == events[0].id; }, "timeout", 1);
  EXPECT_EQ(PublishAndWait(publisher, events),
            std::vector<Outcome>({kRetry, kOk, kRetry, kRetry, kOk}));
  EXPECT_EQ(publisher.DeliveredIds(), std::set<EventId>({events[1].id, events[4].id}));
}

TEST(ScriptedPublisherTest, OutOfOrderReportsEveryIndexOnceSomeLater) {
  ScriptedPublisher publisher;
  publisher.ConfirmOutOfOrder(42);
  bool saw_shuffled = false;
  bool saw_late = false;
  for (int call = 0; call < 20; ++call) {
    std::vector<Event> events = MakeEvents(std::vector<std::string>(16, ""));
    Collector collector(events.size());
    publisher.Publish(events, collector.Callback());
    EXPECT_EQ(collector.Wait(), std::vector<Outcome>(events.size(), kOk));
    if (collector.from_other_threads() > 0) saw_late = true;
    std::vector<std::size_t> order = collector.order();
    if (!std::is_sorted(order.begin(), order.end())) saw_shuffled = true;
  }
  EXPECT_TRUE(saw_shuffled);
  EXPECT_TRUE(saw_late);
  EXPECT_EQ(publisher.DeliveredIds().size(), 20u * 16u);
}

TEST(ScriptedPublisherTest, SlowConfirmationsComeFromAnotherThread) {
  ScriptedPublisher publisher;
  publisher.ConfirmSlowly(milliseconds(2));
  int hooked_call = 0;
  publisher.OnCall([&](int call) { hooked_call = call; });
  std::vector<Event> events = MakeEvents({"a", "b", "c"});
  Collector collector(events.size());
  publisher.Publish(events, collector.Callback());
  EXPECT_EQ(collector.Wait(), std::vector<Outcome>({kOk, kOk, kOk}));
  EXPECT_EQ(collector.from_other_threads(), events.size());
  EXPECT_EQ(hooked_call, 1);
  EXPECT_EQ(publisher.DeliveredIds(), Ids(events));
}

TEST(ScriptedPublisherTest, AFailedKeyStaysClosedAcrossCallsUntilResumed) {
  ScriptedPublisher publisher({.keeps_key_order = true});
  std::vector<Event> first = MakeEvents({"a", "b"});
  publisher.Fail([&](const Event& e) { return e.id == first[0].id; }, "timeout", 1);
  EXPECT_EQ(PublishAndWait(publisher, first), std::vector<Outcome>({kRetry, kOk}));
  std::vector<Event> second = MakeEvents({"a", "b"});
  EXPECT_EQ(PublishAndWait(publisher, second), std::vector<Outcome>({kRetry, kOk}));
  std::vector<std::string> resumed = {"a"};
  publisher.Resume(resumed);
  std::vector<Event> third = MakeEvents({"a", "b"});
  EXPECT_EQ(PublishAndWait(publisher, third), std::vector<Outcome>({kOk, kOk}));
  EXPECT_FALSE(publisher.DeliveredIds().contains(second[0].id));
}

TEST(ScriptedPublisherTest, HeldCallsStayOutstandingUntilReleasedInAnyOrder) {
  ScriptedPublisher publisher;
  publisher.HoldConfirmations();
  std::vector<Event> one = MakeEvents({"a", "b"});
  std::vector<Event> two = MakeEvents({"c"});
  Collector first(one.size());
  Collector second(two.size());
  publisher.Publish(one, first.Callback());
  publisher.Publish(two, second.Callback());
  EXPECT_EQ(publisher.outstanding_calls(), 2);
  EXPECT_EQ(publisher.held_calls(), std::vector<int>({1, 2}));
  EXPECT_TRUE(publisher.Release(2));
  EXPECT_EQ(second.Wait(), std::vector<Outcome>({kOk}));
  EXPECT_EQ(publisher.outstanding_calls(), 1);
  EXPECT_FALSE(publisher.Release(2));
  publisher.ReleaseAll();
  EXPECT_EQ(first.Wait(), std::vector<Outcome>({kOk, kOk}));
  EXPECT_EQ(publisher.outstanding_calls(), 0);
  EXPECT_EQ(publisher.max_outstanding_calls(), 2);
}

}  // namespace
}  // namespace herald::testing
