#include "publish/file/file_publisher.h"

#include "core/base64.h"
#include "publish/file/event_json.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace herald::publish {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr std::string_view kId = "0190b7a4-5e1c-7d2a-8f00-3b1c2d3e4f50";
constexpr std::int64_t kCreatedMs = 1795976244123;  // 2026-11-29T18:17:24.123Z

Event FixedEvent(std::string payload, std::string content_type = std::string(kJsonContentType)) {
  Event e;
  e.id = *EventId::Parse(kId);
  e.topic = "transactions";
  e.key = "acct-1";
  e.type = "TransactionCreated";
  e.payload = std::move(payload);
  e.content_type = std::move(content_type);
  e.created_at = FromUnixMillis(kCreatedMs);
  return e;
}

std::string Line(std::string_view payload_json, std::string_view content_type,
                 std::string_view headers_json = "{}") {
  return std::string(
             R"({"event_id":"0190b7a4-5e1c-7d2a-8f00-3b1c2d3e4f50","topic":"transactions",)") +
         R"("key":"acct-1","type":"TransactionCreated","payload":)" + std::string(payload_json) +
         R"(,"content_type":")" + std::string(content_type) + R"(","headers":)" +
         std::string(headers_json) + R"(,"created_at":"2026-11-29T18:17:24.123Z"})" + "\n";
}

TEST(FormatEventLineTest, EmbedsJsonPayloadCompactlyKeepingItsKeyOrder) {
  Event e = FixedEvent("{ \"b\": 1,\n \"a\": [true, null, \"x\"] }");
  EXPECT_EQ(FormatEventLine(e), Line(R"({"b":1,"a":[true,null,"x"]})", "application/json"));
}

TEST(FormatEventLineTest, EmbedsPayloadOfAnyJsonContentType) {
  Event e = FixedEvent("[1,2]", "application/cloudevents+json; charset=utf-8");
  EXPECT_EQ(FormatEventLine(e), Line("[1,2]", "application/cloudevents+json; charset=utf-8"));
}

