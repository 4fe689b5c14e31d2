#include "publish/redis/redis_config.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <string_view>

#include "publish/redis/redis_publisher.h"

namespace herald::publish {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

PublisherOptions Props(std::map<std::string, std::string> properties) {
  PublisherOptions options;
  options.properties = std::move(properties);
  return options;
}

Status ErrorOf(std::string_view url, const PublisherOptions& options = {}) {
  auto config = ParseRedisConfig(url, options);
  return config.has_value() ? OkStatus() : config.error();
}

TEST(RedisConfigTest, HostPortAndDefaults) {
  auto config = ParseRedisConfig("redis://cache.example:6380", {});
  ASSERT_TRUE(config.has_value()) << config.error().ToString();
  EXPECT_EQ(config->host, "cache.example");
  EXPECT_EQ(config->port, 6380);
  EXPECT_EQ(config->db, 0);
  EXPECT_TRUE(config->user.empty());
  EXPECT_TRUE(config->password.empty());
  EXPECT_EQ(config->stream_prefix, "");
  EXPECT_EQ(config->maxlen, 0);
  EXPECT_EQ(config->dedup_window, std::chrono::minutes(10));
  EXPECT_EQ(config->wait_replicas, 0);
  EXPECT_EQ(config->source, "herald");

  auto bare = ParseRedisConfig("redis://localhost", {});
  ASSERT_TRUE(bare.has_value());
  EXPECT_EQ(bare->port, 6379);
  auto v6 = ParseRedisConfig("redis://[::1]:7000/3", {});
  ASSERT_TRUE(v6.has_value()) << v6.error().ToString();
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 7000);
  EXPECT_EQ(v6->db, 3);
}

TEST(RedisConfigTest, CredentialsAreDecodedAndMaskedInTheDisplay) {
  auto config = ParseRedisConfig("redis://relay:s%40cret@h:1/2", {});
  ASSERT_TRUE(config.has_value()) << config.error().ToString();
  EXPECT_EQ(config->user, "relay");
  EXPECT_EQ(config->password, "s@cret");
  EXPECT_EQ(config->db, 2);
  EXPECT_EQ(config->display, "redis://relay:***@h:1/2");
  EXPECT_THAT(config->display, Not(HasSubstr("cret")));

  auto password_only = ParseRedisConfig("redis://:pw@h:1", {});
  ASSERT_TRUE(password_only.has_value());
  EXPECT_TRUE(password_only->user.empty());
  EXPECT_EQ(password_only->password, "pw");

  auto as_options = ParseRedisConfig("redis://h:1", Props({{"user", "u"}, {"password", "p"}}));
  ASSERT_TRUE(as_options.has_value());
  EXPECT_EQ(as_options->user, "u");
  EXPECT_EQ(as_options->password, "p");

  Status twice = ErrorOf("redis://:pw@h:1", Props({{"password", "other"}}));
  EXPECT_EQ(twice.code(), Code::kInvalidArgument);
  EXPECT_THAT(twice.message(), HasSubstr("already carries credentials"));
  EXPECT_THAT(twice.message(), Not(HasSubstr("pw@")));
  EXPECT_THAT(ErrorOf("redis://h:1", Props({{"user", "u"}})).message(), HasSubstr("needs"));
}

TEST(RedisConfigTest, MalformedUrlsAreInvalidArgumentNamingTheUrlWithoutItsPassword) {
  for (std::string_view url :
       {"", "redis:/h:1", "http://h:1", "redis://", "redis://:1", "redis://h:", "redis://h:0",
        "redis://h:65536", "redis://h:x", "redis://h:1/x", "redis://h:1/-1", "redis://h:1?db=1",
        "redis://h:1#f", "redis://u@h:1", "redis://u:@h:1", "redis://a,b:1", "redis://[::1",
        "redis://u:p%zz@h:1", "redis://h:1/0/1"}) {
    Status s = ErrorOf(url);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << url;
    EXPECT_EQ(s.message().find('\n'), std::string::npos) << url;
    EXPECT_THAT(s.message(), HasSubstr("publisher URL")) << url;
  }
  Status masked = ErrorOf("redis://u:hunter2@h:1/x");
  EXPECT_THAT(masked.message(), HasSubstr("redis://u:***@h:1/x"));
  EXPECT_THAT(masked.message(), Not(HasSubstr("hunter2")));
}

