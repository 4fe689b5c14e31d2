// The scheme of the Kafka folder: "kafka://HOST:PORT[,HOST:PORT...]";
// options are librdkafka properties (docs/kafka.md).
#include <array>
#include <span>

#include <librdkafka/rdkafka.h>

#include <string>

#include "publish/kafka/kafka_publisher.h"
#include "publish/scheme.h"

namespace herald::publish::kafka {
namespace {

std::string Library() { return std::string("librdkafka ") + rd_kafka_version_str(); }

constexpr std::array kSchemes = {
    Scheme{"kafka", "kafka://HOST:PORT[,HOST:PORT...]", "docs/kafka.md", OpenAs<KafkaPublisher>,
           Library},
};

}  // namespace

std::span<const Scheme> Schemes() { return kSchemes; }

}  // namespace herald::publish::kafka
