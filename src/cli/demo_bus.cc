// The buses of `herald demo` (see demo_bus.h).
#include "cli/demo_bus.h"

#include <fmt/format.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <optional>
#include <utility>
#include <random>
#include <string_view>
#include <vector>

#include "core/macros.h"
#include "core/secrets.h"
#include "herald/publisher.h"
#include "publish/kafka/kafka_config.h"
#include "publish/kafka/mock_cluster.h"
#include "services/kafka_reader.h"
#include "services/kafka_topics.h"
#include "services/transaction_event.h"
#ifdef HERALD_WITH_NATS
#include "publish/nats/nats_config.h"
#include "services/nats_reader.h"
#endif
#ifdef HERALD_WITH_RABBITMQ
#include "publish/rabbitmq/rabbitmq_config.h"
#include "services/rabbitmq_reader.h"
#endif
#ifdef HERALD_WITH_REDIS
#include "publish/redis/redis_config.h"
#include "services/redis_reader.h"
#endif
#if defined(HERALD_WITH_HTTP) && defined(HERALD_WITH_METRICS)
#define HERALD_DEMO_WEBHOOKS
#include "publish/http/http_config.h"
#include "services/webhook_endpoint.h"
#endif

namespace herald::cli::demo {
namespace {

using std::chrono::milliseconds;

// How long the naive service lets the bus take an event before it gives up.
constexpr milliseconds kNaiveDeliveryTimeout{1000};
constexpr int kTopicPartitions = 4;
constexpr int kBrokers = 3;
// A broker of the mock cluster that is set down keeps its connections open
// and answers nothing: clients notice within this (librdkafka's default is 60 s).
constexpr milliseconds kSocketTimeout{1500};

std::string RunTopic(const BusChoice& choice, const std::string& mode) {
  return fmt::format("herald-demo-{}-{}", choice.run_id, mode);
}

std::string_view Scheme(std::string_view url) {
  std::size_t colon = url.find(':');
  return colon == std::string_view::npos ? std::string_view() : url.substr(0, colon);
}

// ---- Kafka ------------------------------------------------------------------

class KafkaBus : public DemoBus {
 public:
  explicit KafkaBus(BusChoice choice) : choice_(std::move(choice)) {}

  std::map<std::string, std::string> PublisherOptions(bool naive) const override {
    std::map<std::string, std::string> p = ClientProperties();
    if (naive) p["message.timeout.ms"] = std::to_string(kNaiveDeliveryTimeout.count());
    return p;
  }

  Result<std::unique_ptr<examples::BusReader>> OpenReader(const std::string&) override {
    std::map<std::string, std::string> p = ClientProperties();
    p.insert({{"fetch.wait.max.ms", "10"},
              {"fetch.error.backoff.ms", "100"},
              // the outage is expected: keep the terminal for the story
              {"log_level", "0"}});
    HERALD_ASSIGN_OR_RETURN(auto reader, examples::KafkaReader::Open(bootstraps_, topic_, p));
    return std::unique_ptr<examples::BusReader>(std::move(reader));
  }

 protected:
  // What every Kafka client of the run gets: quick reconnection (the outage
  // is part of the story), then the user's --publisher-option, which win.
  std::map<std::string, std::string> ClientProperties() const {
    std::map<std::string, std::string> p = {
        {"reconnect.backoff.max.ms", "500"},
        {"socket.timeout.ms", std::to_string(kSocketTimeout.count())}};
    for (const auto& [k, v] : choice_.options) p[k] = v;
    return p;
  }

  BusChoice choice_;
  std::string bootstraps_;
};

// librdkafka's mock cluster in this process, with the topic `transactions`.
class MockKafkaBus final : public KafkaBus {
 public:
  explicit MockKafkaBus(BusChoice choice) : KafkaBus(std::move(choice)) {}
  Status Prepare(const std::string&) override {
    cluster_ = std::make_unique<publish::testing::MockCluster>(kBrokers);
    topic_ = std::string(examples::kTransactionsTopic);
    cluster_->CreateTopic(topic_, kTopicPartitions, kBrokers);
    bootstraps_ = cluster_->bootstraps();
    return OkStatus();
  }
  std::string url() const override { return cluster_->url(); }
  bool can_go_down() const override { return true; }
  void TakeDown() override { cluster_->SetAllBrokersDown(); }
  void BringUp() override { cluster_->SetAllBrokersUp(); }
  std::string Describe() const override {
    return fmt::format("librdkafka's mock cluster in this process ({} brokers)", kBrokers);
  }

