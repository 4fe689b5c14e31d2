// What the PostgreSQL integration tests share: the server's URL from the
// environment, a schema of the test's own, libpq helpers, a backlog producer
// with a manifest of what committed, and a watcher that tails the relays'
// file sinks and records when each line appeared, so that deliveries made by
// different processes can be ordered where the order is certain.
#ifndef HERALD_TESTS_POSTGRES_SUPPORT_H_
#define HERALD_TESTS_POSTGRES_SUPPORT_H_

#include <libpq-fe.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "herald/store.h"
#include "support/process.h"

namespace herald::test {

struct PgConnCloser {
  void operator()(PGconn* conn) const { PQfinish(conn); }
};
using PgConn = std::unique_ptr<PGconn, PgConnCloser>;

// Connects with libpq; nullptr (and a test failure naming the error) if the
// server cannot be reached.
PgConn PgConnect(const std::string& url);

// Runs `sql` (no parameters); "" on success, the server's message otherwise.
std::string PgExec(PGconn* conn, const std::string& sql);

// Runs a query expected to return one value; the value as text, or "" with
// a test failure.
std::string PgQueryValue(PGconn* conn, const std::string& sql);

// How many times `needle` occurs in `text` (a line logged once, say).
std::size_t CountOf(std::string_view text, std::string_view needle);

// Waits until `done()` is true, checking every `step`; false on timeout.
bool WaitUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout,
               std::chrono::milliseconds step = std::chrono::milliseconds(20));

// The committed events, in enqueue order overall and per key.
struct Manifest {
  struct Entry {
    std::string key;
    long n = 0;  // position among its key's events, from 0
  };
  std::vector<std::string> ids;
  std::map<std::string, std::vector<std::string>> by_key;
  std::map<std::string, Entry> entry_of;  // by event id

  void Add(const std::string& id, const std::string& key);
};

// The payload the producers write: {"key":KEY,"n":N}.
std::string KeyedPayload(const std::string& key, long n);

// One line of a file sink and when the watcher first saw it. The line was
// complete when read number `seen` happened and was not there yet when read
// number `absent` of the same file happened (0: before the first read), so
// line x was certainly written before line y when x.seen <= y.absent.
struct SinkLine {
  std::size_t file = 0;
  std::uint64_t seen = 0;
  std::uint64_t absent = 0;
  std::string id;
};

// Tails files in a thread of its own, reading each from where it left off,
// and records every complete line. Files may appear later (a relay creates
// its sink when it starts). Thread-safe.
class SinkWatcher {
 public:
  SinkWatcher();
  ~SinkWatcher();
  SinkWatcher(const SinkWatcher&) = delete;
  SinkWatcher& operator=(const SinkWatcher&) = delete;

  // Starts watching `path`; returns its index in SinkLine::file.
  std::size_t Watch(const std::filesystem::path& path);
  // Complete lines seen so far, in all files / in file `file`.
  std::size_t lines() const;
  std::size_t lines(std::size_t file) const;
  // The number of the latest read: reads after this call have larger numbers.
  std::uint64_t Mark() const;
  // Reads every file once more, stops the thread and returns every line in
  // the order seen, with the event id parsed from it (a line that is not an
  // event is a test failure). Later calls return the same lines.
  std::vector<SinkLine> Finish();

 private:
  struct File {
    std::filesystem::path path;
    int fd = -1;
    std::uint64_t offset = 0;
    std::string partial;
    std::uint64_t last_read = 0;
    std::size_t lines = 0;
  };
  void Loop(std::stop_token stop);
  void ReadAllLocked();
  void ReadLocked(std::size_t index);

  mutable std::mutex mu_;
  std::vector<File> files_;
  std::vector<SinkLine> seen_;   // id filled in by Finish()
  std::vector<std::string> texts_;  // parallel to seen_
  std::uint64_t reads_ = 0;
  bool finished_ = false;
  std::jthread thread_;
};

// Checks what the bus got against what committed:
//  - every committed event arrived and nothing else did (I1, I2);
//  - in each file, each key's events arrived first in enqueue order (I3);
//  - across files, no event's first delivery certainly happened before the
//    first delivery of the event enqueued before it under the same key (I3
//    across ownership changes);
//  - at most `max_duplicates` deliveries repeat an earlier one (I4).
void ExpectDeliveredOnceInKeyOrder(const Manifest& manifest, const std::vector<SinkLine>& lines,
                                   std::size_t max_duplicates);

// A fixture for tests against the server named by HERALD_TEST_PG_URL. The
// test is skipped when the variable is unset, except under CI (CI=true),
// where that is a failure. Each test works in schemas of its own, named from
// the test (t_<name>, and t_<name>_app for business tables), dropped before
// and after it, so tests can run in parallel.
class PostgresTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // The store URL: the server URL with ?schema=<schema_> and `params`
  // ("lease=2s&...") appended.
  std::string StoreUrl(const std::string& params = "") const;
  // A new libpq connection to the server (failure recorded).
  PgConn Connect() const { return PgConnect(server_url_); }
  // Runs `herald ARGS...` to completion, with `env` added to the test's
  // environment.
  ProcessResult Herald(std::vector<std::string> args,
                       std::map<std::string, std::string> env = {}) const;
  // `herald relay --db url --publisher file:SINK --log-level warn EXTRA...`.
  std::vector<std::string> RelayArgs(const std::string& url, const std::filesystem::path& sink,
                                     std::vector<std::string> extra) const;
  // Creates the schema with `herald migrate --db url`.
  void MigrateWithCli(const std::string& url);
  // Enqueues `events` events spread over `keys` keys, `per_transaction` to a
  // transaction, with EnqueueBatch through a libpq connection of its own.
  Manifest EnqueueBacklog(long events, int keys, long per_transaction) const;
  // The store's statistics, read through herald::OpenStore(url).
  OutboxStats Stats(const std::string& url) const;

  std::string server_url_;
  std::string schema_;
  std::string app_schema_;
  TempDir dir_;
};

}  // namespace herald::test

#endif  // HERALD_TESTS_POSTGRES_SUPPORT_H_
