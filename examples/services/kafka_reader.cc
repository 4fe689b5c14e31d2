#include "services/kafka_reader.h"

#include <librdkafka/rdkafka.h>

#include <array>
#include <thread>

namespace herald::examples {
namespace {

// Partitions of `topic` per the cluster's metadata, or 0 while unknown.
int PartitionCount(rd_kafka_t* rk, const std::string& topic) {
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  int count = 0;
  if (rd_kafka_metadata(rk, 0, rkt, &md, 2000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      count = md->topics[0].partition_cnt;
    }
    rd_kafka_metadata_destroy(md);
  }
  rd_kafka_topic_destroy(rkt);
  return count;
}

std::optional<std::string> HeaderValue(const rd_kafka_message_t* m, const char* name) {
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(m, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR) return std::nullopt;
  const void* value = nullptr;
  std::size_t size = 0;
  if (rd_kafka_header_get_last(headers, name, &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      value == nullptr) {
    return std::nullopt;
  }
  return std::string(static_cast<const char*>(value), size);
}

}  // namespace

Result<std::unique_ptr<KafkaReader>> KafkaReader::Open(
    const std::string& bootstraps, const std::string& topic,
    const std::map<std::string, std::string>& properties,
    std::chrono::milliseconds metadata_timeout) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  std::map<std::string, std::string> all = {{"bootstrap.servers", bootstraps},
                                            {"group.id", "herald-example-" + topic},
                                            {"enable.auto.commit", "false"},
                                            {"enable.partition.eof", "false"},
                                            {"log_level", "3"}};
  for (const auto& [k, v] : properties) all[k] = v;
  std::array<char, 512> err{};
  for (const auto& [k, v] : all) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err.data(), err.size()) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return std::unexpected(InvalidArgument("kafka property '" + k + "': " + err.data()));
    }
  }
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err.data(), err.size());
  if (rk == nullptr) return std::unexpected(InvalidArgument(err.data()));
  std::unique_ptr<KafkaReader> reader(new KafkaReader(rk, 0));

  auto deadline = std::chrono::steady_clock::now() + metadata_timeout;
  while ((reader->partitions_ = PartitionCount(rk, topic)) == 0) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return std::unexpected(
          Unavailable("no metadata for Kafka topic '" + topic + "' from " + bootstraps));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(reader->partitions_);
  for (int p = 0; p < reader->partitions_; ++p) {
    rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  rd_kafka_resp_err_t assigned = rd_kafka_assign(rk, list);
  rd_kafka_topic_partition_list_destroy(list);
  if (assigned != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return std::unexpected(Internal(std::string("assign: ") + rd_kafka_err2str(assigned)));
  }
  return reader;
}

KafkaReader::~KafkaReader() {
  rd_kafka_consumer_close(rk_);
  rd_kafka_destroy(rk_);
}

Result<std::optional<BusMessage>> KafkaReader::Poll(std::chrono::milliseconds timeout) {
  rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_, static_cast<int>(timeout.count()));
  if (m == nullptr) return std::optional<BusMessage>();
  std::unique_ptr<rd_kafka_message_t, void (*)(rd_kafka_message_t*)> owned(
      m, rd_kafka_message_destroy);
  if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) return std::optional<BusMessage>();
  std::optional<std::string> ce_id = HeaderValue(m, "ce_id");
  std::optional<EventId> id = ce_id ? EventId::Parse(*ce_id) : std::nullopt;
  if (!id) {
    return std::unexpected(InvalidArgument("message at offset " + std::to_string(m->offset) +
                                           " has no valid ce_id header"));
  }
  BusMessage out;
  out.id = *id;
  if (m->key != nullptr) out.key.assign(static_cast<const char*>(m->key), m->key_len);
  if (m->payload != nullptr) out.payload.assign(static_cast<const char*>(m->payload), m->len);
  return std::optional<BusMessage>(std::move(out));
}

}  // namespace herald::examples
