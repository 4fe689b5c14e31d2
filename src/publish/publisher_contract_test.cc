// The Publisher contract, one parameterised suite run against every
// publisher of this build on its real bus (or the closest thing a test can
// own: librdkafka's mock cluster, a nats-server or a RabbitMQ node started
// here, a file): one outcome per event exactly once, published means stored
// (read back independently), declared key order holds across calls in flight, the
// event id is in the bus's de-duplication field, a bus that is down never
// yields kPublished, and a permanent refusal is kRejected with a reason.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <random>
#include <set>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "herald/event.h"
#include "herald/publisher.h"
#include "publish/file/file_publisher.h"
#include "testing/seed.h"
#ifdef HERALD_WITH_KAFKA
#include "publish/kafka/kafka_publisher.h"
#include "publish/kafka/mock_cluster.h"
#endif
#ifdef HERALD_WITH_NATS
#include "publish/nats/nats_publisher.h"
#include "publish/nats/nats_server.h"
#endif
#ifdef HERALD_WITH_RABBITMQ
#include "publish/rabbitmq/rabbitmq_publisher.h"
#include "publish/rabbitmq/rabbitmq_server.h"
#endif
#ifdef HERALD_WITH_REDIS
#include "publish/redis/redis_publisher.h"
#include "publish/redis/redis_server.h"
#endif
#ifdef HERALD_WITH_HTTP
#include "publish/http/http_publisher.h"
#include "publish/http/http_receiver.h"
#endif

namespace herald::publish {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// One message as an independent reader finds it on the bus.
struct Stored {
  std::string dedup_id;  // the bus's de-duplication field, or ce id without one
  std::string key;
  std::string payload;
};

// A bus a test owns.
class Bus {
 public:
  virtual ~Bus() = default;
  // Makes `topic` ready to store events (a Kafka topic, a JetStream stream).
  virtual void Prepare(const std::string& topic) = 0;
  virtual std::unique_ptr<Publisher> Open() = 0;
  // What `topic` holds, in the bus's order (per partition for Kafka);
  // stops at `count` messages or a few seconds after the last.
  virtual std::vector<Stored> Read(const std::string& topic, std::size_t count) = 0;
  // Takes the bus down / brings it back; false when this bus cannot go down.
  virtual bool TakeDown() { return false; }
  virtual void BringUp() {}
  // A topic and event the bus refuses for good, when there is one.
  virtual std::optional<Event> Poison(const std::string& topic) {
    static_cast<void>(topic);
    return std::nullopt;
  }
};

class FileBus final : public Bus {
 public:
  FileBus()
      : path_(std::filesystem::temp_directory_path() /
              fmt::format("herald_contract_{}_{}.jsonl", ::getpid(), counter_++)) {
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
  }
  ~FileBus() override {
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
  }
  void Prepare(const std::string&) override {}
  std::unique_ptr<Publisher> Open() override {
    auto p = FilePublisher::OpenFile(path_.string());
    EXPECT_TRUE(p.has_value()) << p.error().ToString();
    return p.has_value() ? std::unique_ptr<Publisher>(std::move(*p)) : nullptr;
  }
  std::vector<Stored> Read(const std::string& topic, std::size_t) override {
    std::vector<Stored> out;
    std::ifstream in(path_);
    std::string line;
    while (std::getline(in, line)) {
      auto j = nlohmann::json::parse(line);
      if (j["topic"] != topic) continue;
      out.push_back(Stored{j["event_id"].get<std::string>(), j["key"].get<std::string>(),
                           j["payload"].dump()});
    }
    return out;
  }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

#ifdef HERALD_WITH_KAFKA
class KafkaBus final : public Bus {
 public:
  static constexpr int kPartitions = 3;
  void Prepare(const std::string& topic) override { cluster_.CreateTopic(topic, kPartitions); }
  std::unique_ptr<Publisher> Open() override {
    PublisherOptions options;
    options.properties = {{"reconnect.backoff.ms", "100"},
                          {"reconnect.backoff.max.ms", "500"},
                          {"message.timeout.ms", "3000"},
                          {"message.max.bytes", "10000"}};
    auto p = KafkaPublisher::Open(cluster_.url(), options);
    EXPECT_TRUE(p.has_value()) << p.error().ToString();
    return p.has_value() ? std::unique_ptr<Publisher>(std::move(*p)) : nullptr;
  }
  std::vector<Stored> Read(const std::string& topic, std::size_t count) override {
    std::vector<Stored> out;
    for (const auto& m : testing::Consume(cluster_.bootstraps(), topic, kPartitions, count,
                                          seconds(20))) {
      out.push_back(Stored{m.Header("ce_id"), m.key, m.value});
    }
    return out;
  }
  bool TakeDown() override {
    cluster_.SetAllBrokersDown();
    return true;
  }
  void BringUp() override { cluster_.SetAllBrokersUp(); }
  std::optional<Event> Poison(const std::string& topic) override {
    return Event::Make(topic, "poison", "Huge", std::string(20000, 'x'));  // > message.max.bytes
  }

