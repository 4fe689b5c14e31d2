// Test and benchmark support: librdkafka's in-process mock cluster, and a
// plain consumer that reads back what landed on it.
#ifndef HERALD_PUBLISH_KAFKA_MOCK_CLUSTER_H_
#define HERALD_PUBLISH_KAFKA_MOCK_CLUSTER_H_

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

namespace herald::publish::testing {

// A mock Kafka cluster on loopback ports, alive as long as this object.
// Not thread-safe, except that the fault calls may be made while producers
// and consumers run on other threads.
class MockCluster {
 public:
  // Aborts the process if librdkafka cannot make the cluster.
  explicit MockCluster(int brokers = 3);
  ~MockCluster();
  MockCluster(const MockCluster&) = delete;
  MockCluster& operator=(const MockCluster&) = delete;

  // "127.0.0.1:port,..." and the matching "kafka://..." URL.
  std::string bootstraps() const;
  std::string url() const { return "kafka://" + bootstraps(); }
  int brokers() const { return brokers_; }

  void CreateTopic(const std::string& topic, int partitions, int replication = 3);
  void SetAllBrokersDown();
  void SetAllBrokersUp();
  // The next `errors.size()` Produce requests (any broker) fail with these.
  void PushProduceErrors(std::initializer_list<rd_kafka_resp_err_t> errors);
  // Metadata for `topic` reports `err` (NO_ERROR clears it).
  void SetTopicError(const std::string& topic, rd_kafka_resp_err_t err);

 private:
  int brokers_;
  rd_kafka_t* handle_ = nullptr;
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
};

struct ConsumedMessage {
  std::string topic;
  int partition = 0;
  std::int64_t offset = 0;
  bool has_key = false;
  std::string key;
  std::string value;
  std::vector<std::pair<std::string, std::string>> headers;  // in wire order

  // The value of the first header named `name`, or "" if none.
  std::string Header(const std::string& name) const;
};

// Reads partitions [0, partitions) of `topic` from the beginning with an
// explicitly assigned consumer (no group join), until `count` messages
// arrived or `timeout` passed, then `linger` more to catch extras. Messages
// come in partition-offset order within each partition.
std::vector<ConsumedMessage> Consume(const std::string& bootstraps, const std::string& topic,
                                     int partitions, std::size_t count,
                                     std::chrono::milliseconds timeout,
                                     std::chrono::milliseconds linger = std::chrono::milliseconds(300));

}  // namespace herald::publish::testing

#endif  // HERALD_PUBLISH_KAFKA_MOCK_CLUSTER_H_
