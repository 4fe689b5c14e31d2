// Parsing of postgres:// URLs and the small libpq helpers (no server needed).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "store/postgres/pg.h"
#include "store/postgres/pg_url.h"

namespace herald::pg_internal {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(PgUrlTest, HeraldParametersAreTakenOutTheRestGoesToLibpq) {
  Result<PgUrl> url = ParsePgUrl(
      "postgres://app@db:5433/orders?sslmode=disable&schema=outbox&partitions=8&lease=1500ms"
      "&relay_id=r%3A1&connect_timeout=3");
  ASSERT_TRUE(url.has_value()) << url.error().ToString();
  EXPECT_EQ(url->conninfo, "postgres://app@db:5433/orders?sslmode=disable&connect_timeout=3");
  EXPECT_EQ(url->schema, "outbox");
  EXPECT_EQ(url->partitions, 8);
  EXPECT_EQ(url->lease, std::chrono::milliseconds(1500));
  EXPECT_EQ(url->relay_id, "r:1");
}

TEST(PgUrlTest, DefaultsAndBothSchemes) {
  for (const char* text : {"postgres://localhost/herald", "postgresql://localhost/herald"}) {
    Result<PgUrl> url = ParsePgUrl(text);
    ASSERT_TRUE(url.has_value()) << url.error().ToString();
    EXPECT_EQ(url->conninfo, text);
    EXPECT_EQ(url->schema, "herald");
    EXPECT_EQ(url->partitions, 32);
    EXPECT_EQ(url->lease, std::chrono::seconds(6));
    EXPECT_TRUE(url->relay_id.empty());
  }
}

TEST(PgUrlTest, LeaseUnits) {
  struct Case {
    const char* value;
    long long ms;
  };
  // The durations of the command line: a bare number is milliseconds here too.
  for (Case c : {Case{"6s", 6000}, Case{"500ms", 500}, Case{"2m", 120000}, Case{"1.5s", 1500},
                 Case{"1m30s", 90000}, Case{"9000", 9000}}) {
    Result<PgUrl> url = ParsePgUrl(std::string("postgres://h/d?lease=") + c.value);
    ASSERT_TRUE(url.has_value()) << c.value << ": " << url.error().ToString();
    EXPECT_EQ(url->lease.count(), c.ms) << c.value;
  }
}

TEST(PgUrlTest, MalformedUrlsAreOneClearLineAndHidePasswords) {
  const std::vector<std::string> bad = {
      "postgres://u:secret@h/d?schema=Bad-Name", "postgres://u:secret@h/d?partitions=0",
      "postgres://u:secret@h/d?partitions=x",    "postgres://u:secret@h/d?lease=10ms",
      "postgres://u:secret@h/d?lease=9",
      "postgres://u:secret@h/d?lease=soon",      "postgres://u:secret@h/d?novalue",
      "postgres://u:secret@h/d?schema=%zz",      "postgres://u:secret@h/d?bogus_option=1",
      "postgres://u:secret@h/d?schema=a&schema=b", "postgres://u:secret@h/d?port=1&port=2",
      "postgres://u:secret@h:99999/d",           "postgres://u:secret@h:0/d",
      "postgres://u:secret@h:5432,h:x/d",        "mysql://u:secret@h/d"};
  for (const std::string& text : bad) {
    Result<PgUrl> url = ParsePgUrl(text);
    ASSERT_FALSE(url.has_value()) << text;
    EXPECT_EQ(url.error().code(), Code::kInvalidArgument) << text;
    EXPECT_THAT(url.error().message(), Not(HasSubstr("\n"))) << text;
    EXPECT_THAT(url.error().message(), Not(HasSubstr("secret"))) << text;
    EXPECT_THAT(url.error().message(), HasSubstr("u:***@h")) << text;
  }
}

TEST(PgHelpersTest, ArrayLiteralsQuoteAndEscape) {
  std::vector<std::string> items = {"a", "", "b\"c", "d\\e", "f,g", "NULL"};
  EXPECT_EQ(ArrayLiteral(items), R"({"a","","b\"c","d\\e","f,g","NULL"})");
  std::vector<std::int64_t> ints = {1, -2, 3};
  EXPECT_EQ(IntArrayLiteral(ints), "{1,-2,3}");
  EXPECT_EQ(IntArrayLiteral({}), "{}");
}

TEST(PgHelpersTest, SchemaNames) {
  for (const char* ok : {"herald", "_x", "a1_b2", "t_0123456789012345678901234567890123456789abc"}) {
    EXPECT_TRUE(IsValidSchemaName(ok)) << ok;
  }
  for (const char* bad : {"", "1abc", "Herald", "a-b", "a.b", "a\"b",
                          "x23456789012345678901234567890123456789012345678901"}) {
    EXPECT_FALSE(IsValidSchemaName(bad)) << bad;
    EXPECT_EQ(CheckSchemaName(bad).code(), Code::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace herald::pg_internal