 private:
  std::unique_ptr<publish::testing::MockCluster> cluster_;
};

class ExternalKafkaBus final : public KafkaBus {
 public:
  ExternalKafkaBus(BusChoice choice, std::string bootstraps) : KafkaBus(std::move(choice)) {
    bootstraps_ = std::move(bootstraps);
  }
  Status Prepare(const std::string& mode) override {
    topic_ = RunTopic(choice_, mode);
    Result<examples::TopicCreation> how =
        examples::CreateTopics(bootstraps_, {topic_}, kTopicPartitions, choice_.options);
    if (!how) return how.error();
    creation_ = *how == examples::TopicCreation::kAdminApi
                    ? fmt::format("created with {} partitions", kTopicPartitions)
                    : "auto-created by the cluster, which refused CreateTopics";
    return OkStatus();
  }
  std::string url() const override { return choice_.url; }
  std::string Describe() const override {
    return fmt::format("{}, topics herald-demo-{}-naive/-outbox ({})", MaskSecrets(choice_.url),
                       choice_.run_id, creation_);
  }

 private:
  std::string creation_;
};

// ---- NATS JetStream -----------------------------------------------------------

#ifdef HERALD_WITH_NATS
// A stream of the run's own (its name and subject: herald-demo-<run>-<mode>),
// read by an ordered consumer per service.
class NatsBus final : public DemoBus {
 public:
  NatsBus(BusChoice choice, publish::NatsConfig config)
      : choice_(std::move(choice)), config_(std::move(config)) {}
  ~NatsBus() override { Remove(); }

  Status Prepare(const std::string& mode) override {
    topic_ = RunTopic(choice_, mode);
    HERALD_RETURN_IF_ERROR(examples::CreateNatsStream(config_, topic_, topic_));
    prepared_ = true;
    return OkStatus();
  }
  void Remove() override {
    if (prepared_) static_cast<void>(examples::DeleteNatsStream(config_, topic_));
    prepared_ = false;
  }
  std::string url() const override { return choice_.url; }
  std::map<std::string, std::string> PublisherOptions(bool naive) const override {
    std::map<std::string, std::string> p = {{"reconnect_wait_ms", "100"}};
    if (naive) p["herald.ack_timeout_ms"] = std::to_string(kNaiveDeliveryTimeout.count());
    for (const auto& [k, v] : choice_.options) p[k] = v;
    return p;
  }
  Result<std::unique_ptr<examples::BusReader>> OpenReader(const std::string&) override {
    HERALD_ASSIGN_OR_RETURN(auto reader, examples::NatsStreamReader::Open(config_, topic_));
    return std::unique_ptr<examples::BusReader>(std::move(reader));
  }
  std::string Describe() const override {
    return fmt::format("{}, streams herald-demo-{}-naive/-outbox (made and deleted by the demo)",
                       MaskSecrets(choice_.url), choice_.run_id);
  }

 private:
  BusChoice choice_;
  publish::NatsConfig config_;
  bool prepared_ = false;
};
#endif

// ---- RabbitMQ -------------------------------------------------------------------

#ifdef HERALD_WITH_RABBITMQ
// A fanout exchange of the run's own (herald-demo-<run>-<mode>) with a
// durable queue per service (<exchange>.budgets, <exchange>.analytics);
// the events' topic is "<exchange>/transactions".
class RabbitMqBus final : public DemoBus {
 public:
  RabbitMqBus(BusChoice choice, publish::RabbitMqConfig config)
      : choice_(std::move(choice)), config_(std::move(config)) {}
  ~RabbitMqBus() override { Remove(); }

  Status Prepare(const std::string& mode) override {
    exchange_ = RunTopic(choice_, mode);
    topic_ = exchange_ + "/" + std::string(examples::kTransactionsTopic);
    queues_ = {Queue("budgets"), Queue("analytics")};
    HERALD_RETURN_IF_ERROR(examples::DeclareRabbitMqFanout(config_, exchange_, queues_));
    prepared_ = true;
    return OkStatus();
  }
  void Remove() override {
    if (prepared_) static_cast<void>(examples::DeleteRabbitMqFanout(config_, exchange_, queues_));
    prepared_ = false;
  }
  std::string url() const override { return choice_.url; }
  std::map<std::string, std::string> PublisherOptions(bool naive) const override {
    std::map<std::string, std::string> p;
    if (naive) p["confirm_timeout_ms"] = std::to_string(kNaiveDeliveryTimeout.count());
    for (const auto& [k, v] : choice_.options) p[k] = v;
    return p;
  }
  Result<std::unique_ptr<examples::BusReader>> OpenReader(const std::string& consumer) override {
    HERALD_ASSIGN_OR_RETURN(auto reader, examples::RabbitMqReader::Open(config_, Queue(consumer)));
    return std::unique_ptr<examples::BusReader>(std::move(reader));
  }
  std::string Describe() const override {
    return fmt::format(
        "{}, fanout exchanges herald-demo-{}-naive/-outbox with a queue per consumer (made and "
        "deleted by the demo)",
        MaskSecrets(choice_.url), choice_.run_id);
  }

