#include "publish/rabbitmq/rabbitmq_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <string_view>

namespace herald::publish {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

PublisherOptions Props(std::map<std::string, std::string> properties) {
  PublisherOptions options;
  options.properties = std::move(properties);
  return options;
}

TEST(RabbitMqConfigTest, FullUrlGivesHostPortCredentialsAndVhost) {
  auto config = ParseRabbitMqConfig("amqp://relay:s3cret@mq.example:5673/orders", {});
  ASSERT_TRUE(config.has_value()) << config.error().ToString();
  EXPECT_FALSE(config->tls);
  EXPECT_EQ(config->host, "mq.example");
  EXPECT_EQ(config->port, 5673);
  EXPECT_EQ(config->user, "relay");
  EXPECT_EQ(config->password, "s3cret");
  EXPECT_EQ(config->vhost, "orders");
  EXPECT_EQ(config->exchange, "");
  EXPECT_EQ(config->confirm_window, 1000);
}

TEST(RabbitMqConfigTest, DefaultsFollowTheScheme) {
  auto plain = ParseRabbitMqConfig("amqp://localhost", {});
  ASSERT_TRUE(plain.has_value()) << plain.error().ToString();
  EXPECT_EQ(plain->port, 5672);
  EXPECT_EQ(plain->user, "guest");
  EXPECT_EQ(plain->password, "guest");
  EXPECT_EQ(plain->vhost, "/");
  auto slash = ParseRabbitMqConfig("amqp://guest:guest@127.0.0.1:55672/", {});
  ASSERT_TRUE(slash.has_value()) << slash.error().ToString();
  EXPECT_EQ(slash->vhost, "/");
  auto tls = ParseRabbitMqConfig("amqps://mq.example", {});
  ASSERT_TRUE(tls.has_value()) << tls.error().ToString();
  EXPECT_TRUE(tls->tls);
  EXPECT_EQ(tls->port, 5671);
  EXPECT_TRUE(tls->tls_verify_peer);
  EXPECT_TRUE(tls->tls_verify_hostname);
}

TEST(RabbitMqConfigTest, PercentEscapesAreDecoded) {
  auto config = ParseRabbitMqConfig("amqp://us%40er:p%3Ass@h:1/%2Fprod", {});
  ASSERT_TRUE(config.has_value()) << config.error().ToString();
  EXPECT_EQ(config->user, "us@er");
  EXPECT_EQ(config->password, "p:ss");
  EXPECT_EQ(config->vhost, "/prod");
  auto v6 = ParseRabbitMqConfig("amqp://[::1]:5999/", {});
  ASSERT_TRUE(v6.has_value()) << v6.error().ToString();
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 5999);
}

TEST(RabbitMqConfigTest, MalformedUrlsAreInvalidArgumentsInOneLineWithoutThePassword) {
  for (std::string_view url :
       {"nats://h:1", "amqp://", "amqp://:5672", "amqp://h:0", "amqp://h:70000", "amqp://h:x",
        "amqp://h:", "amqp://u:topsecret@h:1/a/b", "amqp://u:topsecret@h:1/v?x=1",
        "amqp://h/%zz", "amqp://:topsecret@h", "amqp://u:topsecret@a,b:1", "amqp://[::1"}) {
    auto config = ParseRabbitMqConfig(url, {});
    ASSERT_FALSE(config.has_value()) << url;
    EXPECT_EQ(config.error().code(), Code::kInvalidArgument) << url;
    EXPECT_THAT(config.error().message(), HasSubstr("amqp")) << url;
    EXPECT_THAT(config.error().message(), Not(HasSubstr("topsecret"))) << url;
    EXPECT_THAT(config.error().message(), Not(HasSubstr("\n"))) << url;
  }
}

