#include "publish/kafka/mock_cluster.h"

#include <array>
#include <cstdio>
#include <cstdlib>

namespace herald::publish::testing {
namespace {

[[noreturn]] void Die(const char* what, const char* detail) {
  std::fprintf(stderr, "mock cluster: %s: %s\n", what, detail);
  std::abort();
}

void Set(rd_kafka_conf_t* conf, const char* name, const std::string& value) {
  std::array<char, 256> errstr{};
  if (rd_kafka_conf_set(conf, name, value.c_str(), errstr.data(), errstr.size()) !=
      RD_KAFKA_CONF_OK) {
    Die(name, errstr.data());
  }
}

void Check(rd_kafka_resp_err_t err, const char* what) {
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) Die(what, rd_kafka_err2str(err));
}

}  // namespace

MockCluster::MockCluster(int brokers) : brokers_(brokers) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  Set(conf, "log_level", "3");
  std::array<char, 256> errstr{};
  handle_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr.data(), errstr.size());
  if (handle_ == nullptr) Die("rd_kafka_new", errstr.data());
  cluster_ = rd_kafka_mock_cluster_new(handle_, brokers);
  if (cluster_ == nullptr) Die("rd_kafka_mock_cluster_new", "failed");
}

MockCluster::~MockCluster() {
  rd_kafka_mock_cluster_destroy(cluster_);
  rd_kafka_destroy(handle_);
}

std::string MockCluster::bootstraps() const { return rd_kafka_mock_cluster_bootstraps(cluster_); }

void MockCluster::CreateTopic(const std::string& topic, int partitions, int replication) {
  Check(rd_kafka_mock_topic_create(cluster_, topic.c_str(), partitions, replication),
        "create topic");
}

void MockCluster::SetAllBrokersDown() {
  for (int id = 1; id <= brokers_; ++id) Check(rd_kafka_mock_broker_set_down(cluster_, id), "down");
}

void MockCluster::SetAllBrokersUp() {
  for (int id = 1; id <= brokers_; ++id) Check(rd_kafka_mock_broker_set_up(cluster_, id), "up");
}

void MockCluster::PushProduceErrors(std::initializer_list<rd_kafka_resp_err_t> errors) {
  std::vector<rd_kafka_resp_err_t> list(errors);
  rd_kafka_mock_push_request_errors_array(cluster_, /*Produce=*/0, list.size(), list.data());
}

void MockCluster::SetTopicError(const std::string& topic, rd_kafka_resp_err_t err) {
  rd_kafka_mock_topic_set_error(cluster_, topic.c_str(), err);
}

std::string ConsumedMessage::Header(const std::string& name) const {
  for (const auto& [n, v] : headers) {
    if (n == name) return v;
  }
  return "";
}

namespace {

ConsumedMessage ToConsumed(const rd_kafka_message_t* m) {
  ConsumedMessage out;
  out.topic = rd_kafka_topic_name(m->rkt);
  out.partition = m->partition;
  out.offset = m->offset;
  out.has_key = m->key != nullptr;
  if (m->key != nullptr) out.key.assign(static_cast<const char*>(m->key), m->key_len);
  if (m->payload != nullptr) out.value.assign(static_cast<const char*>(m->payload), m->len);
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(m, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char* name = nullptr;
    const void* value = nullptr;
    std::size_t size = 0;
    for (std::size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) ==
                            RD_KAFKA_RESP_ERR_NO_ERROR;
         ++i) {
      out.headers.emplace_back(name, value != nullptr
                                         ? std::string(static_cast<const char*>(value), size)
                                         : std::string());
    }
  }
  return out;
}

}  // namespace

std::vector<ConsumedMessage> Consume(const std::string& bootstraps, const std::string& topic,
                                     int partitions, std::size_t count,
                                     std::chrono::milliseconds timeout,
                                     std::chrono::milliseconds linger) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  Set(conf, "bootstrap.servers", bootstraps);
  Set(conf, "group.id", "herald-test-reader");
  Set(conf, "enable.auto.commit", "false");
  Set(conf, "log_level", "3");
  std::array<char, 256> errstr{};
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr.data(), errstr.size());
  if (rk == nullptr) Die("consumer", errstr.data());
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) {
    rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  Check(rd_kafka_assign(rk, list), "assign");
  rd_kafka_topic_partition_list_destroy(list);

  std::vector<ConsumedMessage> out;
  using Clock = std::chrono::steady_clock;
  auto deadline = Clock::now() + timeout;
  bool lingering = false;
  while (Clock::now() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) out.push_back(ToConsumed(m));
    rd_kafka_message_destroy(m);
    if (!lingering && out.size() >= count) {
      lingering = true;
      deadline = Clock::now() + linger;
    }
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return out;
}

}  // namespace herald::publish::testing
