// Helpers shared by the SQLite store's tests: a temporary directory, a raw
// application connection, and event comparison.
#ifndef HERALD_STORE_SQLITE_TEST_SUPPORT_H_
#define HERALD_STORE_SQLITE_TEST_SUPPORT_H_

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "herald/event.h"
#include "herald/store.h"
#include "store/sqlite/sqlite_store.h"
#include "testing/events.h"

namespace herald::sqlite_testing {

// A fresh directory under the test temp dir, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::path(::testing::TempDir()) / "herald-XXXXXX").string();
    char* made = ::mkdtemp(pattern.data());
    EXPECT_NE(made, nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

struct RawCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using RawDb = std::unique_ptr<sqlite3, RawCloser>;

// An application's own connection to `path` (created if missing).
inline RawDb OpenRaw(const std::string& path, int busy_timeout_ms = 5000) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  EXPECT_EQ(rc, SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_busy_timeout(db, busy_timeout_ms);
  return RawDb(db);
}

// Runs `sql` on `db`; returns SQLite's result code (SQLITE_OK on success).
inline int Exec(sqlite3* db, const std::string& sql) {
  return sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
}

// The single integer `sql` selects (or -1 if it selects nothing).
inline std::int64_t QueryInt(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db);
  std::int64_t value = -1;
  if (sqlite3_step(stmt) == SQLITE_ROW) value = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  return value;
}

// The single text `sql` selects (or "<none>").
inline std::string QueryText(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db);
  std::string value = "<none>";
  if (sqlite3_step(stmt) == SQLITE_ROW) {
    const unsigned char* text = sqlite3_column_text(stmt, 0);
    value = text == nullptr ? "<null>" : reinterpret_cast<const char*>(text);
  }
  sqlite3_finalize(stmt);
  return value;
}

// A store on `path`, creating the file; fails the test if it cannot.
inline std::unique_ptr<Store> OpenTestStore(
    const std::string& path,
    std::chrono::milliseconds busy_timeout = std::chrono::milliseconds(5000)) {
  StoreOptions options;
  options.create_if_missing = true;
  options.busy_timeout = busy_timeout;
  Result<std::unique_ptr<Store>> store = OpenSqliteStore(path, options);
  EXPECT_TRUE(store.has_value()) << store.error().ToString();
  return store ? std::move(*store) : nullptr;
}

using herald::testing::ExpectSameEvent;
using herald::testing::FullEvent;

}  // namespace herald::sqlite_testing

#endif  // HERALD_STORE_SQLITE_TEST_SUPPORT_H_
