#include "services/kafka_topics.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <array>
#include <memory>
#include <thread>

namespace herald::examples {
namespace {

using Steady = std::chrono::steady_clock;

struct Deleter {
  void operator()(rd_kafka_t* p) const { rd_kafka_destroy(p); }
  void operator()(rd_kafka_queue_t* p) const { rd_kafka_queue_destroy(p); }
  void operator()(rd_kafka_NewTopic_t* p) const { rd_kafka_NewTopic_destroy(p); }
  void operator()(rd_kafka_AdminOptions_t* p) const { rd_kafka_AdminOptions_destroy(p); }
  void operator()(rd_kafka_event_t* p) const { rd_kafka_event_destroy(p); }
  void operator()(rd_kafka_topic_t* p) const { rd_kafka_topic_destroy(p); }
};
template <typename T>
using Owned = std::unique_ptr<T, Deleter>;

int Millis(std::chrono::milliseconds d) { return static_cast<int>(d.count()); }

// Brokers in the cluster's metadata, or 0 if it did not answer.
int BrokerCount(rd_kafka_t* rk, std::chrono::milliseconds timeout) {
  const rd_kafka_metadata_t* md = nullptr;
  if (rd_kafka_metadata(rk, 0, nullptr, &md, Millis(timeout)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return 0;
  }
  int n = md->broker_cnt;
  rd_kafka_metadata_destroy(md);
  return n;
}

Result<Owned<rd_kafka_t>> Client(const std::string& bootstraps,
                                 const std::map<std::string, std::string>& properties) {
  std::array<char, 512> err{};
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  std::map<std::string, std::string> all = properties;
  all["bootstrap.servers"] = bootstraps;
  all.try_emplace("log_level", "3");
  for (const auto& [k, v] : all) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err.data(), err.size()) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return std::unexpected(InvalidArgument("kafka property '" + k + "': " + err.data()));
    }
  }
  // A producer: its metadata requests may ask the cluster to auto-create.
  Owned<rd_kafka_t> rk(rd_kafka_new(RD_KAFKA_PRODUCER, conf, err.data(), err.size()));
  if (rk == nullptr) return std::unexpected(InvalidArgument(err.data()));
  return rk;
}

// CreateTopics. Unavailable when the request itself failed (no controller,
// timeout); the first topic's refusal otherwise.
Status CreateWithAdminApi(rd_kafka_t* rk, const std::vector<std::string>& topics, int partitions,
                          int replicas, std::chrono::milliseconds timeout) {
  std::array<char, 512> err{};
  std::vector<Owned<rd_kafka_NewTopic_t>> specs;
  std::vector<rd_kafka_NewTopic_t*> raw;
  for (const std::string& topic : topics) {
    specs.emplace_back(
        rd_kafka_NewTopic_new(topic.c_str(), partitions, replicas, err.data(), err.size()));
    if (specs.back() == nullptr) return InvalidArgument(err.data());
    raw.push_back(specs.back().get());
  }
  Owned<rd_kafka_AdminOptions_t> options(
      rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS));
  rd_kafka_AdminOptions_set_request_timeout(options.get(), Millis(timeout), err.data(), err.size());
  rd_kafka_AdminOptions_set_operation_timeout(options.get(), Millis(timeout), err.data(),
                                              err.size());
  Owned<rd_kafka_queue_t> queue(rd_kafka_queue_new(rk));
  rd_kafka_CreateTopics(rk, raw.data(), raw.size(), options.get(), queue.get());

  Owned<rd_kafka_event_t> event(rd_kafka_queue_poll(queue.get(), Millis(timeout) + 1000));
  if (event == nullptr) return Unavailable("the Kafka cluster did not answer CreateTopics");
  if (rd_kafka_event_error(event.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Unavailable(std::string("CreateTopics: ") + rd_kafka_event_error_string(event.get()));
  }
  const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(event.get());
  std::size_t count = 0;
  const rd_kafka_topic_result_t** results =
      result != nullptr ? rd_kafka_CreateTopics_result_topics(result, &count) : nullptr;
  for (std::size_t i = 0; i < count; ++i) {
    rd_kafka_resp_err_t code = rd_kafka_topic_result_error(results[i]);
    if (code == RD_KAFKA_RESP_ERR_NO_ERROR) continue;
    const char* why = rd_kafka_topic_result_error_string(results[i]);
    std::string message = std::string("creating topic ") + rd_kafka_topic_result_name(results[i]) +
                          ": " + (why != nullptr ? why : rd_kafka_err2str(code));
    if (code == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) return AlreadyExists(message);
    return FailedPrecondition(message);
  }
  if (count != topics.size()) return Internal("CreateTopics: a topic has no result");
  return OkStatus();
}

// Partitions of `topic` in a fresh metadata answer (asking for it, which
// lets the cluster auto-create it), or 0.
int Partitions(rd_kafka_t* rk, const std::string& topic, std::chrono::milliseconds timeout) {
  Owned<rd_kafka_topic_t> rkt(rd_kafka_topic_new(rk, topic.c_str(), nullptr));
  const rd_kafka_metadata_t* md = nullptr;
  int count = 0;
  if (rd_kafka_metadata(rk, 0, rkt.get(), &md, Millis(timeout)) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      count = md->topics[0].partition_cnt;
    }
    rd_kafka_metadata_destroy(md);
  }
  return count;
}

}  // namespace

Result<TopicCreation> CreateTopics(const std::string& bootstraps,
                                   const std::vector<std::string>& topics, int partitions,
                                   const std::map<std::string, std::string>& properties,
                                   std::chrono::milliseconds admin_timeout,
                                   std::chrono::milliseconds timeout) {
  Result<Owned<rd_kafka_t>> rk = Client(bootstraps, properties);
  if (!rk) return std::unexpected(rk.error());
  const auto deadline = Steady::now() + timeout;
  const int brokers = BrokerCount(rk->get(), timeout);
  if (brokers == 0) {
    return std::unexpected(Unavailable("no answer from the Kafka cluster at " + bootstraps));
  }
  Status admin =
      CreateWithAdminApi(rk->get(), topics, partitions, std::min(3, brokers), admin_timeout);
  if (admin.ok()) return TopicCreation::kAdminApi;
  if (admin.code() != Code::kUnavailable) return std::unexpected(admin);

  for (const std::string& topic : topics) {
    while (Partitions(rk->get(), topic, std::chrono::seconds(2)) == 0) {
      if (Steady::now() >= deadline) {
        return std::unexpected(Unavailable(
            "topic " + topic + " could be neither created (" + admin.message() +
            ") nor auto-created by the cluster"));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  return TopicCreation::kAutoCreate;
}

}  // namespace herald::examples
