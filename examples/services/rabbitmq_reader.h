// RabbitMQ for the example consumers: a fanout exchange of a run's own with
// one durable queue per consumer, and a reader of a queue (bus_reader.h)
// that acknowledges nothing: the broker keeps every message it delivered
// as unacknowledged, and gives them all again to the next reader of the
// queue once this one's connection is gone, as after a consumer's crash.
// The event id is the message's `message_id`, the key its
// `cloudEvents:subject` header.
#ifndef HERALD_EXAMPLES_SERVICES_RABBITMQ_READER_H_
#define HERALD_EXAMPLES_SERVICES_RABBITMQ_READER_H_

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "herald/status.h"
#include "publish/rabbitmq/rabbitmq_config.h"
#include "services/bus_reader.h"

typedef struct amqp_connection_state_t_* amqp_connection_state_t;

namespace herald::examples {

// Declares the durable fanout exchange `exchange` and a durable queue bound
// to it for each of `queues`, on the broker of `config`.
Status DeclareRabbitMqFanout(const publish::RabbitMqConfig& config, const std::string& exchange,
                             const std::vector<std::string>& queues);
// Deletes them; what is not there is no error.
Status DeleteRabbitMqFanout(const publish::RabbitMqConfig& config, const std::string& exchange,
                            const std::vector<std::string>& queues);

class RabbitMqReader final : public BusReader {
 public:
  static Result<std::unique_ptr<RabbitMqReader>> Open(const publish::RabbitMqConfig& config,
                                                      const std::string& queue);
  ~RabbitMqReader() override;
  RabbitMqReader(const RabbitMqReader&) = delete;
  RabbitMqReader& operator=(const RabbitMqReader&) = delete;

  // After a lost connection, connects and consumes again (the broker then
  // delivers every message of the queue again).
  Result<std::optional<BusMessage>> Poll(std::chrono::milliseconds timeout) override;

 private:
  RabbitMqReader(publish::RabbitMqConfig config, std::string queue)
      : config_(std::move(config)), queue_(std::move(queue)) {}
  Status Consume();
  void Close();

  publish::RabbitMqConfig config_;
  std::string queue_;
  amqp_connection_state_t conn_ = nullptr;
};

}  // namespace herald::examples

#endif  // HERALD_EXAMPLES_SERVICES_RABBITMQ_READER_H_
