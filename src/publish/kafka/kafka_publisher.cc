#include "publish/kafka/kafka_publisher.h"

#include <librdkafka/rdkafka.h>

#include <array>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "core/log.h"
#include "publish/common/cloud_events.h"
#include "publish/common/key_order_gate.h"
#include "publish/kafka/kafka_errors.h"

namespace herald::publish {
namespace {

using std::chrono::milliseconds;

// How long the poll thread blocks in rd_kafka_poll before it checks for a
// stop request or a fatal error.
constexpr int kPollMillis = 50;
// How long LearnTopic waits for the cluster's answer.
constexpr int kTopicMetadataMillis = 500;
// Wait between produce attempts while librdkafka's queue is full.
constexpr int kQueueFullPollMillis = 5;
// On destruction: how long outstanding deliveries may take before the rest
// is purged (and reported kRetry).
constexpr milliseconds kCloseFlush{5000};
constexpr milliseconds kCloseAfterPurge{5000};

bool ConfIsTrue(rd_kafka_conf_t* conf, const char* name) {
  std::array<char, 64> value{};
  std::size_t size = value.size();
  return rd_kafka_conf_get(conf, name, value.data(), &size) == RD_KAFKA_CONF_OK &&
         std::string_view(value.data()) == "true";
}

void OnLog(const rd_kafka_t* /*rk*/, int level, const char* facility, const char* message) {
  // syslog levels: 0-4 error and warning (librdkafka reports every broker
  // disconnect at 3, an expected event during an outage), 5-6 info, 7 debug.
  if (level <= 4) {
    LogWarning("kafka {}: {}", facility, message);
  } else if (level <= 6) {
    LogInfo("kafka {}: {}", facility, message);
  } else {
    LogDebug("kafka {}: {}", facility, message);
  }
}

// A librdkafka configuration with every property of `config` set.
// InvalidArgument naming the first property librdkafka refuses.
Result<rd_kafka_conf_t*> MakeConf(const KafkaConfig& config) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  std::array<char, 512> errstr{};
  for (const auto& [name, value] : config.rdkafka) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr.data(), errstr.size()) !=
        RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return std::unexpected(
          InvalidArgument(fmt::format("kafka property '{}': {}", name, errstr.data())));
    }
  }
  rd_kafka_conf_set_log_cb(conf, OnLog);
  return conf;
}

void AddHeader(rd_kafka_headers_t* headers, std::string_view name, std::string_view value) {
  rd_kafka_header_add(headers, name.data(), static_cast<ssize_t>(name.size()), value.data(),
                      static_cast<ssize_t>(value.size()));
}

// CloudEvents binary-mode attributes, then the event's own headers.
rd_kafka_headers_t* MakeHeaders(const Event& event, const CloudEventsOptions& cloud_events) {
  const CloudEventsHeaders attributes(event, cloud_events, CloudEventsBinding::kKafka);
  rd_kafka_headers_t* headers = rd_kafka_headers_new(attributes.size() + event.headers.size());
  for (const CloudEventsHeader& h : attributes) AddHeader(headers, h.name, h.value);
  for (const auto& [name, value] : event.headers) AddHeader(headers, name, value);
  return headers;
}

}  // namespace

// One Publish() call. Successes are reported as their delivery reports
// arrive; failures are held until the last event of the call is known and
// then reported together, so that the call as a whole can be recognised as
// meeting an unreachable cluster. Deletes itself after the last report.
// Thread-safe.
class KafkaPublisher::Call {
 public:
  // The per-message opaque handed to librdkafka.
  struct Ref {
    Call* call;
    std::size_t index;
  };

  Call(KafkaPublisher& owner, std::size_t size, DeliveryCallback on_delivery)
      : owner_(owner),
        on_delivery_(std::move(on_delivery)),
        refs_(size),
        remaining_(size + 1) {  // + 1: the producing guard, see DoneProducing
    for (std::size_t i = 0; i < size; ++i) refs_[i] = Ref{this, i};
  }

  Ref* ref(std::size_t index) { return &refs_[index]; }

  // Reports event `index`: delivered when `kind` is kNone, else failed
  // with `error`.
  void Report(std::size_t index, ErrorClass kind, std::string error) {
    if (kind == ErrorClass::kNone) {
      on_delivery_(index, Delivery{});
      std::unique_lock<std::mutex> lock(mu_);
      ++published_;
      Arrive(lock);
      return;
    }
    std::unique_lock<std::mutex> lock(mu_);
    failures_.push_back(Failure{index, kind, std::move(error)});
    Arrive(lock);
  }

  // Called once every event was handed to librdkafka (or failed at once).
  void DoneProducing() {
    std::unique_lock<std::mutex> lock(mu_);
    Arrive(lock);
  }

 private:
  struct Failure {
    std::size_t index;
    ErrorClass kind;
    std::string error;
  };

  void Arrive(std::unique_lock<std::mutex>& lock) {
    if (--remaining_ > 0) return;
    lock.unlock();
    Finish();
  }

