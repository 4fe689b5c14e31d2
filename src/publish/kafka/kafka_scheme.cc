// The scheme of the Kafka folder: "kafka://HOST:PORT[,HOST:PORT...]";
// options are librdkafka properties (docs/kafka.md).
#include <array>
#include <span>

#include "publish/kafka/kafka_publisher.h"
#include "publish/scheme.h"

namespace herald::publish::kafka {
namespace {

constexpr std::array kSchemes = {
    Scheme{{"kafka", "kafka://HOST:PORT[,HOST:PORT...]", "docs/kafka.md"},
           OpenAs<KafkaPublisher>},
};

}  // namespace

std::span<const Scheme> Schemes() { return kSchemes; }

}  // namespace herald::publish::kafka
