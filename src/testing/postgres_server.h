// The PostgreSQL server the tests run against, named by HERALD_TEST_PG_URL
// (scripts/test.sh starts a private one and sets it), and a schema of each
// test's own in it, so that tests can run in parallel against one server.
#ifndef HERALD_TESTING_POSTGRES_SERVER_H_
#define HERALD_TESTING_POSTGRES_SERVER_H_

#include <gtest/gtest.h>

#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace herald::testing {

// True under CI (CI set to anything but "", "0" or "false").
inline bool UnderCi() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && *ci != '\0' && std::string_view(ci) != "false" &&
         std::string_view(ci) != "0";
}

// Sets `url` to the server's URL. Without one, leaves `url` empty and marks
// the running test skipped, or failed under CI, where a PostgreSQL test must
// never pass by not running. Callers return when `url` is empty; a fixture's
// SetUp() that calls it keeps the test body from running either way.
inline void RequirePostgres(std::string& url) {
  const char* env = std::getenv("HERALD_TEST_PG_URL");
  url = env != nullptr ? env : "";
  if (!url.empty()) return;
  if (UnderCi()) {
    GTEST_FAIL() << "HERALD_TEST_PG_URL is unset under CI: start a server with scripts/pg.sh "
                    "start (scripts/test.sh does) and export its URL";
  }
  GTEST_SKIP() << "HERALD_TEST_PG_URL is unset; run scripts/pg.sh start and export "
                  "HERALD_TEST_PG_URL=$(scripts/pg.sh url) to run the PostgreSQL tests";
}

// "t_" + the running test's name in lower case (letters, digits and '_'),
// cut to fit Herald's 48-byte schema names, with a hash of the suite and
// test name that keeps it unique.
inline std::string SchemaForCurrentTest() {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string full = std::string(info->test_suite_name()) + "." + info->name();
  std::string name = "t_";
  for (char c : std::string(info->name()).substr(0, 36)) {
    const auto u = static_cast<unsigned char>(c);
    name.push_back(std::isalnum(u) ? static_cast<char>(std::tolower(u)) : '_');
  }
  std::uint32_t hash = 2166136261u;  // FNV-1a
  for (char c : full) hash = (hash ^ static_cast<unsigned char>(c)) * 16777619u;
  return name + fmt::format("_{:08x}", hash);
}

}  // namespace herald::testing

#endif  // HERALD_TESTING_POSTGRES_SERVER_H_
