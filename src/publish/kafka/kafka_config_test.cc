// Configuration and error classification of the Kafka publisher; no broker.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <utility>

#include "herald/publisher.h"
#include "publish/kafka/kafka_config.h"
#include "publish/kafka/kafka_errors.h"
#include "publish/kafka/kafka_publisher.h"

namespace herald::publish {
namespace {

using ::testing::HasSubstr;
using ::testing::Pair;

PublisherOptions Props(std::initializer_list<std::pair<const std::string, std::string>> p) {
  PublisherOptions options;
  options.properties = p;
  return options;
}

Status OpenError(std::string_view url, const PublisherOptions& options = {}) {
  auto p = KafkaPublisher::Open(url, options);
  return p.has_value() ? OkStatus() : p.error();
}

std::string ValueOf(const KafkaConfig& config, const std::string& name) {
  std::string value;  // the last setting wins, as in librdkafka
  for (const auto& [n, v] : config.rdkafka) {
    if (n == name) value = v;
  }
  return value;
}

TEST(KafkaConfigTest, UrlGivesBootstrapServersThenSafeDefaults) {
  auto config = ParseKafkaConfig("kafka://a:9092,b.example:19092", {});
  ASSERT_TRUE(config.has_value()) << config.error().ToString();
  ASSERT_FALSE(config->rdkafka.empty());
  EXPECT_THAT(config->rdkafka.front(), Pair("bootstrap.servers", "a:9092,b.example:19092"));
  EXPECT_EQ(ValueOf(*config, "enable.idempotence"), "true");
  EXPECT_EQ(ValueOf(*config, "acks"), "all");
  EXPECT_EQ(ValueOf(*config, "enable.gapless.guarantee"), "true");
  EXPECT_EQ(ValueOf(*config, "max.in.flight.requests.per.connection"), "5");
  EXPECT_EQ(ValueOf(*config, "message.timeout.ms"), "30000");
  EXPECT_EQ(config->topic_template, "{topic}");
  EXPECT_EQ(config->source, "herald");
}

TEST(KafkaConfigTest, CallerPropertiesOverrideDefaultsAndHeraldOnesStayHere) {
  auto config = ParseKafkaConfig(
      "kafka://a:1/", Props({{"acks", "1"},
                             {"compression.type", "zstd"},
                             {"herald.topic.template", "prod.{topic}.v1"},
                             {"herald.ce.source", "/billing"}}));
  ASSERT_TRUE(config.has_value()) << config.error().ToString();
  EXPECT_EQ(ValueOf(*config, "acks"), "1");
  EXPECT_EQ(ValueOf(*config, "compression.type"), "zstd");
  EXPECT_EQ(ValueOf(*config, "herald.topic.template"), "");
  EXPECT_EQ(MapTopic(config->topic_template, "orders"), "prod.orders.v1");
  EXPECT_EQ(config->source, "/billing");
}

TEST(KafkaConfigTest, TopicPrefixAndTemplateMapping) {
  auto config = ParseKafkaConfig("kafka://a:1", Props({{"herald.topic.prefix", "dev-"}}));
  ASSERT_TRUE(config.has_value());
  EXPECT_EQ(MapTopic(config->topic_template, "orders"), "dev-orders");
  EXPECT_EQ(MapTopic("{topic}", "x"), "x");
  EXPECT_EQ(MapTopic("{topic}.{topic}", "x"), "x.x");
}

TEST(KafkaConfigTest, MalformedUrlsAreInvalidArgumentNamingTheUrl) {
  for (std::string_view url :
       {"kafka://", "kafka:///", "kafka://host", "kafka://:9092", "kafka://h:0", "kafka://h:65536",
        "kafka://h:x", "kafka://h:1,", "kafka://h:1/topic", "kafka://h:1?acks=all", "kafka:h:1",
        "kafka://u@h:1"}) {
    auto config = ParseKafkaConfig(url, {});
    ASSERT_FALSE(config.has_value()) << url;
    EXPECT_EQ(config.error().code(), Code::kInvalidArgument) << url;
    EXPECT_THAT(config.error().message(), HasSubstr(std::string(url))) << url;
    EXPECT_EQ(config.error().message().find('\n'), std::string::npos);
  }
}

TEST(KafkaConfigTest, PropertyMistakesAreInvalidArgumentNamingTheProperty) {
  struct Case {
    PublisherOptions options;
    std::string named;
  };
  const Case cases[] = {
      {Props({{"herald.topic.template", "prod"}}), "herald.topic.template"},
      {Props({{"herald.topic.template", "{topic}"}, {"herald.topic.prefix", "p"}}),
       "herald.topic.prefix"},
      {Props({{"herald.colour", "blue"}}), "herald.colour"},
      {Props({{"herald.ce.source", ""}}), "herald.ce.source"},
      {Props({{"bootstrap.servers", "x:1"}}), "bootstrap.servers"},
  };
  for (const Case& c : cases) {
    auto config = ParseKafkaConfig("kafka://a:1", c.options);
    ASSERT_FALSE(config.has_value()) << c.named;
    EXPECT_EQ(config.error().code(), Code::kInvalidArgument);
    EXPECT_THAT(config.error().message(), HasSubstr(c.named));
  }
}

TEST(KafkaPublisherOpenTest, PropertiesLibrdkafkaRefusesAreInvalidArgument) {
  Status unknown = OpenError("kafka://127.0.0.1:1", Props({{"no.such.property", "1"}}));
  EXPECT_EQ(unknown.code(), Code::kInvalidArgument);
  EXPECT_THAT(unknown.message(), HasSubstr("no.such.property"));
  EXPECT_EQ(unknown.message().find('\n'), std::string::npos);

  Status bad_value = OpenError("kafka://127.0.0.1:1", Props({{"compression.type", "rar"}}));
  EXPECT_EQ(bad_value.code(), Code::kInvalidArgument);
  EXPECT_THAT(bad_value.message(), HasSubstr("compression.type"));

  // Idempotence requires acks=all: librdkafka checks it when the producer
  // is made.
  Status inconsistent = OpenError("kafka://127.0.0.1:1", Props({{"acks", "1"}}));
  EXPECT_EQ(inconsistent.code(), Code::kInvalidArgument);
  EXPECT_THAT(inconsistent.message(), HasSubstr("acks"));

  EXPECT_EQ(OpenError("kafka://nohost").code(), Code::kInvalidArgument);
}

TEST(KafkaPublisherOpenTest, OpenPublisherServesKafkaUrls) {
  auto publisher = OpenPublisher("kafka://127.0.0.1:1", Props({{"linger.ms", "1"}}));
  ASSERT_TRUE(publisher.has_value()) << publisher.error().ToString();
  EXPECT_TRUE((*publisher)->guarantees().keeps_key_order);
  EXPECT_FALSE((*publisher)->guarantees().deduplicates_by_id);
  auto bad = OpenPublisher("kafka://127.0.0.1", {});
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), Code::kInvalidArgument);
}