  // Reports the held failures, then deletes this call.
  void Finish() {
    bool all_unreachable = published_ == 0;
    for (const Failure& f : failures_) {
      if (f.kind != ErrorClass::kUnreachable) all_unreachable = false;
    }
    const bool cluster_down = all_unreachable || owner_.cluster_down_.load();
    for (Failure& f : failures_) {
      on_delivery_(f.index, Delivery{OutcomeOf(f.kind, cluster_down), std::move(f.error)});
    }
    KafkaPublisher& owner = owner_;
    delete this;
    owner.CallFinished();
  }

  static Outcome OutcomeOf(ErrorClass kind, bool cluster_down) {
    switch (kind) {
      case ErrorClass::kNone:
        return Outcome::kPublished;
      case ErrorClass::kPermanent:
        return Outcome::kRejected;
      case ErrorClass::kUnreachable:
        return cluster_down ? Outcome::kUnavailable : Outcome::kRetry;
      case ErrorClass::kTransient:
        return Outcome::kRetry;
    }
    return Outcome::kRetry;
  }

  KafkaPublisher& owner_;
  const DeliveryCallback on_delivery_;
  std::vector<Ref> refs_;
  std::mutex mu_;
  std::size_t remaining_;          // guarded by mu_
  std::size_t published_ = 0;      // guarded by mu_
  std::vector<Failure> failures_;  // guarded by mu_
};

Result<std::unique_ptr<KafkaPublisher>> KafkaPublisher::Open(std::string_view url,
                                                             const PublisherOptions& options) {
  Result<KafkaConfig> config = ParseKafkaConfig(url, options);
  if (!config) return std::unexpected(config.error());
  // Check every property, and read back the ones the guarantees rest on.
  Result<rd_kafka_conf_t*> conf = MakeConf(*config);
  if (!conf) return std::unexpected(conf.error());
  Guarantees guarantees{
      .keeps_key_order =
          ConfIsTrue(*conf, "enable.idempotence") && ConfIsTrue(*conf, "enable.gapless.guarantee"),
      .deduplicates_by_id = false};
  rd_kafka_conf_destroy(*conf);

  std::unique_ptr<KafkaPublisher> publisher(
      new KafkaPublisher(std::move(*config), guarantees));
  if (Status s = publisher->StartProducer(); !s.ok()) {
    return std::unexpected(InvalidArgument(s.message()));
  }
  return publisher;
}

KafkaPublisher::KafkaPublisher(KafkaConfig config, Guarantees guarantees)
    : config_(std::move(config)),
      cloud_events_{.source = config_.source, .subject_from_key = false},
      guarantees_(guarantees) {}

KafkaPublisher::~KafkaPublisher() { StopProducer(); }

Guarantees KafkaPublisher::guarantees() const { return guarantees_; }

Status KafkaPublisher::StartProducer() {
  Result<rd_kafka_conf_t*> conf = MakeConf(config_);
  if (!conf) return conf.error();
  rd_kafka_conf_set_opaque(*conf, this);
  rd_kafka_conf_set_dr_msg_cb(*conf, &KafkaPublisher::OnDelivery);
  rd_kafka_conf_set_error_cb(*conf, &KafkaPublisher::OnError);
  std::array<char, 512> errstr{};
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, *conf, errstr.data(), errstr.size());
  if (rk == nullptr) {
    rd_kafka_conf_destroy(*conf);
    return Internal(fmt::format("kafka configuration: {}", errstr.data()));
  }
  rk_ = rk;
  known_topics_.clear();
  fatal_ = false;
  cluster_down_ = false;
  poller_ = std::jthread([this](std::stop_token stop) { PollLoop(stop); });
  return OkStatus();
}

void KafkaPublisher::StopProducer() {
  if (rk_ == nullptr) return;
  poller_.request_stop();
  if (poller_.joinable()) poller_.join();
  // rd_kafka_flush and rd_kafka_poll serve delivery reports on this thread.
  rd_kafka_flush(rk_, static_cast<int>(kCloseFlush.count()));
  rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  rd_kafka_flush(rk_, static_cast<int>(kCloseAfterPurge.count()));
  rd_kafka_poll(rk_, 0);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (outstanding_calls_ > 0) {
      LogError("kafka producer closed with {} calls still waiting for deliveries",
                    outstanding_calls_);
    }
  }
  rd_kafka_destroy(rk_);
  rk_ = nullptr;
}

void KafkaPublisher::PollLoop(std::stop_token stop) {
  bool purged = false;
  while (!stop.stop_requested()) {
    rd_kafka_poll(rk_, kPollMillis);
    if (fatal_.load() && !purged) {
      // Nothing more will be delivered by this producer: hand every message
      // back now (reported kRetry) so that it can be rebuilt.
      rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT |
                              RD_KAFKA_PURGE_F_NON_BLOCKING);
      purged = true;
    }
  }
}

