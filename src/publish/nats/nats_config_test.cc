#include "publish/nats/nats_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <string_view>

#include "publish/nats/nats_publisher.h"

namespace herald::publish {
namespace {

using ::testing::HasSubstr;

PublisherOptions Props(std::map<std::string, std::string> properties) {
  PublisherOptions options;
  options.properties = std::move(properties);
  return options;
}

TEST(NatsConfigTest, ServerListBecomesOneUrlEach) {
  auto config = ParseNatsConfig("nats://a:4222,b.example:4223/", {});
  ASSERT_TRUE(config.has_value()) << config.error().ToString();
  EXPECT_EQ(config->servers,
            (std::vector<std::string>{"nats://a:4222", "nats://b.example:4223"}));
  EXPECT_EQ(config->subject_prefix, "");
  EXPECT_EQ(config->source, "herald");
  EXPECT_TRUE(config->create_stream.empty());
  EXPECT_FALSE(config->tls);
}

TEST(NatsConfigTest, CredentialsInTheUrlApplyToEveryServer) {
  auto config = ParseNatsConfig("nats://relay:s3cret@a:1,b:2", {});
  ASSERT_TRUE(config.has_value()) << config.error().ToString();
  EXPECT_EQ(config->user, "relay");
  EXPECT_EQ(config->password, "s3cret");
  EXPECT_EQ(config->servers, (std::vector<std::string>{"nats://a:1", "nats://b:2"}));
  auto token = ParseNatsConfig("nats://t0ken@a:1", {});
  ASSERT_TRUE(token.has_value());
  EXPECT_EQ(token->token, "t0ken");
  EXPECT_TRUE(token->user.empty());

  auto twice = ParseNatsConfig("nats://u:p@a:1", Props({{"token", "x"}}));
  ASSERT_FALSE(twice.has_value());
  EXPECT_THAT(twice.error().message(), HasSubstr("already carries credentials"));
}

TEST(NatsConfigTest, OptionsAreParsedAndCheckedTogether) {
  auto config = ParseNatsConfig(
      "nats://a:1", Props({{"creds", "/etc/herald/relay.creds"},
                           {"tls.ca", "/etc/ca.pem"},
                           {"herald.subject.prefix", "prod."},
                           {"herald.ce.source", "/billing"},
                           {"herald.max_pending", "100"},
                           {"herald.ack_timeout_ms", "1500"},
                           {"reconnect_wait_ms", "50"},
                           {"herald.stream.create", "ORDERS"},
                           {"herald.stream.subjects", "prod.orders, prod.audit.>"}}));
  ASSERT_TRUE(config.has_value()) << config.error().ToString();
  EXPECT_EQ(config->creds_file, "/etc/herald/relay.creds");
  EXPECT_TRUE(config->tls) << "a CA file implies TLS";
  EXPECT_EQ(config->subject_prefix, "prod.");
  EXPECT_EQ(config->source, "/billing");
  EXPECT_EQ(config->max_pending, 100);
  EXPECT_EQ(config->ack_timeout.count(), 1500);
  EXPECT_EQ(config->reconnect_wait.count(), 50);
  EXPECT_EQ(config->create_stream, "ORDERS");
  EXPECT_EQ(config->create_stream_subjects,
            (std::vector<std::string>{"prod.orders", "prod.audit.>"}));
}

TEST(NatsConfigTest, BadOptionsAreInvalidArgumentNamingTheOption) {
  struct Case {
    std::map<std::string, std::string> props;
    std::string_view needle;
  };
  for (const Case& c : std::vector<Case>{
           {{{"acks", "all"}}, "unknown nats option 'acks'"},
           {{{"herald.max_pending", "0"}}, "herald.max_pending"},
           {{{"herald.ack_timeout_ms", "soon"}}, "herald.ack_timeout_ms"},
           {{{"tls", "maybe"}}, "'tls'"},
           {{{"user", "u"}, {"token", "t"}}, "not several"},
           {{{"password", "p"}}, "needs 'user'"},
           {{{"tls.key", "k.pem"}}, "go together"},
           {{{"herald.stream.create", "S"}}, "needs 'herald.stream.subjects'"},
           {{{"herald.stream.subjects", "a"}}, "needs 'herald.stream.create'"},
           {{{"herald.ce.source", ""}}, "herald.ce.source"},
       }) {
    auto config = ParseNatsConfig("nats://a:1", Props(c.props));
    ASSERT_FALSE(config.has_value()) << c.needle;
    EXPECT_EQ(config.error().code(), Code::kInvalidArgument);
    EXPECT_THAT(config.error().message(), HasSubstr(c.needle));
    EXPECT_EQ(config.error().message().find('\n'), std::string::npos);
  }
}

TEST(NatsConfigTest, MalformedUrlsAreInvalidArgumentNamingTheUrl) {
  for (std::string_view url :
       {"nats://", "nats:///", "nats://host", "nats://:4222", "nats://h:0", "nats://h:65536",
        "nats://h:x", "nats://h:1,", "nats://h:1/subject", "nats://h:1?x=1", "nats:h:1",
        "nats://@h:1", "nats://:p@h:1", "tls://h:1"}) {
    auto config = ParseNatsConfig(url, {});
    ASSERT_FALSE(config.has_value()) << url;
    EXPECT_EQ(config.error().code(), Code::kInvalidArgument) << url;
    EXPECT_THAT(config.error().message(), HasSubstr(std::string(url))) << url;
  }
}

TEST(NatsConfigTest, PublishSubjectsAreLiteral) {
  for (std::string_view ok : {"orders", "prod.orders.v1", "a-b_c.D9", "x.y.z"}) {
    EXPECT_TRUE(IsValidPublishSubject(ok)) << ok;
  }
  for (std::string_view bad :
       {"", ".", "a.", ".a", "a..b", "a.*", "a.>", "*", ">", "a b", "a\tb", "a\nb", "a\x7f"}) {
    EXPECT_FALSE(IsValidPublishSubject(bad)) << bad;
  }
}

// cnats calls a connection's callbacks on a thread of its own, also after
// the publisher closed and destroyed it; a publisher opened against no
// server and destroyed at once is the quickest way there (caught by
// AddressSanitizer when a callback reached a destroyed publisher).
TEST(NatsPublisherLifetimeTest, CallbacksAfterTheDestructorReachNothingFreed) {
  for (int i = 0; i < 20; ++i) {
    auto publisher = NatsPublisher::Open("nats://127.0.0.1:1", {});
    ASSERT_TRUE(publisher.has_value()) << publisher.error().ToString();
    EXPECT_FALSE((*publisher)->connected());
  }
}

}  // namespace
}  // namespace herald::publish