TEST(KafkaPublisherOpenTest, KeyOrderNeedsIdempotenceAndGaplessGuarantee) {
  struct Case {
    PublisherOptions options;
    bool keeps_key_order;
  };
  const Case cases[] = {
      {{}, true},
      {Props({{"enable.gapless.guarantee", "false"}}), false},
      {Props({{"enable.idempotence", "false"}, {"enable.gapless.guarantee", "false"}}), false},
      {Props({{"enable.idempotence", "false"},
              {"enable.gapless.guarantee", "false"},
              {"max.in.flight.requests.per.connection", "1"}}),
       false},
  };
  for (const Case& c : cases) {
    auto publisher = KafkaPublisher::Open("kafka://127.0.0.1:1", c.options);
    ASSERT_TRUE(publisher.has_value()) << publisher.error().ToString();
    EXPECT_EQ((*publisher)->guarantees().keeps_key_order, c.keeps_key_order);
    EXPECT_FALSE((*publisher)->guarantees().deduplicates_by_id);
  }
}

TEST(KafkaErrorsTest, ClassificationTable) {
  const std::pair<rd_kafka_resp_err_t, ErrorClass> table[] = {
      {RD_KAFKA_RESP_ERR_NO_ERROR, ErrorClass::kNone},
      {RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, ErrorClass::kUnreachable},
      {RD_KAFKA_RESP_ERR__TIMED_OUT, ErrorClass::kUnreachable},
      {RD_KAFKA_RESP_ERR__TRANSPORT, ErrorClass::kUnreachable},
      {RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, ErrorClass::kUnreachable},
      {RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, ErrorClass::kUnreachable},
      {RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, ErrorClass::kTransient},
      {RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND, ErrorClass::kTransient},
      {RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE, ErrorClass::kTransient},
      {RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, ErrorClass::kTransient},
      {RD_KAFKA_RESP_ERR__PURGE_QUEUE, ErrorClass::kTransient},
      {RD_KAFKA_RESP_ERR__PURGE_INFLIGHT, ErrorClass::kTransient},
      {RD_KAFKA_RESP_ERR__FATAL, ErrorClass::kTransient},
      {RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, ErrorClass::kPermanent},
      {RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE, ErrorClass::kPermanent},
      {RD_KAFKA_RESP_ERR_INVALID_RECORD, ErrorClass::kPermanent},
      {RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, ErrorClass::kPermanent},
      {RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION, ErrorClass::kPermanent},
      {RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, ErrorClass::kPermanent},
      {RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC, ErrorClass::kPermanent},
  };
  for (const auto& [err, expected] : table) {
    EXPECT_EQ(ClassifyKafkaError(err), expected)
        << rd_kafka_err2name(err) << " is " << ErrorClassName(ClassifyKafkaError(err));
  }
  EXPECT_EQ(DescribeKafkaError(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE),
            "Broker: Message size too large (MSG_SIZE_TOO_LARGE)");
}

}  // namespace
}  // namespace herald::publish
