#include "herald/event.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>
#include <vector>

namespace herald {
namespace {

TEST(EventIdTest, GenerateMakesVersion7WithVariantAndCurrentTime) {
  auto before = std::chrono::system_clock::now();
  EventId id = EventId::Generate();
  auto after = std::chrono::system_clock::now();
  EXPECT_EQ(id.version(), 7);
  EXPECT_EQ(id.bytes()[8] & 0xc0, 0x80);
  EXPECT_FALSE(id.IsNil());
  EXPECT_GE(ToUnixMillis(id.timestamp()), ToUnixMillis(before));
  EXPECT_LE(ToUnixMillis(id.timestamp()), ToUnixMillis(after) + 1);
}

TEST(EventIdTest, IdsFromOneProcessStrictlyIncreaseAcrossThreads) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 20000;
  std::vector<std::vector<EventId>> ids(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      ids[t].reserve(kPerThread);
      for (int i = 0; i < kPerThread; ++i) ids[t].push_back(EventId::Generate());
    });
  }
  for (auto& th : threads) th.join();
  std::set<EventId> all;
  for (const auto& v : ids) {
    for (std::size_t i = 1; i < v.size(); ++i) ASSERT_LT(v[i - 1], v[i]) << i;
    all.insert(v.begin(), v.end());
  }
  EXPECT_EQ(all.size(), static_cast<std::size_t>(kThreads * kPerThread));
}

TEST(EventIdTest, ParseRoundTripsAndRejectsMalformedText) {
  EventId id = EventId::Generate();
  auto parsed = EventId::Parse(id.ToString());
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(*parsed, id);
  auto upper = EventId::Parse("0190B7A4-5E1C-7D2A-8F00-3B1C2D3E4F50");
  ASSERT_TRUE(upper.has_value());
  EXPECT_EQ(upper->ToString(), "0190b7a4-5e1c-7d2a-8f00-3b1c2d3e4f50");
  EXPECT_FALSE(EventId::Parse("").has_value());
  EXPECT_FALSE(EventId::Parse("0190b7a4-5e1c-7d2a-8f00-3b1c2d3e4f5").has_value());
  EXPECT_FALSE(EventId::Parse("0190b7a4x5e1c-7d2a-8f00-3b1c2d3e4f50").has_value());
  EXPECT_FALSE(EventId::Parse("0190b7a4-5e1c-7d2a-8f00-3b1c2d3e4f5g").has_value());
}

TEST(EventTest, MakeFillsIdAndCreationTime) {
  Event e = Event::Make("transactions", "acct-1", "TransactionCreated", R"({"amount":5})");
  EXPECT_EQ(e.id.version(), 7);
  EXPECT_EQ(e.created_at, e.id.timestamp());
  EXPECT_EQ(e.content_type, "application/json");
  EXPECT_TRUE(Validate(e).ok());
}

TEST(EventTest, ValidateNamesTheBadField) {
  Event e = Event::Make("t", "k", "T", "{}");
  Event nil = e;
  nil.id = EventId();
  EXPECT_EQ(Validate(nil).code(), Code::kInvalidArgument);
  Event no_topic = e;
  no_topic.topic.clear();
  EXPECT_NE(Validate(no_topic).message().find("topic"), std::string::npos);
  Event big = e;
  big.payload.assign(101, 'x');
  EXPECT_TRUE(Validate(big, 101).ok());
  Status s = Validate(big, 100);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("payload is 101 bytes"), std::string::npos);
  Event ctl = e;
  ctl.key = "a\nb";
  EXPECT_NE(Validate(ctl).message().find("key"), std::string::npos);
  Event long_type = e;
  long_type.type.assign(kMaxNameBytes + 1, 't');
  EXPECT_NE(Validate(long_type).message().find("type"), std::string::npos);
}

TEST(EventTest, JsonContentTypes) {
  EXPECT_TRUE(IsJsonContentType("application/json"));
  EXPECT_TRUE(IsJsonContentType("Application/JSON; charset=utf-8"));
  EXPECT_TRUE(IsJsonContentType("application/cloudevents+json"));
  EXPECT_FALSE(IsJsonContentType("text/plain"));
  EXPECT_FALSE(IsJsonContentType("application/octet-stream"));
  EXPECT_FALSE(IsJsonContentType("+json"));
}

TEST(EventTest, FormatsRfc3339WithMilliseconds) {
  EXPECT_EQ(FormatRfc3339(FromUnixMillis(0)), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatRfc3339(FromUnixMillis(1795976244123)), "2026-11-29T18:17:24.123Z");
}

TEST(EventTest, ParsesWhatItFormatsAndRfc3339WithOffsets) {
  for (std::int64_t ms : {0LL, 1795976244123LL, 951782400000LL /* 2000-02-29 */, 1LL}) {
    EXPECT_EQ(ParseRfc3339(FormatRfc3339(FromUnixMillis(ms))), FromUnixMillis(ms)) << ms;
  }
  EXPECT_EQ(ParseRfc3339("2026-11-29T20:17:24.123+02:00"), FromUnixMillis(1795976244123));
  EXPECT_EQ(ParseRfc3339("2026-11-29t18:17:24.1234567z"), FromUnixMillis(1795976244123));
  EXPECT_EQ(ParseRfc3339("2026-11-29T18:17:24Z"), FromUnixMillis(1795976244000));
  for (std::string_view bad :
       {"", "2026-11-29", "2026-11-29T18:17Z", "2026-11-29T18:17:24", "2026-11-29 18:17:24Z",
        "2026-13-01T00:00:00Z", "2026-02-29T00:00:00Z", "2026-11-31T00:00:00Z",
        "2026-11-29T24:00:00Z", "2026-11-29T18:17:60Z", "2026-11-29T18:17:24.Z",
        "2026-11-29T18:17:24+0200", "2026-11-29T18:17:24Z ", "x2026-11-29T18:17:24Z"}) {
    EXPECT_FALSE(ParseRfc3339(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace herald
