#include "core/duration.h"

#include <gtest/gtest.h>

#include <random>

#include "testing/seed.h"

namespace herald {
namespace {

using std::chrono::milliseconds;

TEST(ParseDurationTest, AcceptsUnitsFractionsAndCompounds) {
  EXPECT_EQ(ParseDuration("250ms"), milliseconds(250));
  EXPECT_EQ(ParseDuration("5s"), milliseconds(5000));
  EXPECT_EQ(ParseDuration("1.5s"), milliseconds(1500));
  EXPECT_EQ(ParseDuration(".5s"), milliseconds(500));
  EXPECT_EQ(ParseDuration("0.25h"), milliseconds(900'000));
  EXPECT_EQ(ParseDuration("1m"), milliseconds(60'000));
  EXPECT_EQ(ParseDuration("1m30s"), milliseconds(90'000));
  EXPECT_EQ(ParseDuration("2h"), milliseconds(7'200'000));
  EXPECT_EQ(ParseDuration("1h2m3s4ms"), milliseconds(3'723'004));
  EXPECT_EQ(ParseDuration("007s"), milliseconds(7000));
  EXPECT_EQ(ParseDuration("1.000ms"), milliseconds(1));
}

TEST(ParseDurationTest, ABareNumberIsMilliseconds) {
  EXPECT_EQ(ParseDuration("1500"), milliseconds(1500));
  EXPECT_EQ(ParseDuration("0"), milliseconds(0));
}

TEST(ParseDurationTest, RefusesEverythingElseWithOneLine) {
  for (std::string_view bad :
       {"", "ms", "s", ".s", "1.s", "5 s", " 5s", "5s ", "-1s", "+1s", "5d", "5S", "5sec", "s5",
        "1e3", "1.5", "1.5ms", "0.0001s", "30s1m", "1s1s", "1m1m", "99999999999999999999",
        "9223372036854775807s", "9223372036854775808", "0x10", "1_000ms", "1,5s"}) {
    Result<milliseconds> d = ParseDuration(bad);
    EXPECT_FALSE(d.has_value()) << "'" << bad << "'";
    if (d.has_value()) continue;
    EXPECT_EQ(d.error().code(), Code::kInvalidArgument);
    EXPECT_EQ(d.error().message().find('\n'), std::string::npos);
    EXPECT_NE(d.error().message().find("is not a duration"), std::string::npos) << bad;
  }
}

TEST(ParseDurationTest, TheLargestValuesDoNotOverflow) {
  EXPECT_EQ(ParseDuration("9223372036854775807"), milliseconds(9223372036854775807LL));
  EXPECT_EQ(ParseDuration("9223372036854775807ms"), milliseconds(9223372036854775807LL));
  EXPECT_FALSE(ParseDuration("2562047788015216h").has_value());
  EXPECT_FALSE(ParseDuration("2562047788015h59m").has_value());  // the sum overflows
  EXPECT_FALSE(ParseDuration("1.0000000001s").has_value());
}

TEST(FormatDurationTest, ReadsBackAsTheSameDuration) {
  EXPECT_EQ(FormatDuration(milliseconds(0)), "0ms");
  EXPECT_EQ(FormatDuration(milliseconds(90'000)), "1m30s");
  EXPECT_EQ(FormatDuration(milliseconds(3'723'004)), "1h2m3s4ms");
  std::mt19937_64 rng(testing::SeedFromTestName());
  std::uniform_int_distribution<std::int64_t> any(0, 1'000'000'000'000LL);
  for (int i = 0; i < 1000; ++i) {
    const milliseconds d(any(rng));
    EXPECT_EQ(ParseDuration(FormatDuration(d)), d) << FormatDuration(d);
  }
}

}  // namespace
}  // namespace herald