TEST(RabbitMqConfigTest, OptionsAreApplied) {
  auto config = ParseRabbitMqConfig(
      "amqps://h", Props({{"exchange", "events"},
                          {"confirm_window", "64"},
                          {"confirm_timeout_ms", "1500"},
                          {"connect_timeout_ms", "700"},
                          {"heartbeat_s", "0"},
                          {"ce.source", "billing"},
                          {"tls.ca", "/etc/ca.pem"},
                          {"tls.cert", "/etc/c.pem"},
                          {"tls.key", "/etc/k.pem"},
                          {"tls.verify_peer", "false"},
                          {"tls.verify_hostname", "no"}}));
  ASSERT_TRUE(config.has_value()) << config.error().ToString();
  EXPECT_EQ(config->exchange, "events");
  EXPECT_EQ(config->confirm_window, 64);
  EXPECT_EQ(config->confirm_timeout, std::chrono::milliseconds(1500));
  EXPECT_EQ(config->connect_timeout, std::chrono::milliseconds(700));
  EXPECT_EQ(config->heartbeat_s, 0);
  EXPECT_EQ(config->source, "billing");
  EXPECT_EQ(config->tls_ca_file, "/etc/ca.pem");
  EXPECT_EQ(config->tls_cert_file, "/etc/c.pem");
  EXPECT_EQ(config->tls_key_file, "/etc/k.pem");
  EXPECT_FALSE(config->tls_verify_peer);
  EXPECT_FALSE(config->tls_verify_hostname);
}

TEST(RabbitMqConfigTest, AnUnknownOptionIsNamed) {
  auto config = ParseRabbitMqConfig("amqp://h", Props({{"confirm_windw", "5"}}));
  ASSERT_FALSE(config.has_value());
  EXPECT_EQ(config.error().code(), Code::kInvalidArgument);
  EXPECT_THAT(config.error().message(), HasSubstr("'confirm_windw'"));
  EXPECT_THAT(config.error().message(), HasSubstr("confirm_window"));
}

TEST(RabbitMqConfigTest, BadValuesAndInconsistentOptionsAreRefused) {
  for (const auto& [name, value] : std::map<std::string, std::string>{
           {"confirm_window", "0"},
           {"confirm_timeout_ms", "-1"},
           {"connect_timeout_ms", "soon"},
           {"heartbeat_s", "70000"},
           {"tls.verify_peer", "maybe"},
           {"ce.source", ""}}) {
    auto config = ParseRabbitMqConfig("amqps://h", Props({{name, value}}));
    ASSERT_FALSE(config.has_value()) << name;
    EXPECT_EQ(config.error().code(), Code::kInvalidArgument);
    EXPECT_THAT(config.error().message(), HasSubstr(name));
  }
  auto tls_on_plain = ParseRabbitMqConfig("amqp://u:topsecret@h", Props({{"tls.ca", "/ca"}}));
  ASSERT_FALSE(tls_on_plain.has_value());
  EXPECT_THAT(tls_on_plain.error().message(), HasSubstr("amqps://"));
  EXPECT_THAT(tls_on_plain.error().message(), Not(HasSubstr("topsecret")));
  auto key_alone = ParseRabbitMqConfig("amqps://h", Props({{"tls.key", "/k"}}));
  ASSERT_FALSE(key_alone.has_value());
  EXPECT_THAT(key_alone.error().message(), HasSubstr("tls.cert"));
}

TEST(RabbitMqConfigTest, TopicMapsToExchangeAndRoutingKey) {
  RabbitMqRoute split = RouteOf("orders/eu.placed", "ignored");
  EXPECT_EQ(split.exchange, "orders");
  EXPECT_EQ(split.routing_key, "eu.placed");
  RabbitMqRoute first = RouteOf("x/a/b", "");
  EXPECT_EQ(first.exchange, "x");
  EXPECT_EQ(first.routing_key, "a/b");
  RabbitMqRoute plain = RouteOf("orders.placed", "");
  EXPECT_EQ(plain.exchange, "");
  EXPECT_EQ(plain.routing_key, "orders.placed");
  RabbitMqRoute named = RouteOf("orders.placed", "events");
  EXPECT_EQ(named.exchange, "events");
  EXPECT_EQ(named.routing_key, "orders.placed");
  RabbitMqRoute empty_exchange = RouteOf("/q1", "events");
  EXPECT_EQ(empty_exchange.exchange, "");
  EXPECT_EQ(empty_exchange.routing_key, "q1");
}

}  // namespace
}  // namespace herald::publish
