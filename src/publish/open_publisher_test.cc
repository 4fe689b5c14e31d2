#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "herald/publisher.h"

namespace herald {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class OpenPublisherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           fmt::format("herald-open-publisher-{}-{}", getpid(),
                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static Status ErrorOf(std::string_view url, const PublisherOptions& options = {}) {
    auto p = OpenPublisher(url, options);
    if (p.has_value()) return OkStatus();
    return p.error();
  }

  static void PublishOne(Publisher& publisher) {
    Event e = Event::Make("t", "k", "T", "{}");
    int published = 0;
    publisher.Publish(std::span<const Event>(&e, 1), [&](std::size_t, Delivery d) {
      if (d.outcome == Outcome::kPublished) ++published;
    });
    EXPECT_EQ(published, 1);
  }

  static std::size_t LineCount(const fs::path& p) {
    std::ifstream in(p);
    std::ostringstream out;
    out << in.rdbuf();
    std::string all = out.str();
    return static_cast<std::size_t>(std::count(all.begin(), all.end(), '\n'));
  }

  fs::path dir_;
};

TEST_F(OpenPublisherTest, OpensStdoutWithOrWithoutColon) {
  EXPECT_TRUE(OpenPublisher("stdout:").has_value());
  EXPECT_TRUE(OpenPublisher("stdout").has_value());
}

TEST_F(OpenPublisherTest, OpensFileByPlainPathAndByFileUrl) {
  fs::path abs = dir_ / "a.jsonl";
  auto plain = OpenPublisher("file:" + abs.string());
  ASSERT_TRUE(plain.has_value()) << plain.error().ToString();
  PublishOne(**plain);
  auto url = OpenPublisher("file://" + abs.string());
  ASSERT_TRUE(url.has_value()) << url.error().ToString();
  PublishOne(**url);
  auto localhost = OpenPublisher("file://localhost" + abs.string());
  ASSERT_TRUE(localhost.has_value()) << localhost.error().ToString();
  PublishOne(**localhost);
  EXPECT_EQ(LineCount(abs), 3u);
}

TEST_F(OpenPublisherTest, RelativeFilePathIsRelativeToWorkingDirectory) {
  fs::path old = fs::current_path();
  fs::current_path(dir_);
  auto p = OpenPublisher("file:rel.jsonl");
  ASSERT_TRUE(p.has_value()) << p.error().ToString();
  PublishOne(**p);
  fs::current_path(old);
  EXPECT_EQ(LineCount(dir_ / "rel.jsonl"), 1u);
}

TEST_F(OpenPublisherTest, UnknownSchemeNamesItAndListsSupported) {
  Status s = ErrorOf("kafak://x");
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  std::string supported;
  for (const PublisherScheme& scheme : PublisherSchemes()) {
    supported += (supported.empty() ? "" : ", ") + std::string(scheme.name);
  }
  EXPECT_EQ(s.message(),
            fmt::format("unknown publisher scheme 'kafak' in 'kafak://x' (supported: {})",
                        supported));
}

TEST(PublisherSchemesTest, ListsEveryBusOfThisBuildOnceAndOpensEach) {
  std::vector<std::string> names;
  for (const PublisherScheme& scheme : PublisherSchemes()) {
    names.emplace_back(scheme.name);
    EXPECT_TRUE(scheme.form.starts_with(std::string(scheme.name) + ":")) << scheme.form;
    EXPECT_TRUE(scheme.doc.starts_with("docs/")) << scheme.doc;
    EXPECT_TRUE(fs::exists(fs::path(HERALD_SOURCE_DIR) / scheme.doc)) << scheme.doc;
    // Each scheme reaches its own bus: a URL without a host is the bus's
    // own complaint, never "unknown scheme".
    auto p = OpenPublisher(std::string(scheme.name) + "://");
    if (!p.has_value()) {
      EXPECT_THAT(p.error().message(), ::testing::Not(HasSubstr("unknown publisher scheme")));
    }
  }
  std::vector<std::string> expected = {"stdout", "file"};
#ifdef HERALD_WITH_KAFKA
  expected.push_back("kafka");
#endif
#ifdef HERALD_WITH_NATS
  expected.push_back("nats");
#endif
#ifdef HERALD_WITH_RABBITMQ
  expected.push_back("amqp");
  expected.push_back("amqps");
#endif
#ifdef HERALD_WITH_REDIS
  expected.push_back("redis");
  expected.push_back("rediss");
#endif
#ifdef HERALD_WITH_HTTP
  expected.push_back("http");
  expected.push_back("https");
#endif
  std::vector<std::string> sorted = names;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::adjacent_find(sorted.begin(), sorted.end()), sorted.end()) << "a name twice";
  for (const std::string& name : expected) {
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
  }
  ASSERT_GE(names.size(), 2u);
  EXPECT_EQ(names[0], "stdout");
  EXPECT_EQ(names[1], "file");
}