 private:
  testing::MockCluster cluster_{3};
};
#endif

#ifdef HERALD_WITH_NATS
class NatsBus final : public Bus {
 public:
  NatsBus() {
    std::string error;
    EXPECT_TRUE(server_.Start(&error)) << error;
  }
  void Prepare(const std::string& topic) override {
    testing::JetStreamClient client(server_.url());
    testing::StreamSpec spec;
    spec.name = "S_" + topic;
    spec.subjects = {topic};
    EXPECT_TRUE(client.CreateStream(spec));
  }
  std::unique_ptr<Publisher> Open() override {
    PublisherOptions options;
    options.properties = {{"herald.ack_timeout_ms", "1000"}, {"reconnect_wait_ms", "100"}};
    auto p = NatsPublisher::Open(server_.url(), options);
    EXPECT_TRUE(p.has_value()) << p.error().ToString();
    return p.has_value() ? std::unique_ptr<Publisher>(std::move(*p)) : nullptr;
  }
  std::vector<Stored> Read(const std::string& topic, std::size_t count) override {
    testing::JetStreamClient client(server_.url());
    std::vector<Stored> out;
    for (const auto& m : client.ReadAll("S_" + topic, topic, count, seconds(2))) {
      auto header = [&m](const char* name) {
        auto it = m.headers.find(name);
        return it == m.headers.end() ? std::string() : it->second;
      };
      out.push_back(Stored{header("Nats-Msg-Id"), header("ce-subject"), m.data});
    }
    return out;
  }
  bool TakeDown() override {
    server_.Kill();
    return true;
  }
  void BringUp() override {
    std::string error;
    EXPECT_TRUE(server_.Start(&error)) << error;
  }
  std::optional<Event> Poison(const std::string& topic) override {
    return Event::Make(topic + "_nostream", "poison", "T", "{}");  // no stream stores it
  }

 private:
  testing::NatsServer server_;
};
#endif

#ifdef HERALD_WITH_RABBITMQ
// A RabbitMQ node of the test's own. A topic without '/' goes to the default
// exchange, which routes it to the queue of the topic's name.
class RabbitMqBus final : public Bus {
 public:
  RabbitMqBus() {
    std::string error;
    EXPECT_TRUE(server_.Start(&error)) << error;
  }
  void Prepare(const std::string& topic) override {
    testing::AmqpClient client(server_.url());
    EXPECT_TRUE(client.DeclareQueue(topic));
  }
  std::unique_ptr<Publisher> Open() override {
    PublisherOptions options;
    options.properties = {{"confirm_timeout_ms", "1000"}, {"connect_timeout_ms", "500"}};
    auto p = RabbitMqPublisher::Open(server_.url(), options);
    EXPECT_TRUE(p.has_value()) << p.error().ToString();
    return p.has_value() ? std::unique_ptr<Publisher>(std::move(*p)) : nullptr;
  }
  std::vector<Stored> Read(const std::string& topic, std::size_t count) override {
    testing::AmqpClient client(server_.url());
    std::vector<Stored> out;
    // Read without taking: the queue keeps what it holds.
    for (const auto& m : client.ReadAll(topic, count, seconds(2), /*take=*/false)) {
      auto it = m.headers.find("cloudEvents:subject");
      out.push_back(Stored{m.message_id, it == m.headers.end() ? std::string() : it->second,
                           m.body});
    }
    return out;
  }
  bool TakeDown() override {
    server_.Kill();
    return true;
  }
  void BringUp() override {
    std::string error;
    EXPECT_TRUE(server_.Start(&error)) << error;
  }
  std::optional<Event> Poison(const std::string& topic) override {
    return Event::Make(topic + "_noqueue", "poison", "T", "{}");  // unroutable: returned
  }

