#include "publish/http/http_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <string_view>

#include "core/base64.h"
#include "publish/http/webhook_signature.h"

namespace herald::publish {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

PublisherOptions Props(std::map<std::string, std::string> properties) {
  PublisherOptions options;
  options.properties = std::move(properties);
  return options;
}

// The published test vector of the Standard Webhooks specification.
constexpr std::string_view kSpecSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr std::string_view kSpecId = "msg_p5jXN8AQM9LWM0D4loKWxJek";
constexpr std::int64_t kSpecTimestamp = 1614265330;
constexpr std::string_view kSpecBody = R"({"test": 2432232314})";
constexpr std::string_view kSpecSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

TEST(WebhookSignatureTest, MatchesTheStandardWebhooksTestVector) {
  std::optional<std::string> secret = DecodeWebhookSecret(kSpecSecret);
  ASSERT_TRUE(secret.has_value());
  EXPECT_EQ(WebhookSignature(*secret, kSpecId, kSpecTimestamp, kSpecBody), kSpecSignature);
  // The prefix may be left out, and white space around it is ignored.
  EXPECT_EQ(DecodeWebhookSecret("  MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n"), secret);
  // Any change of id, time or body changes it.
  EXPECT_NE(WebhookSignature(*secret, kSpecId, kSpecTimestamp + 1, kSpecBody), kSpecSignature);
  EXPECT_NE(WebhookSignature(*secret, "msg_other", kSpecTimestamp, kSpecBody), kSpecSignature);
  EXPECT_NE(WebhookSignature(*secret, kSpecId, kSpecTimestamp, R"({"test": 2432232315})"),
            kSpecSignature);
}

TEST(WebhookSignatureTest, SignsIdTimestampAndBodyJoinedByDots) {
  // HMAC-SHA256("Jefe", "what do ya want.0.for nothing?") in base64, computed
  // apart with Python's hmac and hashlib.
  EXPECT_EQ(WebhookSignature("Jefe", "what do ya want", 0, "for nothing?"),
            "v1,UvnupSbzFRhE8T+Mt3HwdSuGfJ6+crenGwE8Efy8jaQ=");
}

TEST(WebhookSignatureTest, Base64RoundTripsAndRefusesJunk) {
  for (std::string_view s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    std::optional<std::string> back = Base64Decode(Base64Encode(s));
    ASSERT_TRUE(back.has_value()) << s;
    EXPECT_EQ(*back, s);
  }
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  for (std::string_view bad : {"Zm9", "Zm9v!mFy", "Z=9v", "Zm 9", "===="}) {
    EXPECT_FALSE(Base64Decode(bad).has_value()) << bad;
  }
  EXPECT_FALSE(DecodeWebhookSecret("whsec_").has_value());
  EXPECT_FALSE(DecodeWebhookSecret("whsec_not base64").has_value());
}

TEST(HttpConfigTest, UrlAndDefaults) {
  auto config = ParseHttpConfig("http://hooks.example:8080/in/{topic}?k={key}", {});
  ASSERT_TRUE(config.has_value()) << config.error().ToString();
  EXPECT_FALSE(config->tls);
  EXPECT_FALSE(config->batch);
  EXPECT_EQ(config->max_in_flight, 64);
  EXPECT_EQ(config->url_template, "http://hooks.example:8080/in/{topic}?k={key}");
  EXPECT_TRUE(config->signing_secret.empty());
  auto tls = ParseHttpConfig("https://[::1]/x", {});
  ASSERT_TRUE(tls.has_value()) << tls.error().ToString();
  EXPECT_TRUE(tls->tls);
  EXPECT_FALSE(tls->tls_skip_verify);
  EXPECT_TRUE(ParseHttpConfig("https://h", {}).has_value());
}

TEST(HttpConfigTest, PlaceholdersArePercentEncoded) {
  EXPECT_EQ(ExpandUrl("http://h/{topic}/{key}?t={topic}", "orders/eu", "a b&c"),
            "http://h/orders%2Feu/a%20b%26c?t=orders%2Feu");
  EXPECT_EQ(ExpandUrl("http://h/x", "t", "k"), "http://h/x");
  EXPECT_EQ(ExpandUrl("http://h/{key}", "t", ""), "http://h/");
  EXPECT_EQ(PercentEncode("A-z_0.9~é"), "A-z_0.9~%C3%A9");
}

TEST(HttpConfigTest, MalformedUrlsAreInvalidArgumentsInOneLineWithoutThePassword) {
  for (std::string_view url :
       {"ftp://h/x", "http://", "http:///x", "http://u:topsecret@:80/x", "http://h:0/",
        "http://h:70000/", "http://h:x/", "http://h:/", "http://u:topsecret@h/a#frag",
        "http://u:topsecret@h/{topc}", "http://u:topsecret@h/{topic", "http://h/}",
        "http://{topic}.example/x", "http://u:topsecret@h/a b", "http://h/%zz",
        "http://[::1/x", "http://a,b/x", "http://@h/x"}) {
    auto config = ParseHttpConfig(url, {});
    ASSERT_FALSE(config.has_value()) << url;
    EXPECT_EQ(config.error().code(), Code::kInvalidArgument) << url;
    EXPECT_THAT(config.error().message(), HasSubstr("publisher URL")) << url;
    EXPECT_THAT(config.error().message(), Not(HasSubstr("topsecret"))) << url;
    EXPECT_THAT(config.error().message(), Not(HasSubstr("\n"))) << url;
  }
  auto config = ParseHttpConfig("http://h/{nope}", {});
  ASSERT_FALSE(config.has_value());
  EXPECT_THAT(config.error().message(), HasSubstr("{nope}"));
}

TEST(HttpConfigTest, TheDisplayedUrlHasItsSecretsMasked) {
  auto config = ParseHttpConfig("https://user:topsecret@h/x?token=alsosecret&a=1", {});
  ASSERT_TRUE(config.has_value()) << config.error().ToString();
  EXPECT_THAT(config->display_url, Not(HasSubstr("topsecret")));
  EXPECT_THAT(config->display_url, Not(HasSubstr("alsosecret")));
  EXPECT_THAT(config->display_url, HasSubstr("a=1"));
}

TEST(HttpConfigTest, OptionsAreApplied) {
  auto config = ParseHttpConfig("https://h/x", Props({{"herald.batch", "true"},
                                                     {"herald.batch_max_events", "50"},
                                                     {"herald.max_in_flight", "8"},
                                                     {"herald.connect_timeout_ms", "700"},
                                                     {"herald.request_timeout_ms", "1500"},
                                                     {"herald.retry_after_max_ms", "3000"},
                                                     {"herald.ce.source", "/billing"},
                                                     {"tls.ca", "/etc/ca.pem"},
                                                     {"tls.cert", "/etc/c.pem"},
                                                     {"tls.key", "/etc/k.pem"},
                                                     {"tls.skip_verify", "yes"}}));
  ASSERT_TRUE(config.has_value()) << config.error().ToString();
  EXPECT_TRUE(config->batch);
  EXPECT_EQ(config->batch_max_events, 50);
  EXPECT_EQ(config->max_in_flight, 8);
  EXPECT_EQ(config->connect_timeout, std::chrono::milliseconds(700));
  EXPECT_EQ(config->request_timeout, std::chrono::milliseconds(1500));
  EXPECT_EQ(config->retry_after_max, std::chrono::milliseconds(3000));
  EXPECT_EQ(config->source, "/billing");
  EXPECT_EQ(config->tls_ca_file, "/etc/ca.pem");
  EXPECT_EQ(config->tls_cert_file, "/etc/c.pem");
  EXPECT_EQ(config->tls_key_file, "/etc/k.pem");
  EXPECT_TRUE(config->tls_skip_verify);
}

TEST(HttpConfigTest, AnUnknownOptionIsNamed) {
  auto config = ParseHttpConfig("http://h/x", Props({{"herald.max_inflight", "5"}}));
  ASSERT_FALSE(config.has_value());
  EXPECT_EQ(config.error().code(), Code::kInvalidArgument);
  EXPECT_THAT(config.error().message(), HasSubstr("'herald.max_inflight'"));
  EXPECT_THAT(config.error().message(), HasSubstr("herald.max_in_flight"));
}

TEST(HttpConfigTest, BadValuesAndInconsistentOptionsAreRefused) {
  for (const auto& [name, value] : std::map<std::string, std::string>{
           {"herald.max_in_flight", "0"},
           {"herald.batch_max_events", "-1"},
           {"herald.request_timeout_ms", "soon"},
           {"herald.batch", "maybe"},
           {"tls.skip_verify", "perhaps"},
           {"herald.ce.source", ""}}) {
    auto config = ParseHttpConfig("https://h", Props({{name, value}}));
    ASSERT_FALSE(config.has_value()) << name;
    EXPECT_EQ(config.error().code(), Code::kInvalidArgument);
    EXPECT_THAT(config.error().message(), HasSubstr(name));
  }
  auto tls_on_plain = ParseHttpConfig("http://u:topsecret@h", Props({{"tls.ca", "/ca"}}));
  ASSERT_FALSE(tls_on_plain.has_value());
  EXPECT_THAT(tls_on_plain.error().message(), HasSubstr("https://"));
  EXPECT_THAT(tls_on_plain.error().message(), Not(HasSubstr("topsecret")));
  auto key_alone = ParseHttpConfig("https://h", Props({{"tls.key", "/k"}}));
  ASSERT_FALSE(key_alone.has_value());
  EXPECT_THAT(key_alone.error().message(), HasSubstr("tls.cert"));
}

class SigningSecretTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = std::filesystem::temp_directory_path() /
            ("herald_http_secret_" + std::to_string(::getpid()));
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
    ::unsetenv("HERALD_HTTP_TEST_SECRET");
  }
  void Write(std::string_view text) {
    std::ofstream out(path_);
    out << text;
  }
  std::filesystem::path path_;
};