void KafkaPublisher::Publish(std::span<const Event> events, DeliveryCallback on_delivery) {
  if (events.empty()) return;
  if (fatal_.load() || rk_ == nullptr) {
    WaitForCalls(kCloseFlush + kCloseAfterPurge);
    StopProducer();
    rebuilds_.fetch_add(1);
    if (Status s = StartProducer(); !s.ok()) {
      LogError("kafka producer could not be made anew: {}", s.ToString());
      for (std::size_t i = 0; i < events.size(); ++i) {
        gate_.Close(events[i].key);
        on_delivery(i, Delivery{Outcome::kRetry, s.message()});
      }
      return;
    }
    LogInfo("kafka producer made anew after a fatal error");
  }
  CallStarted();
  auto* call = new Call(*this, events.size(), std::move(on_delivery));
  // A key with an event that failed (refused at once, or reported failed)
  // has its later events held back until the engine resumes it, so that
  // none of them lands after the gap.
  for (std::size_t i = 0; i < events.size(); ++i) {
    const Event& event = events[i];
    if (!gate_.Admit(event.key)) {
      call->Report(i, ErrorClass::kTransient, KeyOrderGate::HeldBackError(event.key));
      continue;
    }
    if (!Produce(*call, i, event)) gate_.Close(event.key);
  }
  call->DoneProducing();
}

void KafkaPublisher::Resume(std::span<const std::string> keys) { gate_.Resume(keys); }

bool KafkaPublisher::Produce(Call& call, std::size_t index, const Event& event) {
  const std::string topic = MapTopic(config_.topic_template, event.topic);
  LearnTopic(topic);
  rd_kafka_headers_t* headers = MakeHeaders(event, cloud_events_);
  const char* key = event.key.empty() ? nullptr : event.key.data();
  while (true) {
    rd_kafka_resp_err_t err = rd_kafka_producev(
        rk_, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(key, event.key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(event.payload.data()), event.payload.size()),
        RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_OPAQUE(call.ref(index)), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return true;  // librdkafka owns the headers now
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      rd_kafka_poll(rk_, kQueueFullPollMillis);
      continue;
    }
    rd_kafka_headers_destroy(headers);
    if (err == RD_KAFKA_RESP_ERR__FATAL) fatal_ = true;
    call.Report(index, ClassifyKafkaError(err),
                fmt::format("{}, topic '{}'", DescribeKafkaError(err), topic));
    return false;
  }
}

void KafkaPublisher::LearnTopic(const std::string& topic) {
  if (!known_topics_.insert(topic).second) return;
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk_, topic.c_str(), nullptr);
  if (rkt == nullptr) return;  // producing will report what is wrong
  const rd_kafka_metadata_t* metadata = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk_, 0, rkt, &metadata, kTopicMetadataMillis);
  if (metadata != nullptr) rd_kafka_metadata_destroy(metadata);
  rd_kafka_topic_destroy(rkt);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    LogDebug("kafka metadata of topic '{}' not known yet: {}", topic, rd_kafka_err2str(err));
  }
}

void KafkaPublisher::CallStarted() {
  std::lock_guard<std::mutex> lock(mu_);
  ++outstanding_calls_;
}

void KafkaPublisher::CallFinished() {
  std::lock_guard<std::mutex> lock(mu_);
  --outstanding_calls_;
  calls_done_.notify_all();
}

void KafkaPublisher::WaitForCalls(milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  calls_done_.wait_for(lock, timeout, [this] { return outstanding_calls_ == 0; });
}

void KafkaPublisher::InjectFatalErrorForTesting(const std::string& reason) {
  rd_kafka_test_fatal_error(rk_, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, reason.c_str());
}

void KafkaPublisher::OnDelivery(rd_kafka_t* /*rk*/, const rd_kafka_message_t* message,
                                void* opaque) {
  auto* self = static_cast<KafkaPublisher*>(opaque);
  auto* ref = static_cast<Call::Ref*>(message->_private);
  if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    self->cluster_down_ = false;
    ref->call->Report(ref->index, ErrorClass::kNone, {});
    return;
  }
  self->gate_.Close(std::string_view(static_cast<const char*>(message->key), message->key_len));
  ref->call->Report(ref->index, ClassifyKafkaError(message->err),
                    fmt::format("{}, topic '{}'", DescribeKafkaError(message->err),
                                rd_kafka_topic_name(message->rkt)));
}

void KafkaPublisher::OnError(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  auto* self = static_cast<KafkaPublisher*>(opaque);
  const auto code = static_cast<rd_kafka_resp_err_t>(err);
  if (code == RD_KAFKA_RESP_ERR__FATAL) {
    std::array<char, 512> detail{};
    rd_kafka_resp_err_t cause = rd_kafka_fatal_error(rk, detail.data(), detail.size());
    LogError("kafka producer fatal error, it will be made anew: {}: {}",
                  rd_kafka_err2name(cause), detail.data());
    self->fatal_ = true;
    return;
  }
  if (code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
    self->cluster_down_ = true;
    LogWarning("kafka: {}", reason);
  }
  // Other errors are informational (librdkafka retries them) and already
  // logged through the log callback.
}

}  // namespace herald::publish