 private:
  std::string Queue(const std::string& consumer) const { return exchange_ + "." + consumer; }

  BusChoice choice_;
  publish::RabbitMqConfig config_;
  std::string exchange_;
  std::vector<std::string> queues_;
  bool prepared_ = false;
};
#endif

// ---- Redis Streams ------------------------------------------------------------

#ifdef HERALD_WITH_REDIS
// A stream of the run's own (herald-demo-<run>-<mode>), read with XREAD by
// each service from its first entry; deleted after the run.
class RedisBus final : public DemoBus {
 public:
  RedisBus(BusChoice choice, publish::RedisConfig config)
      : choice_(std::move(choice)), config_(std::move(config)) {}
  ~RedisBus() override { Remove(); }

  Status Prepare(const std::string& mode) override {
    topic_ = RunTopic(choice_, mode);
    // A leftover of that name would be read as this run's.
    HERALD_RETURN_IF_ERROR(examples::DeleteRedisStream(config_, config_.stream_prefix + topic_));
    prepared_ = true;
    return OkStatus();
  }
  void Remove() override {
    if (prepared_) {
      static_cast<void>(examples::DeleteRedisStream(config_, config_.stream_prefix + topic_));
    }
    prepared_ = false;
  }
  std::string url() const override { return choice_.url; }
  std::map<std::string, std::string> PublisherOptions(bool naive) const override {
    std::map<std::string, std::string> p;
    if (naive) p["herald.reply_timeout_ms"] = std::to_string(kNaiveDeliveryTimeout.count());
    for (const auto& [k, v] : choice_.options) p[k] = v;
    return p;
  }
  Result<std::unique_ptr<examples::BusReader>> OpenReader(const std::string&) override {
    HERALD_ASSIGN_OR_RETURN(auto reader, examples::RedisStreamReader::Open(
                                             config_, config_.stream_prefix + topic_));
    return std::unique_ptr<examples::BusReader>(std::move(reader));
  }
  std::string Describe() const override {
    return fmt::format("{}, streams herald-demo-{}-naive/-outbox (deleted after each run)",
                       MaskSecrets(choice_.url), choice_.run_id);
  }

 private:
  BusChoice choice_;
  publish::RedisConfig config_;
  bool prepared_ = false;
};
#endif

// ---- HTTP webhooks -----------------------------------------------------------------

#ifdef HERALD_DEMO_WEBHOOKS
// The host and port of "http://HOST:PORT/...", or nullopt.
std::optional<std::pair<std::string, int>> HostPort(std::string_view url) {
  constexpr std::string_view kScheme = "http://";
  if (!url.starts_with(kScheme)) return std::nullopt;
  std::string_view rest = url.substr(kScheme.size());
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (rest.find('@') != std::string_view::npos) rest = rest.substr(rest.rfind('@') + 1);
  const std::size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  int port = 0;
  const std::string_view digits = rest.substr(colon + 1);
  if (std::from_chars(digits.data(), digits.data() + digits.size(), port).ptr !=
          digits.data() + digits.size() ||
      port < 1 || port > 65535) {
    return std::nullopt;
  }
  std::string host(rest.substr(0, colon));
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return std::pair{host, port};
}

// The consumers' own webhook endpoint, listening where the URL points (a
// local address): the relay and the naive service POST the events there,
// and the endpoint hands each to both services. The demo runs it, so it
// closes it for the outage.
class WebhookBus final : public DemoBus {
 public:
  WebhookBus(BusChoice choice, std::string host, int port)
      : choice_(std::move(choice)), host_(std::move(host)), port_(port) {}

  Status Prepare(const std::string&) override {
    topic_ = std::string(examples::kTransactionsTopic);
    Result<std::unique_ptr<examples::WebhookEndpoint>> endpoint =
        examples::WebhookEndpoint::Start(host_, port_);
    if (!endpoint) {
      return endpoint.error().WithContext(
          fmt::format("--publisher {}: the demo's webhook endpoint", MaskSecrets(choice_.url)));
    }
    endpoint_ = std::move(*endpoint);
    return OkStatus();
  }
  void Remove() override { endpoint_.reset(); }
  std::string url() const override { return choice_.url; }
  std::map<std::string, std::string> PublisherOptions(bool naive) const override {
    std::map<std::string, std::string> p = {{"herald.connect_timeout_ms", "500"}};
    if (naive) p["herald.request_timeout_ms"] = std::to_string(kNaiveDeliveryTimeout.count());
    for (const auto& [k, v] : choice_.options) p[k] = v;
    return p;
  }
  Result<std::unique_ptr<examples::BusReader>> OpenReader(const std::string&) override {
    return endpoint_->Subscribe();
  }
  bool can_go_down() const override { return true; }
  void TakeDown() override { endpoint_->Close(); }
  void BringUp() override {
    if (Status s = endpoint_->Open(); !s.ok()) {
      std::fprintf(stderr, "\nherald demo: the webhook endpoint cannot listen again: %s\n",
                   s.ToString().c_str());
    }
  }
  std::string Describe() const override {
    return fmt::format("{}, the consumers' webhook endpoint in this process (civetweb on {}:{})",
                       MaskSecrets(choice_.url), host_, port_);
  }