 private:
  testing::RabbitMqServer server_;
};
#endif

#ifdef HERALD_WITH_REDIS
// A redis-server of the test's own. Each topic is a stream of its name.
class RedisBus final : public Bus {
 public:
  RedisBus() {
    std::string error;
    EXPECT_TRUE(server_.Start(&error)) << error;
  }
  void Prepare(const std::string&) override {}
  std::unique_ptr<Publisher> Open() override {
    PublisherOptions options;
    options.properties = {{"herald.reply_timeout_ms", "1000"},
                          {"connect_timeout_ms", "500"},
                          {"reconnect_wait_ms", "50"},
                          {"reconnect_wait_max_ms", "250"}};
    auto p = RedisPublisher::Open(server_.url(), options);
    EXPECT_TRUE(p.has_value()) << p.error().ToString();
    return p.has_value() ? std::unique_ptr<Publisher>(std::move(*p)) : nullptr;
  }
  std::vector<Stored> Read(const std::string& topic, std::size_t) override {
    testing::RedisClient client(server_.url());
    std::vector<Stored> out;
    for (const testing::StreamEntry& e : client.ReadAll(topic)) {
      const std::string key = e.Field("ce-subject");
      out.push_back(Stored{e.Field("ce-id"), key == "<none>" ? std::string() : key,
                           e.Field("data")});
    }
    return out;
  }
  bool TakeDown() override {
    server_.Kill();
    return true;
  }
  void BringUp() override {
    std::string error;
    EXPECT_TRUE(server_.Start(&error)) << error;
  }
  std::optional<Event> Poison(const std::string& topic) override {
    // A string where the stream should be: XADD answers WRONGTYPE.
    testing::RedisClient client(server_.url());
    EXPECT_EQ(client.Run({"SET", topic + "_string", "x"}), "OK");
    return Event::Make(topic + "_string", "poison", "T", "{}");
  }

 private:
  testing::RedisServer server_;
};
#endif

#ifdef HERALD_WITH_HTTP
// A webhook receiver of the test's own (python3 receiver.py). Every event is
// a POST to /{topic}?key={key}; the receiver answers 400 to a topic ending
// in "_reject". What it "stores" is the requests it answered 2xx.
class HttpBus final : public Bus {
 public:
  HttpBus() : receiver_(R"([{"path": "_reject", "status": 400, "body": "refused"}])") {
    std::string error;
    EXPECT_TRUE(receiver_.Start(&error)) << error;
  }
  void Prepare(const std::string&) override {}
  std::unique_ptr<Publisher> Open() override {
    PublisherOptions options;
    options.properties = {{"herald.request_timeout_ms", "10000"},
                          {"herald.connect_timeout_ms", "2000"}};
    auto p = HttpPublisher::Open(receiver_.url("/{topic}?key={key}"), options);
    EXPECT_TRUE(p.has_value()) << p.error().ToString();
    return p.has_value() ? std::unique_ptr<Publisher>(std::move(*p)) : nullptr;
  }
  std::vector<Stored> Read(const std::string& topic, std::size_t) override {
    std::vector<Stored> out;
    for (const auto& r : receiver_.Requests()) {
      if (r.status < 200 || r.status >= 300) continue;
      if (!r.path.starts_with("/" + topic + "?")) continue;
      out.push_back(Stored{r.Header("idempotency-key"), r.Header("ce-subject"), r.body});
    }
    return out;
  }
  bool TakeDown() override {
    receiver_.Kill();
    return true;
  }
  void BringUp() override {
    std::string error;
    EXPECT_TRUE(receiver_.Start(&error)) << error;
  }
  std::optional<Event> Poison(const std::string& topic) override {
    return Event::Make(topic + "_reject", "poison", "T", "{}");
  }

