// herald::OpenStore and its URL parsing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "herald/store.h"
#include "store/store_url.h"

namespace herald {
namespace {

using ::testing::HasSubstr;

Status ParseError(std::string_view url) {
  Result<StoreUrl> parsed = ParseStoreUrl(url);
  EXPECT_FALSE(parsed.has_value()) << url << " parsed as path " << parsed->path;
  return parsed ? OkStatus() : parsed.error();
}

TEST(StoreUrlTest, UnknownSchemeIsOneClearLine) {
  Status s = ParseError("mysql://x");
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
#if defined(HERALD_WITH_SQLITE) && defined(HERALD_WITH_POSTGRES)
  EXPECT_EQ(s.message(),
            "unknown database scheme 'mysql' in 'mysql://x' (supported: sqlite, postgres)");
#elif defined(HERALD_WITH_SQLITE)
  EXPECT_EQ(s.message(), "unknown database scheme 'mysql' in 'mysql://x' (supported: sqlite)");
#endif
  EXPECT_EQ(ParseError("").code(), Code::kInvalidArgument);
  EXPECT_THAT(ParseError("outbox.db").message(), HasSubstr("has no scheme"));
  EXPECT_EQ(ParseError(":outbox.db").code(), Code::kInvalidArgument);
}

#ifdef HERALD_WITH_SQLITE
TEST(StoreUrlTest, SqlitePaths) {
  struct Case {
    const char* url;
    const char* path;
  };
  for (const Case& c :
       {Case{"sqlite:outbox.db", "outbox.db"}, Case{"sqlite:data/outbox.db", "data/outbox.db"},
        Case{"sqlite:/var/lib/outbox.db", "/var/lib/outbox.db"},
        Case{"sqlite:///var/lib/outbox.db", "/var/lib/outbox.db"}}) {
    Result<StoreUrl> parsed = ParseStoreUrl(c.url);
    ASSERT_TRUE(parsed.has_value()) << c.url << ": " << parsed.error().ToString();
    EXPECT_EQ(parsed->scheme, "sqlite");
    EXPECT_EQ(parsed->path, c.path) << c.url;
  }
}

TEST(StoreUrlTest, SqliteUrlsWithoutAPathOrWithAHostAreRefused) {
  for (const char* url : {"sqlite:", "sqlite://", "sqlite://host/x.db", "sqlite://host"}) {
    Status s = ParseError(url);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << url;
    EXPECT_THAT(s.message(), HasSubstr(url));
  }
}

class OpenStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::path(::testing::TempDir()) / "herald-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::filesystem::path dir_;
};

TEST_F(OpenStoreTest, OpensAbsoluteAndTripleSlashUrls) {
  std::string path = (dir_ / "a.db").string();
  ASSERT_TRUE(path.starts_with("/"));
  StoreOptions create;
  create.create_if_missing = true;
  Result<std::unique_ptr<Store>> store = OpenStore("sqlite:" + path, create);
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  ASSERT_TRUE((*store)->Migrate().ok());
  Result<std::unique_ptr<Store>> again = OpenStore("sqlite://" + path);
  ASSERT_TRUE(again.has_value()) << again.error().ToString();
  EXPECT_TRUE((*again)->CheckSchema().ok()) << "both URLs name the same file";
}

TEST_F(OpenStoreTest, OpensRelativePaths) {
  std::filesystem::path relative =
      std::filesystem::relative(dir_ / "r.db", std::filesystem::current_path());
  ASSERT_TRUE(relative.is_relative());
  StoreOptions create;
  create.create_if_missing = true;
  Result<std::unique_ptr<Store>> store = OpenStore("sqlite:" + relative.string(), create);
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  EXPECT_TRUE(std::filesystem::exists(dir_ / "r.db"));
}

TEST_F(OpenStoreTest, MissingFileIsNotFound) {
  std::string path = (dir_ / "missing.db").string();
  Result<std::unique_ptr<Store>> store = OpenStore("sqlite:" + path);
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().code(), Code::kNotFound);
  EXPECT_FALSE(std::filesystem::exists(path));
}
#endif  // HERALD_WITH_SQLITE

}  // namespace
}  // namespace herald