TEST_F(SigningSecretTest, ComesFromAFileOrAnEnvironmentVariable) {
  Write(std::string(kSpecSecret) + "\n");
  auto from_file =
      ParseHttpConfig("http://h/x", Props({{"herald.signing_secret_file", path_.string()}}));
  ASSERT_TRUE(from_file.has_value()) << from_file.error().ToString();
  EXPECT_EQ(from_file->signing_secret, DecodeWebhookSecret(kSpecSecret));
  ::setenv("HERALD_HTTP_TEST_SECRET", std::string(kSpecSecret).c_str(), 1);
  auto from_env =
      ParseHttpConfig("http://h/x", Props({{"herald.signing_secret_env", "HERALD_HTTP_TEST_SECRET"}}));
  ASSERT_TRUE(from_env.has_value()) << from_env.error().ToString();
  EXPECT_EQ(from_env->signing_secret, DecodeWebhookSecret(kSpecSecret));
}

TEST_F(SigningSecretTest, BadOrMissingSecretsAreRefusedWithoutShowingThem) {
  Write("whsec_not*base64*topsecret");
  auto bad = ParseHttpConfig("http://h/x", Props({{"herald.signing_secret_file", path_.string()}}));
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), Code::kInvalidArgument);
  EXPECT_THAT(bad.error().message(), HasSubstr(path_.string()));
  EXPECT_THAT(bad.error().message(), Not(HasSubstr("topsecret")));
  auto missing = ParseHttpConfig(
      "http://h/x", Props({{"herald.signing_secret_file", path_.string() + ".none"}}));
  ASSERT_FALSE(missing.has_value());
  EXPECT_THAT(missing.error().message(), HasSubstr("cannot read"));
  auto unset = ParseHttpConfig("http://h/x",
                               Props({{"herald.signing_secret_env", "HERALD_HTTP_TEST_SECRET"}}));
  ASSERT_FALSE(unset.has_value());
  EXPECT_THAT(unset.error().message(), HasSubstr("HERALD_HTTP_TEST_SECRET"));
  auto both = ParseHttpConfig("http://h/x", Props({{"herald.signing_secret_file", path_.string()},
                                                   {"herald.signing_secret_env", "X"}}));
  ASSERT_FALSE(both.has_value());
  EXPECT_THAT(both.error().message(), HasSubstr("give one"));
}

}  // namespace
}  // namespace herald::publish