 private:
  testing::HttpReceiver receiver_;
};
#endif

struct BusKind {
  std::string name;
  std::unique_ptr<Bus> (*make)();
};

// What ctest and GoogleTest show of a parameter: its name.
void PrintTo(const BusKind& kind, std::ostream* out) { *out << kind.name; }

std::vector<BusKind> Buses() {
  std::vector<BusKind> kinds;
  kinds.push_back({"file", [] { return std::unique_ptr<Bus>(new FileBus()); }});
#ifdef HERALD_WITH_KAFKA
  kinds.push_back({"kafka", [] { return std::unique_ptr<Bus>(new KafkaBus()); }});
#endif
#ifdef HERALD_WITH_NATS
  kinds.push_back({"nats", [] { return std::unique_ptr<Bus>(new NatsBus()); }});
#endif
#ifdef HERALD_WITH_RABBITMQ
  kinds.push_back({"rabbitmq", [] { return std::unique_ptr<Bus>(new RabbitMqBus()); }});
#endif
#ifdef HERALD_WITH_REDIS
  kinds.push_back({"redis", [] { return std::unique_ptr<Bus>(new RedisBus()); }});
#endif
#ifdef HERALD_WITH_HTTP
  kinds.push_back({"http", [] { return std::unique_ptr<Bus>(new HttpBus()); }});
#endif
  return kinds;
}

// Collects the deliveries of one Publish() call.
class Deliveries {
 public:
  Publisher::DeliveryCallback Callback() {
    return [this](std::size_t index, Delivery delivery) {
      std::lock_guard<std::mutex> lock(mu_);
      got_[index].push_back(std::move(delivery));
      cv_.notify_all();
    };
  }
  bool WaitFor(std::size_t n, milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return got_.size() >= n; });
  }
  // Checks that each of [0, n) was reported exactly once; returns them.
  std::vector<Delivery> ExactlyOnce(std::size_t n) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Delivery> out(n);
    EXPECT_EQ(got_.size(), n);
    for (const auto& [index, got] : got_) {
      EXPECT_LT(index, n);
      EXPECT_EQ(got.size(), 1u) << "index " << index << " reported " << got.size() << " times";
      if (index < n && !got.empty()) out[index] = got[0];
    }
    return out;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::size_t, std::vector<Delivery>> got_;
};

class PublisherContractTest : public ::testing::TestWithParam<BusKind> {
 protected:
  void SetUp() override {
    rng_.seed(herald::testing::SeedFromTestName());
    bus_ = GetParam().make();
    topic_ = fmt::format("contract_{}", ::getpid());
    bus_->Prepare(topic_);
  }

  std::vector<Event> MakeEvents(int n, int keys) {
    std::vector<Event> events;
    for (int i = 0; i < n; ++i) {
      events.push_back(Event::Make(topic_, fmt::format("k{}", rng_() % keys), "T",
                                   fmt::format(R"({{"n":{}}})", i)));
    }
    return events;
  }

  std::mt19937_64 rng_;
  std::unique_ptr<Bus> bus_;
  std::string topic_;
};

TEST_P(PublisherContractTest, OneOutcomePerEventAndPublishedMeansStoredWithItsId) {
  auto publisher = bus_->Open();
  ASSERT_NE(publisher, nullptr);
  const Guarantees g = publisher->guarantees();
  // Several calls in flight at once, keys spread over all of them.
  constexpr int kCalls = 4;
  std::vector<std::vector<Event>> calls;
  std::vector<std::unique_ptr<Deliveries>> deliveries;
  for (int c = 0; c < kCalls; ++c) {
    calls.push_back(MakeEvents(100, 8));
    deliveries.push_back(std::make_unique<Deliveries>());
  }
  for (int c = 0; c < kCalls; ++c) publisher->Publish(calls[c], deliveries[c]->Callback());
  std::vector<Event> handed;
  for (int c = 0; c < kCalls; ++c) {
    ASSERT_TRUE(deliveries[c]->WaitFor(calls[c].size(), seconds(20)));
    for (const Delivery& d : deliveries[c]->ExactlyOnce(calls[c].size())) {
      EXPECT_EQ(d.outcome, Outcome::kPublished) << d.error;
    }
    handed.insert(handed.end(), calls[c].begin(), calls[c].end());
  }
  std::vector<Stored> stored = bus_->Read(topic_, handed.size());
  std::map<std::string, const Event*> by_id;
  std::map<std::string, std::vector<std::string>> handed_per_key, stored_per_key;
  for (const Event& e : handed) {
    by_id[e.id.ToString()] = &e;
    handed_per_key[e.key].push_back(e.id.ToString());
  }
  std::set<std::string> seen;
  for (const Stored& s : stored) {
    auto it = by_id.find(s.dedup_id);
    ASSERT_NE(it, by_id.end()) << "a message without a handed-over id in its de-duplication field";
    EXPECT_EQ(s.key, it->second->key);
    EXPECT_EQ(s.payload, it->second->payload);
    EXPECT_TRUE(seen.insert(s.dedup_id).second) << "stored twice in steady state";
    stored_per_key[s.key].push_back(s.dedup_id);
  }
  EXPECT_EQ(seen.size(), handed.size()) << "published but not stored";
  if (g.keeps_key_order) {
    for (const auto& [key, ids] : handed_per_key) {
      EXPECT_EQ(stored_per_key[key], ids) << "order of key " << key << " across calls";
    }
  }
  if (g.deduplicates_by_id) {
    Deliveries again;
    publisher->Publish(calls[0], again.Callback());
    ASSERT_TRUE(again.WaitFor(calls[0].size(), seconds(20)));
    for (const Delivery& d : again.ExactlyOnce(calls[0].size())) {
      EXPECT_EQ(d.outcome, Outcome::kPublished) << d.error;
    }
    EXPECT_EQ(bus_->Read(topic_, handed.size() + 1).size(), handed.size())
        << "the bus stored a second copy of an id";
  }
}

