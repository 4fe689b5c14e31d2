#include "store/common/store_common.h"

#include <string>

#include <gtest/gtest.h>

namespace herald::store_internal {
namespace {

TEST(HeadersTest, RoundTripKeepsNamesAndValues) {
  Headers headers{{"trace-id", "abc"}, {"quote", "say \"hi\"\n"}, {"empty", ""}};
  Result<std::string> text = EncodeHeaders(headers);
  ASSERT_TRUE(text.has_value());
  Result<Headers> back = DecodeHeaders(*text);
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  EXPECT_EQ(*back, headers);
}

TEST(HeadersTest, EmptyObjectHasNoHeaders) {
  for (const char* text : {"{}", " { } ", "{\n}"}) {
    Result<Headers> headers = DecodeHeaders(text);
    ASSERT_TRUE(headers.has_value()) << text;
    EXPECT_TRUE(headers->empty()) << text;
  }
}

TEST(HeadersTest, ValuesWrittenByHandKeepTheirCompactJsonText) {
  Result<Headers> headers =
      DecodeHeaders(R"({ "n": 1.50, "b": true, "o": { "z": [1, 2], "a": null } })");
  ASSERT_TRUE(headers.has_value());
  EXPECT_EQ(headers->at("n"), "1.50");
  EXPECT_EQ(headers->at("b"), "true");
  EXPECT_EQ(headers->at("o"), R"({"z":[1,2],"a":null})");
}

TEST(HeadersTest, EscapedNamesAndValuesAreDecoded) {
  Result<Headers> headers = DecodeHeaders(R"({"a\u00e9\"b": "x\ty\u263a"})");
  ASSERT_TRUE(headers.has_value());
  EXPECT_EQ(headers->at("a\xc3\xa9\"b"), "x\ty\xe2\x98\xba");
}

TEST(HeadersTest, TheLastOfADuplicatedNameWins) {
  Result<Headers> headers = DecodeHeaders(R"({"a": "1", "a": "2"})");
  ASSERT_TRUE(headers.has_value());
  EXPECT_EQ(headers->at("a"), "2");
}

TEST(HeadersTest, AValueNestedFarDeeperThanAnyStackIsKeptAsText) {
  constexpr int kDepth = 300000;
  std::string value = std::string(kDepth, '[') + std::string(kDepth, ']');
  Result<Headers> headers = DecodeHeaders("{\"deep\":" + value + "}");
  ASSERT_TRUE(headers.has_value());
  EXPECT_EQ(headers->at("deep"), value);
}

TEST(HeadersTest, TextThatIsNotAnObjectIsAnErrorThatQuotesOnlyItsStart) {
  for (const char* text : {"", "[]", "\"a\"", "{\"a\":}", "{} x", "null"}) {
    Result<Headers> headers = DecodeHeaders(text);
    ASSERT_FALSE(headers.has_value()) << text;
    EXPECT_EQ(headers.error().code(), Code::kInternal) << text;
  }
  Result<Headers> long_one = DecodeHeaders(std::string(10000, 'x'));
  ASSERT_FALSE(long_one.has_value());
  EXPECT_LT(long_one.error().message().size(), 200u);
}

}  // namespace
}  // namespace herald::store_internal