TEST(RedisConfigTest, TlsUrlsAreRefusedWithTheReason) {
  Status s = ErrorOf("rediss://u:secret@h:6380");
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("rediss:// (TLS) is not supported"));
  EXPECT_THAT(s.message(), HasSubstr("hiredis 0.14"));
  EXPECT_THAT(s.message(), Not(HasSubstr("secret")));
  EXPECT_EQ(s.message().find('\n'), std::string::npos);
}

TEST(RedisConfigTest, OptionsAreParsed) {
  auto config = ParseRedisConfig(
      "redis://h:1", Props({{"herald.stream.prefix", "prod:"},
                            {"herald.maxlen", "100000"},
                            {"herald.dedup_window_ms", "0"},
                            {"herald.max_pending", "64"},
                            {"herald.wait", "2,250"},
                            {"herald.reply_timeout_ms", "1500"},
                            {"herald.ce.source", "/billing"},
                            {"connect_timeout_ms", "300"},
                            {"reconnect_wait_ms", "20"},
                            {"reconnect_wait_max_ms", "400"}}));
  ASSERT_TRUE(config.has_value()) << config.error().ToString();
  EXPECT_EQ(config->stream_prefix, "prod:");
  EXPECT_EQ(config->maxlen, 100000);
  EXPECT_EQ(config->dedup_window.count(), 0);
  EXPECT_EQ(config->max_pending, 64);
  EXPECT_EQ(config->wait_replicas, 2);
  EXPECT_EQ(config->wait_timeout.count(), 250);
  EXPECT_EQ(config->reply_timeout.count(), 1500);
  EXPECT_EQ(config->source, "/billing");
  EXPECT_EQ(config->connect_timeout.count(), 300);
  EXPECT_EQ(config->reconnect_wait.count(), 20);
  EXPECT_EQ(config->reconnect_wait_max.count(), 400);

  auto wait = ParseRedisConfig("redis://h:1", Props({{"herald.wait", "1"}}));
  ASSERT_TRUE(wait.has_value());
  EXPECT_EQ(wait->wait_replicas, 1);
  EXPECT_EQ(wait->wait_timeout.count(), 1000);
}

TEST(RedisConfigTest, UnknownOptionsAndBadValuesAreInvalidArgumentNamingThem) {
  Status unknown = ErrorOf("redis://h:1", Props({{"acks", "all"}}));
  EXPECT_EQ(unknown.code(), Code::kInvalidArgument);
  EXPECT_THAT(unknown.message(), HasSubstr("unknown redis option 'acks'"));
  EXPECT_THAT(unknown.message(), HasSubstr("herald.dedup_window_ms"));
  for (const auto& [name, value] : std::map<std::string, std::string>{
           {"herald.maxlen", "-1"},
           {"herald.max_pending", "0"},
           {"herald.dedup_window_ms", "1h"},
           {"herald.wait", "x"},
           {"herald.wait", "1,"},
           {"herald.wait", "1,0"},
           {"herald.reply_timeout_ms", ""},
           {"connect_timeout_ms", "0"},
           {"herald.ce.source", ""}}) {
    Status s = ErrorOf("redis://h:1", Props({{name, value}}));
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << name << "=" << value;
    EXPECT_THAT(s.message(), HasSubstr(fmt::format("'{}'", name))) << s.message();
  }
  Status backoff =
      ErrorOf("redis://h:1", Props({{"reconnect_wait_ms", "500"}, {"reconnect_wait_max_ms", "10"}}));
  EXPECT_EQ(backoff.code(), Code::kInvalidArgument);
  Status password = ErrorOf("redis://h:1", Props({{"password", ""}}));
  EXPECT_THAT(password.message(), HasSubstr("'password'"));
}

TEST(RedisPublisherTest, OpenRefusesWhatTheParserRefusesAndStartsWithoutAServer) {
  auto bad = RedisPublisher::Open("redis://h:1", Props({{"nope", "1"}}));
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), Code::kInvalidArgument);
  // Nothing listens on port 1: opening is no error (the first call finds out).
  auto publisher = RedisPublisher::Open("redis://127.0.0.1:1", {});
  ASSERT_TRUE(publisher.has_value()) << publisher.error().ToString();
  EXPECT_FALSE((*publisher)->guarantees().keeps_key_order);
  EXPECT_TRUE((*publisher)->guarantees().deduplicates_by_id);
  auto plain = RedisPublisher::Open("redis://127.0.0.1:1", Props({{"herald.dedup_window_ms", "0"}}));
  ASSERT_TRUE(plain.has_value());
  EXPECT_FALSE((*plain)->guarantees().deduplicates_by_id);
}

}  // namespace
}  // namespace herald::publish