TEST_P(PublisherContractTest, ABusThatIsDownNeverGivesPublished) {
  auto publisher = bus_->Open();
  ASSERT_NE(publisher, nullptr);
  if (!bus_->TakeDown()) GTEST_SKIP() << GetParam().name << " cannot go down";
  std::vector<Event> events = MakeEvents(20, 4);
  Deliveries down;
  publisher->Publish(events, down.Callback());
  ASSERT_TRUE(down.WaitFor(events.size(), seconds(30)));
  std::vector<std::string> keys;
  for (const Delivery& d : down.ExactlyOnce(events.size())) {
    EXPECT_TRUE(d.outcome == Outcome::kUnavailable || d.outcome == Outcome::kRetry)
        << OutcomeName(d.outcome) << ": " << d.error;
    EXPECT_FALSE(d.error.empty());
  }
  for (const Event& e : events) keys.push_back(e.key);
  publisher->Resume(keys);
  bus_->BringUp();
  // Back up: the same events get through (within a bounded number of tries).
  std::vector<Delivery> last;
  for (int attempt = 0; attempt < 20; ++attempt) {
    Deliveries up;
    publisher->Publish(events, up.Callback());
    ASSERT_TRUE(up.WaitFor(events.size(), seconds(30)));
    last = up.ExactlyOnce(events.size());
    bool all = true;
    for (const Delivery& d : last) all = all && d.outcome == Outcome::kPublished;
    if (all) break;
    publisher->Resume(keys);
    std::this_thread::sleep_for(milliseconds(250));
  }
  for (const Delivery& d : last) EXPECT_EQ(d.outcome, Outcome::kPublished) << d.error;
}

TEST_P(PublisherContractTest, APermanentRefusalIsRejectedWithTheReasonAndOthersPass) {
  auto publisher = bus_->Open();
  ASSERT_NE(publisher, nullptr);
  std::optional<Event> poison = bus_->Poison(topic_);
  if (!poison) GTEST_SKIP() << GetParam().name << " refuses nothing for good";
  std::vector<Event> events = MakeEvents(10, 3);
  events.insert(events.begin() + 5, *poison);
  Deliveries deliveries;
  publisher->Publish(events, deliveries.Callback());
  ASSERT_TRUE(deliveries.WaitFor(events.size(), seconds(20)));
  std::vector<Delivery> got = deliveries.ExactlyOnce(events.size());
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (i == 5) {
      EXPECT_EQ(got[i].outcome, Outcome::kRejected) << got[i].error;
      EXPECT_FALSE(got[i].error.empty());
    } else {
      EXPECT_EQ(got[i].outcome, Outcome::kPublished) << got[i].error;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(EveryBus, PublisherContractTest, ::testing::ValuesIn(Buses()),
                         [](const ::testing::TestParamInfo<BusKind>& p) {
                           return p.param.name;
                         });

}  // namespace
}  // namespace herald::publish
