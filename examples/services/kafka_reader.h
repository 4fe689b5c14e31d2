// Reads a Kafka topic for a consumer service: every partition explicitly
// assigned from the beginning (no consumer-group join), each message turned
// into the event id of its CloudEvents `ce_id` header and its payload. Offsets
// are not committed: the inbox is what makes a second reading harmless.
//
// Thread-compatible: one thread at a time.
#ifndef HERALD_EXAMPLES_SERVICES_KAFKA_READER_H_
#define HERALD_EXAMPLES_SERVICES_KAFKA_READER_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "herald/event.h"
#include "herald/status.h"

struct rd_kafka_s;

namespace herald::examples {

struct BusMessage {
  EventId id;
  std::string key;
  std::string payload;
  int partition = 0;
  std::int64_t offset = 0;
};

class KafkaReader {
 public:
  // Connects to `bootstraps` ("host:port,...") and assigns every partition of
  // `topic` (asked of the cluster, waiting up to `metadata_timeout`).
  // `properties` are extra librdkafka properties. Unavailable when the topic's
  // metadata cannot be had; InvalidArgument for a refused property.
  static Result<std::unique_ptr<KafkaReader>> Open(
      const std::string& bootstraps, const std::string& topic,
      const std::map<std::string, std::string>& properties = {},
      std::chrono::milliseconds metadata_timeout = std::chrono::seconds(10));
  ~KafkaReader();
  KafkaReader(const KafkaReader&) = delete;
  KafkaReader& operator=(const KafkaReader&) = delete;

  // The next message, or nullopt when none came within `timeout`. A message
  // without a valid ce_id header is InvalidArgument (skip it). Transport
  // errors are librdkafka's to retry and are not reported.
  Result<std::optional<BusMessage>> Poll(std::chrono::milliseconds timeout);

  int partitions() const { return partitions_; }

 private:
  KafkaReader(rd_kafka_s* rk, int partitions) : rk_(rk), partitions_(partitions) {}
  rd_kafka_s* rk_;
  int partitions_;
};

}  // namespace herald::examples

#endif  // HERALD_EXAMPLES_SERVICES_KAFKA_READER_H_
