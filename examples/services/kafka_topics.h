// Creating the example system's topics on a Kafka cluster.
#ifndef HERALD_EXAMPLES_SERVICES_KAFKA_TOPICS_H_
#define HERALD_EXAMPLES_SERVICES_KAFKA_TOPICS_H_

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "herald/status.h"

namespace herald::examples {

// How CreateTopics made the topics.
enum class TopicCreation {
  kAdminApi,    // CreateTopics: `partitions` partitions, min(3, brokers) replicas
  kAutoCreate,  // the cluster's own auto-creation, with its default partition count
};

// Creates `topics` on the cluster at `bootstraps` ("host:port,...") and
// returns once each exists. First with the admin API (CreateTopics); a
// cluster that cannot take that request within `admin_timeout` (one that
// names no controller, like librdkafka 2.0's mock cluster) gets them by
// auto-creation instead: a metadata request asking for them, which a cluster
// with auto.create.topics.enable honours. `properties` are extra librdkafka
// properties (security settings and the like).
// AlreadyExists if a topic exists; InvalidArgument for a refused property;
// FailedPrecondition, with the broker's reason, when the cluster refused a
// topic; Unavailable when the cluster did not answer, or the topics did not
// appear within `timeout`.
Result<TopicCreation> CreateTopics(const std::string& bootstraps,
                                   const std::vector<std::string>& topics, int partitions,
                                   const std::map<std::string, std::string>& properties = {},
                                   std::chrono::milliseconds admin_timeout = std::chrono::seconds(3),
                                   std::chrono::milliseconds timeout = std::chrono::seconds(15));

}  // namespace herald::examples

#endif  // HERALD_EXAMPLES_SERVICES_KAFKA_TOPICS_H_
