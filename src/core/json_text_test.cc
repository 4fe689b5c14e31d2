#include "core/json_text.h"

#include <random>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace herald {
namespace {

std::string Deep(std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

std::string Quoted(std::string_view text) {
  std::string out;
  AppendJsonString(text, out);
  return out;
}

TEST(JsonTextTest, IsUtf8AcceptsWellFormedAndRefusesTheRest) {
  EXPECT_TRUE(IsUtf8(""));
  EXPECT_TRUE(IsUtf8("plain ascii"));
  EXPECT_TRUE(IsUtf8("\xC3\xA9t\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"));  // été € 😀
  EXPECT_TRUE(IsUtf8("\xF4\x8F\xBF\xBF"));                                // U+10FFFF
  EXPECT_FALSE(IsUtf8("\xFF"));
  EXPECT_FALSE(IsUtf8("\xC3"));              // truncated
  EXPECT_FALSE(IsUtf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(IsUtf8("\xE0\x80\xAF"));      // overlong
  EXPECT_FALSE(IsUtf8("\xED\xA0\x80"));      // a surrogate
  EXPECT_FALSE(IsUtf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(IsUtf8("a\x80z"));            // a lone continuation byte
}

TEST(JsonTextTest, AppendJsonStringEscapesWhatJsonRequires) {
  EXPECT_EQ(Quoted(""), R"("")");
  EXPECT_EQ(Quoted("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(Quoted("\n\r\t\b\f"), R"("\n\r\t\b\f")");
  EXPECT_EQ(Quoted(std::string("\x01\x1f", 2)), R"("\u0001\u001f")");
  EXPECT_EQ(Quoted(std::string("\0", 1)), R"("\u0000")");
  EXPECT_EQ(Quoted("\xC3\xA9"), "\"\xC3\xA9\"");
}

TEST(JsonTextTest, AppendJsonStringReplacesEachByteThatIsNotUtf8) {
  EXPECT_EQ(Quoted("a\xFF\xFE"
                   "b"),
            "\"a\xEF\xBF\xBD\xEF\xBF\xBD"
            "b\"");
}

TEST(JsonTextTest, AppendJsonStringParsesBackToTheSameText) {
  std::mt19937 rng(std::hash<std::string_view>{}("JsonTextTest.AppendJsonStringParsesBack"));
  std::uniform_int_distribution<int> byte(0, 127);
  for (int i = 0; i < 500; ++i) {
    std::string text;
    for (int j = 0; j < 30; ++j) text.push_back(static_cast<char>(byte(rng)));
    text += "\xE2\x82\xAC";
    EXPECT_EQ(nlohmann::json::parse(Quoted(text)).get<std::string>(), text);
  }
}

TEST(JsonTextTest, JsonDepthCountsNestingOutsideStrings) {
  EXPECT_EQ(JsonDepth("42"), 0u);
  EXPECT_EQ(JsonDepth("[1,2]"), 1u);
  EXPECT_EQ(JsonDepth(R"({"a":[{"b":[]}],"c":{}})"), 4u);
  EXPECT_EQ(JsonDepth(R"(["[[[[", "\"[[[["])"), 1u);
  EXPECT_EQ(JsonDepth(Deep(300000)), 300000u);
}

TEST(JsonTextTest, IsJsonAndCompactionTakeAnyDepth) {
  std::string deep = Deep(300000);
  ASSERT_TRUE(IsJson(deep));
  std::string out;
  AppendCompactJson(deep, out);
  EXPECT_EQ(out, deep);
  EXPECT_FALSE(IsJson(std::string(300000, '[')));
  EXPECT_FALSE(IsJson(std::string("4\0junk", 7)));
  EXPECT_FALSE(IsJson(""));
}

TEST(JsonTextTest, AppendCompactJsonDropsOnlySpaceOutsideStrings) {
  std::string out;
  AppendCompactJson("{ \"a b\" :\n [ 1.50 , 1e2 ,\t\"x \\\" y\" ] }\r\n", out);
  EXPECT_EQ(out, R"({"a b":[1.50,1e2,"x \" y"]})");
}

TEST(JsonTextTest, ObjectMembersSplitsTopLevelMembersInOrder) {
  std::string object = R"( { "b" : "x,}" , "a\"" :[1,{"c":"]"}],"n":-1.5e3,"t":true,"z":{}} )";
  ASSERT_TRUE(IsJson(object));
  auto members = ObjectMembers(object);
  ASSERT_EQ(members.size(), 5u);
  EXPECT_EQ(members[0].first, R"("b")");
  EXPECT_EQ(members[0].second, R"("x,}")");
  EXPECT_EQ(members[1].first, R"("a\"")");
  EXPECT_EQ(members[1].second, R"([1,{"c":"]"}])");
  EXPECT_EQ(members[2].second, "-1.5e3");
  EXPECT_EQ(members[3].second, "true");
  EXPECT_EQ(members[4].second, "{}");
  EXPECT_TRUE(ObjectMembers("{}").empty());
  std::string deep = R"({"d":)" + Deep(100000) + "}";
  ASSERT_EQ(ObjectMembers(deep).size(), 1u);
  EXPECT_EQ(ObjectMembers(deep)[0].second, Deep(100000));
}

}  // namespace
}  // namespace herald
