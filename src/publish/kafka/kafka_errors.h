// What a librdkafka error code means for one event: the table behind the
// Kafka publisher's outcomes.
#ifndef HERALD_PUBLISH_KAFKA_KAFKA_ERRORS_H_
#define HERALD_PUBLISH_KAFKA_KAFKA_ERRORS_H_

#include <librdkafka/rdkafka.h>

#include <string>
#include <string_view>

namespace herald::publish {

enum class ErrorClass {
  kNone,         // delivered
  kTransient,    // may pass on its own: retry the event later
  kUnreachable,  // the cluster could not be reached (timeouts, transport)
  kPermanent,    // the broker or client refuses this message for good
};

std::string_view ErrorClassName(ErrorClass c);

// Classifies an error from a delivery report or from producing. Unknown
// codes are kTransient (the relay's max_attempts bounds them).
ErrorClass ClassifyKafkaError(rd_kafka_resp_err_t err);

// "Broker: Message size too large (MSG_SIZE_TOO_LARGE)": the librdkafka
// text and the code's name, for an event's last error.
std::string DescribeKafkaError(rd_kafka_resp_err_t err);

}  // namespace herald::publish

#endif  // HERALD_PUBLISH_KAFKA_KAFKA_ERRORS_H_
