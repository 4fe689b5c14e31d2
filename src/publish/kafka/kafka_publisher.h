// The `kafka://host:port[,host:port...]` publisher, on librdkafka.
//
// Each event becomes one Kafka message: topic = the event's topic (through
// herald.topic.template or herald.topic.prefix), key = the event's key (an
// empty key is a null key), value = the payload, and CloudEvents binary-mode
// headers ce_id, ce_type, ce_source, ce_time, ce_specversion and
// content-type, followed by the event's own headers.
//
// Outcomes (from delivery reports, or at once when producing fails):
// delivered -> kPublished; a permanent error (too large, not authorised,
// unknown or invalid topic, invalid record) -> kRejected with librdkafka's
// reason; a cluster that cannot be reached (every failure of the call a
// timeout or transport error and nothing of it delivered, or all brokers
// reported down) -> kUnavailable; anything else -> kRetry. A fatal producer
// error reports kRetry for everything outstanding, and the producer is
// destroyed and made anew before the next Publish(). See docs/kafka.md.
#ifndef HERALD_PUBLISH_KAFKA_KAFKA_PUBLISHER_H_
#define HERALD_PUBLISH_KAFKA_KAFKA_PUBLISHER_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>

#include "herald/event.h"
#include "herald/publisher.h"
#include "herald/status.h"
#include "publish/common/cloud_events.h"
#include "publish/common/key_order_gate.h"
#include "publish/kafka/kafka_config.h"

struct rd_kafka_s;
struct rd_kafka_message_s;

namespace herald::publish {

class KafkaPublisher final : public Publisher {
 public:
  // Parses `url` and `options` (see ParseKafkaConfig) and makes the producer.
  // InvalidArgument naming the property for a property librdkafka refuses,
  // and for inconsistent properties. Connecting happens in the background:
  // an unreachable cluster shows up as deliveries, not here.
  static Result<std::unique_ptr<KafkaPublisher>> Open(std::string_view url,
                                                      const PublisherOptions& options);

  // Waits (bounded) for outstanding deliveries, purges what is left (those
  // events are reported kRetry) and destroys the producer.
  ~KafkaPublisher() override;
  KafkaPublisher(const KafkaPublisher&) = delete;
  KafkaPublisher& operator=(const KafkaPublisher&) = delete;

  // keeps_key_order: true when enable.idempotence and
  // enable.gapless.guarantee are both on (the defaults). deduplicates_by_id:
  // false.
  Guarantees guarantees() const override;

  // Produces every event, retrying while librdkafka's queue is full (never
  // dropping), then returns; deliveries arrive on the poll thread. Failures
  // are reported when the call's last delivery is known, so that a call
  // whose every message timed out is recognised as an unreachable cluster.
  // A key closes as soon as one of its events fails (at once, or in a
  // delivery report): its events are then held back (kRetry) until Resume()
  // names it. Events already handed to librdkafka rely on the idempotent
  // producer: with gapless delivery a failure stops every later message of
  // the partition (docs/kafka.md says where that does not hold).
  // REQUIRES: one caller at a time.
  void Publish(std::span<const Event> events, DeliveryCallback on_delivery) override;
  void Resume(std::span<const std::string> keys) override;

  // For tests: raises a fatal producer error, as the cluster could.
  void InjectFatalErrorForTesting(const std::string& reason);
  // How many times the producer was made anew after a fatal error.
  int rebuilds() const { return rebuilds_.load(); }

 private:
  class Call;

  KafkaPublisher(KafkaConfig config, Guarantees guarantees);

  // Makes the producer and starts the poll thread. Internal if librdkafka
  // refuses a configuration it accepted before.
  Status StartProducer();
  // Stops the poll thread, settles or purges outstanding messages and
  // destroys the producer. No-op without one.
  void StopProducer();
  void PollLoop(std::stop_token stop);
  // Produces event `index` of `call`. If librdkafka refuses it at once,
  // reports it failed and returns false.
  bool Produce(Call& call, std::size_t index, const Event& event);
  // Asks the cluster for `topic`'s partitions and leaders the first time
  // this producer meets it, waiting (bounded) for the answer. Without it, a
  // producer that meets a topic before its first metadata answer came in
  // learns the topic's leaders only on librdkafka's next one-second scan,
  // and the first events wait for that.
  void LearnTopic(const std::string& topic);
  void CallStarted();
  void CallFinished();
  void WaitForCalls(std::chrono::milliseconds timeout);

  static void OnDelivery(rd_kafka_s* rk, const rd_kafka_message_s* message, void* opaque);
  static void OnError(rd_kafka_s* rk, int err, const char* reason, void* opaque);

  const KafkaConfig config_;
  // The key is the Kafka message key, so no ce_subject.
  const CloudEventsOptions cloud_events_;
  const Guarantees guarantees_;
  rd_kafka_s* rk_ = nullptr;
  std::jthread poller_;
  std::atomic<bool> fatal_{false};
  std::atomic<bool> cluster_down_{false};
  std::atomic<int> rebuilds_{0};
  // Topics LearnTopic() asked about for the current producer. Touched only
  // by Publish() and the Produce() calls it makes (one caller at a time),
  // and by StartProducer().
  std::unordered_set<std::string> known_topics_;
  KeyOrderGate gate_;

  std::mutex mu_;
  std::condition_variable calls_done_;
  std::size_t outstanding_calls_ = 0;  // guarded by mu_
};

}  // namespace herald::publish

#endif  // HERALD_PUBLISH_KAFKA_KAFKA_PUBLISHER_H_
