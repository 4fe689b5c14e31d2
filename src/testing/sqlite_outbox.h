// An outbox as the relay's tests set one up: a SQLite file in the temporary
// directory named after the running test, migrated, and an application
// connection to it with a `business` table of the application's own.
#ifndef HERALD_TESTING_SQLITE_OUTBOX_H_
#define HERALD_TESTING_SQLITE_OUTBOX_H_

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <utility>

#include "herald/store.h"

namespace herald::testing {

class SqliteOutbox {
 public:
  // `prefix` names the file: <tmp>/<prefix>_<pid>_<test name>.db.
  explicit SqliteOutbox(std::string prefix) : prefix_(std::move(prefix)) {}
  ~SqliteOutbox() { Close(); }
  SqliteOutbox(const SqliteOutbox&) = delete;
  SqliteOutbox& operator=(const SqliteOutbox&) = delete;

  // Creates the file afresh and migrates it, then opens the application's
  // connection and its table. Call from SetUp(): failures are fatal.
  void Open() {
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::replace_if(name.begin(), name.end(), [](char c) { return !std::isalnum(c); }, '_');
    path_ = std::filesystem::temp_directory_path() /
            fmt::format("{}_{}_{}.db", prefix_, ::getpid(), name);
    RemoveFiles();
    std::unique_ptr<Store> store = OpenStore();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->Migrate().ok());
    ASSERT_EQ(sqlite3_open(path_.c_str(), &app_), SQLITE_OK);
    sqlite3_busy_timeout(app_, 5000);
    Exec("CREATE TABLE business (id INTEGER PRIMARY KEY, note TEXT NOT NULL)");
  }

  // Closes the application's connection and removes the files. Stores
  // opened on the file must be gone first.
  void Close() {
    if (app_ != nullptr) sqlite3_close(app_);
    app_ = nullptr;
    if (!path_.empty()) RemoveFiles();
  }

  // A store on the file, on a connection of its own.
  std::unique_ptr<Store> OpenStore() const {
    Result<std::unique_ptr<Store>> store =
        herald::OpenStore("sqlite:" + path_.string(), {.create_if_missing = true});
    EXPECT_TRUE(store.has_value()) << store.error().ToString();
    return store.has_value() ? std::move(*store) : nullptr;
  }

  // Runs `sql` on the application's connection.
  void Exec(const std::string& sql) const {
    char* error = nullptr;
    ASSERT_EQ(sqlite3_exec(app_, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
        << sql << ": " << (error != nullptr ? error : "");
  }

  sqlite3* app() const { return app_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  void RemoveFiles() const {
    for (const char* suffix : {"", "-wal", "-shm", "-relay.lock"}) {
      std::error_code ignored;
      std::filesystem::remove(path_.string() + suffix, ignored);
    }
  }

  const std::string prefix_;
  std::filesystem::path path_;
  sqlite3* app_ = nullptr;
};

}  // namespace herald::testing

#endif  // HERALD_TESTING_SQLITE_OUTBOX_H_