TEST(FormatEventLineTest, InvalidJsonPayloadIsAString) {
  Event e = FixedEvent("{\"a\": 1,");
  EXPECT_EQ(FormatEventLine(e), Line(R"("{\"a\": 1,")", "application/json"));
}

TEST(FormatEventLineTest, NonJsonContentTypeKeepsPayloadAsStringEvenIfItParses) {
  Event e = FixedEvent("{\"a\":1}\nline \"two\"\t", "text/plain");
  EXPECT_EQ(FormatEventLine(e), Line(R"("{\"a\":1}\nline \"two\"\t")", "text/plain"));
  Event number = FixedEvent("42", "text/plain");
  EXPECT_EQ(FormatEventLine(number), Line(R"("42")", "text/plain"));
}

TEST(FormatEventLineTest, WritesHeadersAsAnObject) {
  Event e = FixedEvent("{}");
  e.headers = {{"traceparent", "00-abc-01"}, {"tenant", "t\"1"}};
  EXPECT_EQ(FormatEventLine(e),
            Line("{}", "application/json", R"({"tenant":"t\"1","traceparent":"00-abc-01"})"));
}

TEST(FormatEventLineTest, PayloadThatIsNotUtf8IsBase64AndSaysSo) {
  Event e = FixedEvent(std::string("a\xff\0b", 4), "application/octet-stream");
  std::string line = FormatEventLine(e);
  auto parsed = nlohmann::json::parse(line);
  EXPECT_EQ(parsed["payload"], "Yf8AYg==");
  EXPECT_EQ(parsed["payload_encoding"], "base64");
  EXPECT_THAT(line, HasSubstr(R"("payload":"Yf8AYg==","payload_encoding":"base64","content_type")"));
}

TEST(FormatEventLineTest, Base64PadsEveryLength) {
  std::string out;
  for (std::string_view in : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    AppendBase64(in, out);
    out.push_back(' ');
  }
  EXPECT_EQ(out, " Zg== Zm8= Zm9v Zm9vYg== Zm9vYmE= Zm9vYmFy ");  // RFC 4648 section 10
}

TEST(FormatEventLineTest, JsonPayloadKeepsItsOwnNumbers) {
  Event e = FixedEvent("{\"amount\": 12.50, \"big\": 12345678901234567890123, \"e\": 1E2}");
  EXPECT_EQ(FormatEventLine(e),
            Line(R"({"amount":12.50,"big":12345678901234567890123,"e":1E2})", "application/json"));
}

// A payload nested far deeper than any parser's stack allows is written as it
// is, and the line parses back (the relay once crashed on it, every start).
TEST(FormatEventLineTest, DeeplyNestedJsonPayloadIsWrittenAsItIs) {
  std::string deep = std::string(300000, '[') + std::string(300000, ']');
  Event e = FixedEvent(deep);
  EXPECT_EQ(FormatEventLine(e), Line(deep, "application/json"));
  Event unbalanced = FixedEvent(std::string(300000, '{'));
  std::string line = FormatEventLine(unbalanced);
  EXPECT_EQ(nlohmann::json::parse(line)["payload"], unbalanced.payload);
}

TEST(FormatEventLineTest, ReplacesBytesThatAreNotUtf8InNamesAndHeaders) {
  Event e = FixedEvent("{}");
  e.type = "T\xff";
  e.headers["h"] = "v\xfe";
  auto parsed = nlohmann::json::parse(FormatEventLine(e));
  EXPECT_EQ(parsed["type"], "T\xEF\xBF\xBD");
  EXPECT_EQ(parsed["headers"]["h"], "v\xEF\xBF\xBD");
}

TEST(FormatEventLineTest, IsOneLineThatParsesBack) {
  std::mt19937 rng(std::hash<std::string_view>{}("FormatEventLineTest.IsOneLineThatParsesBack"));
  for (int i = 0; i < 200; ++i) {
    std::string payload;
    std::uniform_int_distribution<int> byte(0, 127);
    for (int j = 0; j < 40; ++j) payload.push_back(static_cast<char>(byte(rng)));
    Event e = Event::Make("t", "k", "T", payload);
    e.headers["h"] = payload;
    std::string line = FormatEventLine(e);
    ASSERT_EQ(line.find('\n'), line.size() - 1);
    auto parsed = nlohmann::json::parse(line);
    EXPECT_EQ(parsed["event_id"], e.id.ToString());
    EXPECT_EQ(parsed["headers"]["h"], payload);
  }
}

class FilePublisherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           fmt::format("herald-file-publisher-{}-{}", getpid(),
                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static std::string ReadAll(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
  }

  struct Recorded {
    std::vector<int> calls;
    std::vector<Delivery> deliveries;
  };

  static Recorded PublishAll(Publisher& publisher, std::span<const Event> events) {
    Recorded r;
    r.calls.assign(events.size(), 0);
    r.deliveries.resize(events.size());
    publisher.Publish(events, [&](std::size_t i, Delivery d) {
      ASSERT_LT(i, events.size());
      ++r.calls[i];
      r.deliveries[i] = std::move(d);
    });
    return r;
  }

  static std::vector<Event> SomeEvents(int n) {
    std::vector<Event> events;
    for (int i = 0; i < n; ++i) {
      events.push_back(
          Event::Make("topic", fmt::format("k{}", i % 3), "Type", fmt::format(R"({{"n":{}}})", i)));
    }
    return events;
  }

  static std::string LinesOf(std::span<const Event> events) {
    std::string out;
    for (const Event& e : events) out += FormatEventLine(e);
    return out;
  }

  fs::path dir_;
};

TEST_F(FilePublisherTest, WritesLinesAndConfirmsEachEventOnce) {
  auto publisher = FilePublisher::OpenFile((dir_ / "out.jsonl").string());
  ASSERT_TRUE(publisher.has_value()) << publisher.error().ToString();
  std::vector<Event> events = SomeEvents(5);
  Recorded r = PublishAll(**publisher, events);
  for (std::size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(r.calls[i], 1) << i;
    EXPECT_EQ(r.deliveries[i].outcome, Outcome::kPublished) << i;
    EXPECT_EQ(r.deliveries[i].error, "");
  }
  EXPECT_EQ(ReadAll(dir_ / "out.jsonl"), LinesOf(events));
}

TEST_F(FilePublisherTest, DeclaresKeyOrderAndNoDeduplication) {
  auto publisher = FilePublisher::OpenFile((dir_ / "out.jsonl").string());
  ASSERT_TRUE(publisher.has_value());
  EXPECT_TRUE((*publisher)->guarantees().keeps_key_order);
  EXPECT_FALSE((*publisher)->guarantees().deduplicates_by_id);
}

TEST_F(FilePublisherTest, CreatesFileWithMode0644AndAppendsAcrossInstances) {
  mode_t old_mask = umask(022);
  std::string path = (dir_ / "out.jsonl").string();
  std::vector<Event> first = SomeEvents(2);
  std::vector<Event> second = SomeEvents(3);
  {
    auto publisher = FilePublisher::OpenFile(path);
    ASSERT_TRUE(publisher.has_value());
    PublishAll(**publisher, first);
  }
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  {
    auto publisher = FilePublisher::OpenFile(path);
    ASSERT_TRUE(publisher.has_value());
    PublishAll(**publisher, second);
  }
  umask(old_mask);
  EXPECT_EQ(ReadAll(path), LinesOf(first) + LinesOf(second));
}

TEST_F(FilePublisherTest, EmptyCallWritesNothingAndCallsNothing) {
  std::string path = (dir_ / "out.jsonl").string();
  auto publisher = FilePublisher::OpenFile(path);
  ASSERT_TRUE(publisher.has_value());
  int calls = 0;
  (*publisher)->Publish({}, [&](std::size_t, Delivery) { ++calls; });
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(ReadAll(path), "");
}

TEST_F(FilePublisherTest, CallLargerThanOneChunkIsWrittenWhole) {
  std::vector<Event> events;
  for (int i = 0; i < 4; ++i) {
    events.push_back(
        Event::Make("t", "k", "T", std::string(700 * 1024, static_cast<char>('a' + i))));
    events.back().content_type = "text/plain";
  }
  auto publisher = FilePublisher::OpenFile((dir_ / "out.jsonl").string());
  ASSERT_TRUE(publisher.has_value());
  Recorded r = PublishAll(**publisher, events);
  for (std::size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(r.calls[i], 1);
    EXPECT_EQ(r.deliveries[i].outcome, Outcome::kPublished);
  }
  EXPECT_EQ(ReadAll(dir_ / "out.jsonl"), LinesOf(events));
}

TEST_F(FilePublisherTest, MissingDirectoryIsFailedPreconditionNamingThePath) {
  std::string path = (dir_ / "no-such-dir" / "out.jsonl").string();
  auto publisher = FilePublisher::OpenFile(path);
  ASSERT_FALSE(publisher.has_value());
  EXPECT_EQ(publisher.error().code(), Code::kFailedPrecondition);
  EXPECT_THAT(publisher.error().message(), HasSubstr(path));
  EXPECT_THAT(publisher.error().message(), HasSubstr("No such file or directory"));
  EXPECT_FALSE(fs::exists(dir_ / "no-such-dir"));
}

TEST_F(FilePublisherTest, WriteErrorReportsUnavailableForEveryEvent) {
  if (access("/dev/full", W_OK) != 0) GTEST_SKIP() << "/dev/full is not available";
  auto publisher = FilePublisher::OpenFile("/dev/full");
  ASSERT_TRUE(publisher.has_value());
  std::vector<Event> events = SomeEvents(4);
  Recorded r = PublishAll(**publisher, events);
  for (std::size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(r.calls[i], 1) << i;
    EXPECT_EQ(r.deliveries[i].outcome, Outcome::kUnavailable) << i;
    EXPECT_THAT(r.deliveries[i].error, HasSubstr("No space left on device"));
    EXPECT_THAT(r.deliveries[i].error, HasSubstr("/dev/full"));
  }
}

// A regular file that fills up part-way through a call: nothing is confirmed
// and the lines this call had appended are removed again.
TEST_F(FilePublisherTest, FailedCallOnRegularFileLeavesNoPartialLines) {
  std::string path = (dir_ / "out.jsonl").string();
  auto publisher = FilePublisher::OpenFile(path);
  ASSERT_TRUE(publisher.has_value());
  std::vector<Event> first = SomeEvents(2);
  PublishAll(**publisher, first);
  std::string before = ReadAll(path);
  ASSERT_EQ(before, LinesOf(first));

  std::vector<Event> second;
  for (int i = 0; i < 3; ++i)
    second.push_back(Event::Make("t", "k", "T", std::string(600 * 1024, 'x')));
  // Let the file grow by about one event's line, so the call fails midway.
  struct rlimit old_limit {};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit limit = old_limit;
  limit.rlim_cur = before.size() + 700 * 1024;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limit), 0);
  Recorded r = PublishAll(**publisher, second);
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &old_limit), 0);
  std::signal(SIGXFSZ, old_handler);

  for (std::size_t i = 0; i < second.size(); ++i) {
    EXPECT_EQ(r.calls[i], 1) << i;
    EXPECT_EQ(r.deliveries[i].outcome, Outcome::kUnavailable) << i;
    EXPECT_THAT(r.deliveries[i].error, HasSubstr("File too large"));
  }
  EXPECT_EQ(ReadAll(path), before);

  // Key order: the failed call's key stays closed, its events held back,
  // until the caller resumes it.
  Recorded held = PublishAll(**publisher, second);
  for (std::size_t i = 0; i < second.size(); ++i) {
    EXPECT_EQ(held.deliveries[i].outcome, Outcome::kRetry) << i;
    EXPECT_THAT(held.deliveries[i].error, HasSubstr("held back"));
  }
  EXPECT_EQ(ReadAll(path), before);

  // The same publisher works again once the sink can take the lines.
  std::vector<std::string> keys = {"k"};
  (*publisher)->Resume(keys);
  Recorded again = PublishAll(**publisher, second);
  for (std::size_t i = 0; i < second.size(); ++i) {
    EXPECT_EQ(again.deliveries[i].outcome, Outcome::kPublished) << i;
  }
  EXPECT_EQ(ReadAll(path), before + LinesOf(second));
}

TEST_F(FilePublisherTest, StdoutPublisherWritesToFileDescriptorOne) {
  std::string path = (dir_ / "stdout.txt").string();
  std::fflush(stdout);
  int saved = dup(STDOUT_FILENO);
  ASSERT_GE(saved, 0);
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(dup2(fd, STDOUT_FILENO), STDOUT_FILENO);
  close(fd);

  std::vector<Event> events = SomeEvents(3);
  Recorded r;
  {
    auto publisher = FilePublisher::OpenStdout();
    std::printf("before\n");  // buffered by stdio; flushed ahead of the lines
    r = PublishAll(*publisher, events);
  }
  std::fflush(stdout);
  dup2(saved, STDOUT_FILENO);
  close(saved);

  for (std::size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(r.calls[i], 1);
    EXPECT_EQ(r.deliveries[i].outcome, Outcome::kPublished);
  }
  EXPECT_EQ(ReadAll(path), "before\n" + LinesOf(events));
}

}  // namespace
}  // namespace herald::publish