TEST_F(OpenPublisherTest, MalformedUrlsAreInvalidArgument) {
  for (std::string_view url : {"", ":x", "/tmp/out.jsonl", "1file:x", "fi le:x", "stdout:extra",
                               "file:", "file://", "file://host/x", "file://nopath"}) {
    Status s = ErrorOf(url);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << url << " -> " << s.ToString();
    EXPECT_THAT(s.message(), HasSubstr(fmt::format("'{}'", url))) << url;
    EXPECT_EQ(s.message().find('\n'), std::string::npos);
  }
}

TEST_F(OpenPublisherTest, FileThatCannotBeOpenedIsFailedPrecondition) {
  std::string path = (dir_ / "missing-dir" / "x.jsonl").string();
  Status s = ErrorOf("file:" + path);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr(path));
  EXPECT_THAT(s.message(), HasSubstr("No such file or directory"));
}

TEST_F(OpenPublisherTest, BuiltInSinksRefuseOptions) {
  PublisherOptions options;
  options.properties["acks"] = "all";
  EXPECT_EQ(ErrorOf("stdout:", options).code(), Code::kInvalidArgument);
  Status s = ErrorOf("file:" + (dir_ / "x").string(), options);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("acks"));
  EXPECT_FALSE(fs::exists(dir_ / "x"));
}

#ifdef HERALD_WITH_NATS
TEST_F(OpenPublisherTest, NatsSchemeOpensTheJetStreamPublisher) {
  // Nothing listens on port 1: the publisher opens and connects in the
  // background; a malformed URL or option is refused at once.
  auto p = OpenPublisher("nats://127.0.0.1:1");
  ASSERT_TRUE(p.has_value()) << p.error().ToString();
  EXPECT_TRUE((*p)->guarantees().deduplicates_by_id);
  EXPECT_EQ(ErrorOf("nats://127.0.0.1").code(), Code::kInvalidArgument);
  PublisherOptions options;
  options.properties["acks"] = "all";
  Status s = ErrorOf("nats://127.0.0.1:1", options);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("acks"));
}
#endif

#ifdef HERALD_WITH_REDIS
TEST_F(OpenPublisherTest, RedisSchemeOpensTheStreamsPublisherAndRefusesTls) {
  // Nothing listens on port 1: the publisher opens (the first call
  // connects); a malformed URL or option, and rediss://, are refused at once.
  auto p = OpenPublisher("redis://127.0.0.1:1");
  ASSERT_TRUE(p.has_value()) << p.error().ToString();
  EXPECT_TRUE((*p)->guarantees().deduplicates_by_id);
  EXPECT_EQ(ErrorOf("redis://127.0.0.1:1/db").code(), Code::kInvalidArgument);
  Status tls = ErrorOf("rediss://127.0.0.1:6380");
  EXPECT_EQ(tls.code(), Code::kInvalidArgument);
  EXPECT_THAT(tls.message(), HasSubstr("not supported"));
  PublisherOptions options;
  options.properties["acks"] = "all";
  Status s = ErrorOf("redis://127.0.0.1:1", options);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("acks"));
}
#endif

TEST(OutcomeNameTest, NamesEveryOutcome) {
  EXPECT_EQ(OutcomeName(Outcome::kPublished), "published");
  EXPECT_EQ(OutcomeName(Outcome::kRetry), "retry");
  EXPECT_EQ(OutcomeName(Outcome::kUnavailable), "unavailable");
  EXPECT_EQ(OutcomeName(Outcome::kRejected), "rejected");
}

}  // namespace
}  // namespace herald
