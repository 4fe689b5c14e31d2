// Reads a Kafka topic for a consumer service (bus_reader.h): every partition
// explicitly assigned from the beginning (no consumer-group join), the event
// id from the CloudEvents `ce_id` header. Offsets are not committed.
#ifndef HERALD_EXAMPLES_SERVICES_KAFKA_READER_H_
#define HERALD_EXAMPLES_SERVICES_KAFKA_READER_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "herald/status.h"
#include "services/bus_reader.h"

struct rd_kafka_s;

namespace herald::examples {

class KafkaReader final : public BusReader {
 public:
  // Connects to `bootstraps` ("host:port,...") and assigns every partition of
  // `topic` (asked of the cluster, waiting up to `metadata_timeout`).
  // `properties` are extra librdkafka properties. Unavailable when the topic's
  // metadata cannot be had; InvalidArgument for a refused property.
  static Result<std::unique_ptr<KafkaReader>> Open(
      const std::string& bootstraps, const std::string& topic,
      const std::map<std::string, std::string>& properties = {},
      std::chrono::milliseconds metadata_timeout = std::chrono::seconds(10));
  ~KafkaReader() override;
  KafkaReader(const KafkaReader&) = delete;
  KafkaReader& operator=(const KafkaReader&) = delete;

  Result<std::optional<BusMessage>> Poll(std::chrono::milliseconds timeout) override;

  int partitions() const { return partitions_; }

 private:
  KafkaReader(rd_kafka_s* rk, int partitions) : rk_(rk), partitions_(partitions) {}
  rd_kafka_s* rk_;
  int partitions_;
};

}  // namespace herald::examples

#endif  // HERALD_EXAMPLES_SERVICES_KAFKA_READER_H_