 private:
  BusChoice choice_;
  std::string host_;
  int port_;
  std::unique_ptr<examples::WebhookEndpoint> endpoint_;
};
#endif

}  // namespace

std::string DemoBusSchemes() {
  std::string s = "kafka://HOST:PORT,...";
#ifdef HERALD_WITH_NATS
  s += ", nats://HOST:PORT,...";
#endif
#ifdef HERALD_WITH_RABBITMQ
  s += ", amqp[s]://HOST:PORT/VHOST";
#endif
#ifdef HERALD_WITH_REDIS
  s += ", redis://HOST:PORT[/DB]";
#endif
#ifdef HERALD_DEMO_WEBHOOKS
  s += ", http://LOCAL-HOST:PORT/PATH (the demo's own endpoint)";
#endif
  return s;
}

Status CheckBusChoice(BusChoice& choice) {
  if (!choice.external()) {
    if (!choice.options.empty()) {
      return InvalidArgument("--publisher-option needs --publisher (" + DemoBusSchemes() + ")");
    }
    return OkStatus();
  }
  Result<std::unique_ptr<DemoBus>> bus = MakeDemoBus(choice);
  if (!bus) return bus.error();
  choice.self_hosted = (*bus)->can_go_down();
  choice.replays = Scheme(choice.url) != "http";
  choice.outage_subject = "the webhook endpoint";
  std::random_device random;
  choice.run_id = fmt::format("{:08x}", random());
  return OkStatus();
}

Result<std::unique_ptr<DemoBus>> MakeDemoBus(const BusChoice& choice) {
  if (!choice.external()) return std::make_unique<MockKafkaBus>(choice);
  const std::string_view scheme = Scheme(choice.url);
  const PublisherOptions options{choice.options};
  auto refused = [&](const Status& e) {
    return std::unexpected(InvalidArgument("--publisher: " + e.message()));
  };
  if (scheme == "kafka") {
    Result<publish::KafkaConfig> config = publish::ParseKafkaConfig(choice.url, options);
    if (!config) return refused(config.error());
    return std::make_unique<ExternalKafkaBus>(choice,
                                              config->rdkafka.front().second);  // bootstrap.servers
  }
#ifdef HERALD_WITH_NATS
  if (scheme == "nats") {
    Result<publish::NatsConfig> config = publish::ParseNatsConfig(choice.url, options);
    if (!config) return refused(config.error());
    return std::make_unique<NatsBus>(choice, std::move(*config));
  }
#endif
#ifdef HERALD_WITH_RABBITMQ
  if (scheme == "amqp" || scheme == "amqps") {
    Result<publish::RabbitMqConfig> config = publish::ParseRabbitMqConfig(choice.url, options);
    if (!config) return refused(config.error());
    return std::make_unique<RabbitMqBus>(choice, std::move(*config));
  }
#endif
#ifdef HERALD_WITH_REDIS
  if (scheme == "redis") {
    Result<publish::RedisConfig> config = publish::ParseRedisConfig(choice.url, options);
    if (!config) return refused(config.error());
    return std::make_unique<RedisBus>(choice, std::move(*config));
  }
#endif
#ifdef HERALD_DEMO_WEBHOOKS
  if (scheme == "http") {
    Result<publish::HttpConfig> config = publish::ParseHttpConfig(choice.url, options);
    if (!config) return refused(config.error());
    std::optional<std::pair<std::string, int>> at = HostPort(choice.url);
    if (!at) {
      return std::unexpected(InvalidArgument(fmt::format(
          "--publisher {}: the demo listens where the URL points: give http://HOST:PORT/PATH "
          "with a local HOST and a PORT",
          MaskSecrets(choice.url))));
    }
    return std::make_unique<WebhookBus>(choice, at->first, at->second);
  }
#endif
  const std::vector<PublisherScheme> schemes = PublisherSchemes();
  for (const PublisherScheme& s : schemes) {
    if (s.name == scheme) {
      return std::unexpected(InvalidArgument(fmt::format(
          "--publisher {}: the demo's consumers cannot read {}: (herald relay publishes to it); "
          "the demo runs on {}, or without --publisher on an in-process Kafka mock cluster",
          MaskSecrets(choice.url), scheme, DemoBusSchemes())));
    }
  }
  return std::unexpected(InvalidArgument(
      fmt::format("--publisher '{}': expected {}", MaskSecrets(choice.url), DemoBusSchemes())));
}

}  // namespace herald::cli::demo
