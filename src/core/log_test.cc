#include "core/log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace herald {
namespace {

using ::testing::HasSubstr;

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SetLogSink([this](LogLevel level, std::string_view message) {
      lines_.emplace_back(level, std::string(message));
    });
  }
  void TearDown() override {
    SetLogSink({});
    SetLogLevel(LogLevel::kInfo);
  }
  std::vector<std::pair<LogLevel, std::string>> lines_;
};

TEST_F(LogTest, TheApplicationsSinkGetsEachLineAtOrAboveTheLevel) {
  LogDebug("not at info: {}", 1);
  LogInfo("relay started: batch size {}", 500);
  LogWarning("bus unavailable");
  LogError("settling {} events failed", 3);
  ASSERT_EQ(lines_.size(), 3u);
  EXPECT_EQ(lines_[0], std::make_pair(LogLevel::kInfo, std::string("relay started: batch size 500")));
  EXPECT_EQ(lines_[1].first, LogLevel::kWarning);
  EXPECT_EQ(lines_[2].second, "settling 3 events failed");

  SetLogLevel(LogLevel::kTrace);
  LogTrace("now {}", "on");
  ASSERT_EQ(lines_.size(), 4u);
  EXPECT_EQ(lines_[3].second, "now on");
  SetLogLevel(LogLevel::kError);
  LogWarning("off");
  EXPECT_EQ(lines_.size(), 4u);
}

TEST_F(LogTest, TheDefaultWritesOneMaskedLineToStandardError) {
  SetLogSink({});
  ::testing::internal::CaptureStderr();
  LogWarning("cannot reach postgres://relay:s3cret@db:5432/app");
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(err, HasSubstr("herald warning: cannot reach postgres://relay:"));
  EXPECT_THAT(err, ::testing::Not(HasSubstr("s3cret")));
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1);
}

TEST(LogLevelTest, NamesEveryLevel) {
  EXPECT_EQ(LogLevelName(LogLevel::kTrace), "trace");
  EXPECT_EQ(LogLevelName(LogLevel::kDebug), "debug");
  EXPECT_EQ(LogLevelName(LogLevel::kInfo), "info");
  EXPECT_EQ(LogLevelName(LogLevel::kWarning), "warning");
  EXPECT_EQ(LogLevelName(LogLevel::kError), "error");
}

}  // namespace
}  // namespace herald
