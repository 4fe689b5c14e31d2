// The `amqp://` and `amqps://` publisher: RabbitMQ (AMQP 0-9-1), on rabbitmq-c.
//
// Each event becomes one persistent message (delivery_mode 2) published with
// the mandatory flag to the exchange and routing key of its topic (see
// RouteOf: "exchange/routing.key", or the `exchange` option and the whole
// topic). Properties: message_id = the event id, type = the event type,
// content_type, timestamp (seconds), app_id "herald"; the headers table holds
// the CloudEvents attributes of the AMQP binding (cloudEvents:id, :type,
// :source, :time, :specversion, :subject = the key when there is one) and
// then the event's own headers.
//
// The channel is in confirm mode and the publisher keeps a window of up to
// `confirm_window` messages waiting for their confirms; it never waits for
// one message's confirm before it sends the next. An event is kPublished only
// when its basic.ack arrives. A message the broker returns as unroutable
// (basic.return before its ack: no queue bound) -> kRejected with the
// broker's reply ("312 NO_ROUTE ..."); an exchange that does not exist (the
// broker's 404, found on a channel of its own before the first message to
// that exchange goes out) -> kRejected with the broker's reply; a message the
// broker refuses by closing the channel (too large...) -> kRejected for that
// message, kRetry for the others the closed channel held; basic.nack, or no
// confirm within `confirm_timeout_ms`, or a connection lost while confirms
// were outstanding -> kRetry; no connection to be had -> kUnavailable. A lost
// connection or closed channel is made anew for the next message to send (in
// the same call or a later one). See docs/rabbitmq.md.
//
// Threads: rabbitmq-c is not thread-safe, so one thread of the publisher's
// own owns the connection: it takes the calls Publish() queues, publishes,
// reads confirms and returns, and reports every delivery. The destructor
// joins it.
#ifndef HERALD_PUBLISH_RABBITMQ_RABBITMQ_PUBLISHER_H_
#define HERALD_PUBLISH_RABBITMQ_RABBITMQ_PUBLISHER_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <string_view>
#include <thread>

#include "herald/event.h"
#include "herald/publisher.h"
#include "herald/status.h"
#include "publish/rabbitmq/rabbitmq_config.h"

namespace herald::publish {

class RabbitMqPublisher final : public Publisher {
 public:
  // Parses `url` and `options` (see ParseRabbitMqConfig) and starts the
  // publisher's thread. InvalidArgument for a bad URL or option, or a TLS
  // file that cannot be read. It does not connect: the first call does, and
  // a broker that cannot be reached then is reported kUnavailable.
  static Result<std::unique_ptr<RabbitMqPublisher>> Open(std::string_view url,
                                                         const PublisherOptions& options);

  // Waits (up to the confirm timeout) for outstanding confirms, reports every
  // event still outstanding kRetry, closes the connection and joins the
  // publisher's thread. No callback runs after it returns.
  ~RabbitMqPublisher() override;
  RabbitMqPublisher(const RabbitMqPublisher&) = delete;
  RabbitMqPublisher& operator=(const RabbitMqPublisher&) = delete;

  // keeps_key_order: false. After a nack, a timeout or a lost connection a
  // later message of the same key may already be confirmed, so a failure
  // cannot stop what follows it; the relay then keeps one event per key in
  // flight. deduplicates_by_id: false (RabbitMQ does not de-duplicate).
  Guarantees guarantees() const override;

  // Queues the call for the publisher's thread and returns. Deliveries come
  // on that thread.
  // REQUIRES: one caller at a time.
  void Publish(std::span<const Event> events, DeliveryCallback on_delivery) override;

  // How many connections were made (the first and every new one after a
  // loss).
  int connections() const { return connections_.load(); }

 private:
  struct Call;
  class Worker;

  explicit RabbitMqPublisher(RabbitMqConfig config);

  const RabbitMqConfig config_;
  std::mutex mu_;
  std::deque<std::shared_ptr<Call>> queue_;  // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  int wake_fd_ = -1;                         // an eventfd the thread polls with its socket
  std::atomic<int> connections_{0};
  std::unique_ptr<Worker> worker_;
  std::thread thread_;
};

}  // namespace herald::publish

#endif  // HERALD_PUBLISH_RABBITMQ_RABBITMQ_PUBLISHER_H_
