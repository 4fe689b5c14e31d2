// Configuration of the Kafka publisher: the `kafka://` URL and the
// properties of PublisherOptions, turned into librdkafka properties plus
// the few settings the publisher keeps for itself (herald.*).
#ifndef HERALD_PUBLISH_KAFKA_KAFKA_CONFIG_H_
#define HERALD_PUBLISH_KAFKA_KAFKA_CONFIG_H_

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "herald/publisher.h"
#include "herald/status.h"

namespace herald::publish {

// Properties consumed by the publisher itself; never passed to librdkafka.
inline constexpr std::string_view kTopicTemplateProperty = "herald.topic.template";
inline constexpr std::string_view kTopicPrefixProperty = "herald.topic.prefix";
inline constexpr std::string_view kSourceProperty = "herald.ce.source";

// The librdkafka defaults Herald sets for an outbox, before the caller's
// properties (which override them). In order of application.
const std::vector<std::pair<std::string, std::string>>& KafkaDefaultProperties();

struct KafkaConfig {
  // Every librdkafka property to set, in order: bootstrap.servers, the
  // defaults, then the caller's own.
  std::vector<std::pair<std::string, std::string>> rdkafka;
  // The Kafka topic of an event: "{topic}" replaced by the event's topic.
  std::string topic_template = "{topic}";
  // CloudEvents `source` attribute (header ce_source).
  std::string source = "herald";
};

// Parses "kafka://host:port[,host:port...]" and `options`. InvalidArgument,
// in one line, for a malformed URL (empty host, missing or bad port, a path
// or query), for bootstrap.servers/metadata.broker.list among the
// properties (brokers belong in the URL), for an unknown herald.* property,
// for a topic template without "{topic}", or for both a template and a
// prefix. librdkafka properties are checked when the producer is made.
Result<KafkaConfig> ParseKafkaConfig(std::string_view url, const PublisherOptions& options);

// The Kafka topic for `topic` under `topic_template`.
std::string MapTopic(std::string_view topic_template, std::string_view topic);

}  // namespace herald::publish

#endif  // HERALD_PUBLISH_KAFKA_KAFKA_CONFIG_H_
