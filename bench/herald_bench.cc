// Herald's SQLite figures, each next to a baseline measured in the same run:
//   1. enqueue overhead: business transactions/s with and without the outbox
//      insert in the same transaction;
//   2. relay throughput SQLite -> file: sink for a backlog, next to a raw
//      hand-written drain loop doing the same SQL and file writes, and to the
//      engine with a publisher that confirms at once (store + engine cost).
//
//   herald_bench [--transactions N] [--backlog N] [--batch N] [--payload BYTES] [--dir DIR]
#include <sqlite3.h>
#include <unistd.h>

#include <fcntl.h>
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "bench_support.h"
#include "herald/event.h"
#include "herald/log.h"
#include "herald/publisher.h"
#include "herald/relay.h"
#include "herald/sqlite.h"
#include "herald/store.h"

namespace {

using herald::bench::Check;
using herald::bench::CpuModel;
using herald::bench::kKeys;
using herald::bench::MakeEvent;
using herald::bench::Payload;
using herald::bench::Seconds;

using Clock = std::chrono::steady_clock;

struct Args {
  long transactions = 2000;
  long backlog = 100000;
  std::size_t batch = 500;
  std::size_t payload = 200;
  std::string dir;
};

void Exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
  Check(rc == SQLITE_OK, fmt::format("{}: {}", sql, err ? err : "?"));
}

sqlite3* OpenDb(const std::filesystem::path& path, const char* synchronous) {
  sqlite3* db = nullptr;
  Check(sqlite3_open(path.c_str(), &db) == SQLITE_OK, "open");
  sqlite3_busy_timeout(db, 10000);
  Exec(db, "PRAGMA journal_mode=WAL");
  Exec(db, fmt::format("PRAGMA synchronous={}", synchronous).c_str());
  return db;
}

// Business transactions per second, each committed on its own, with or
// without the outbox insert.
double EnqueueRate(const std::filesystem::path& path, const Args& args, bool with_outbox,
                   const char* synchronous) {
  std::filesystem::remove(path);
  sqlite3* db = OpenDb(path, synchronous);
  Check(herald::sqlite::Migrate(db), "migrate");
  Exec(db, "CREATE TABLE transactions (id TEXT PRIMARY KEY, account TEXT, amount_cents INTEGER)");
  sqlite3_stmt* insert = nullptr;
  sqlite3_prepare_v2(db, "INSERT INTO transactions VALUES (?, ?, ?)", -1, &insert, nullptr);
  auto start = Clock::now();
  for (long i = 0; i < args.transactions; ++i) {
    herald::Event e = herald::Event::Make("transactions", fmt::format("acct-{}", i % 64),
                                          "TransactionCreated", Payload(args.payload, i));
    std::string id = e.id.ToString();
    Exec(db, "BEGIN IMMEDIATE");
    sqlite3_bind_text(insert, 1, id.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(insert, 2, e.key.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(insert, 3, i);
    Check(sqlite3_step(insert) == SQLITE_DONE, "insert");
    sqlite3_reset(insert);
    if (with_outbox) Check(herald::sqlite::Enqueue(db, e), "enqueue");
    Exec(db, "COMMIT");
  }
  double rate = static_cast<double>(args.transactions) / Seconds(Clock::now() - start);
  sqlite3_finalize(insert);
  sqlite3_close(db);
  return rate;
}

void FillBacklog(const std::filesystem::path& path, const Args& args) {
  std::filesystem::remove(path);
  std::filesystem::remove(path.string() + "-wal");
  std::filesystem::remove(path.string() + "-shm");
  sqlite3* db = OpenDb(path, "FULL");
  Check(herald::sqlite::Migrate(db), "migrate");
  std::vector<herald::Event> chunk;
  for (long i = 0; i < args.backlog; ++i) {
    chunk.push_back(herald::Event::Make("transactions", fmt::format("acct-{}", i % 64),
                                        "TransactionCreated", Payload(args.payload, i)));
    if (chunk.size() == 1000 || i + 1 == args.backlog) {
      Exec(db, "BEGIN");
      Check(herald::sqlite::EnqueueBatch(db, chunk), "enqueue batch");
      Exec(db, "COMMIT");
      chunk.clear();
    }
  }
  sqlite3_close(db);
}

double RelayRate(const std::filesystem::path& path, const Args& args, herald::Publisher& pub,
                 std::size_t window) {
  FillBacklog(path, args);
  auto store = herald::OpenStore("sqlite:" + path.string());
  Check(store.has_value(), "open store");
  return herald::bench::DrainRate(**store, pub, args.batch, window, args.backlog);
}

// The same work without Herald's engine: select a batch in seq order, write
// one line per event, fsync, delete the batch by seq.
double RawDrainRate(const std::filesystem::path& path, const std::filesystem::path& sink,
                    const Args& args) {
  FillBacklog(path, args);
  sqlite3* db = OpenDb(path, "FULL");
  int fd = ::open(sink.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
  Check(fd >= 0, "open sink");
  sqlite3_stmt* select = nullptr;
  sqlite3_stmt* remove = nullptr;
  sqlite3_prepare_v2(db,
                     "SELECT seq, event_id, topic, key, type, payload FROM herald_outbox "
                     "ORDER BY seq LIMIT ?",
                     -1, &select, nullptr);
  sqlite3_prepare_v2(db, "DELETE FROM herald_outbox WHERE seq IN (SELECT value FROM json_each(?))",
                     -1, &remove, nullptr);
  long drained = 0;
  auto start = Clock::now();
  for (;;) {
    sqlite3_bind_int64(select, 1, static_cast<sqlite3_int64>(args.batch));
    std::string lines, seqs = "[";
    int n = 0;
    while (sqlite3_step(select) == SQLITE_ROW) {
      if (n++) seqs += ',';
      seqs += std::to_string(sqlite3_column_int64(select, 0));
      auto text = [&](int c) {
        return std::string_view(reinterpret_cast<const char*>(sqlite3_column_text(select, c)),
                                static_cast<std::size_t>(sqlite3_column_bytes(select, c)));
      };
      lines += fmt::format(R"({{"event_id":"{}","topic":"{}","key":"{}","type":"{}","payload":{}}})",
                           text(1), text(2), text(3), text(4), text(5));
      lines += '\n';
    }
    sqlite3_reset(select);
    if (n == 0) break;
    seqs += ']';
    Check(::write(fd, lines.data(), lines.size()) == static_cast<ssize_t>(lines.size()), "write");
    Check(::fsync(fd) == 0, "fsync");
    Exec(db, "BEGIN IMMEDIATE");
    sqlite3_bind_text(remove, 1, seqs.c_str(), -1, SQLITE_TRANSIENT);
    Check(sqlite3_step(remove) == SQLITE_DONE, "delete");
    sqlite3_reset(remove);
    Exec(db, "COMMIT");
    drained += n;
  }
  double secs = Seconds(Clock::now() - start);
  Check(drained == args.backlog, "raw drain count");
  sqlite3_finalize(select);
  sqlite3_finalize(remove);
  ::close(fd);
  sqlite3_close(db);
  return static_cast<double>(args.backlog) / secs;
}

Args Parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string_view f = argv[i];
    const char* v = argv[i + 1];
    if (f == "--transactions") a.transactions = std::atol(v);
    else if (f == "--backlog") a.backlog = std::atol(v);
    else if (f == "--batch") a.batch = static_cast<std::size_t>(std::atol(v));
    else if (f == "--payload") a.payload = static_cast<std::size_t>(std::atol(v));
    else if (f == "--dir") a.dir = v;
    else Check(false, fmt::format("unknown option {}", f));
  }
  Check(argc % 2 == 1, "options take values");
  Check(a.transactions > 0 && a.backlog > 0 && a.batch > 0, "counts must be positive");
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  Args args = Parse(argc, argv);
  herald::SetLogLevel(herald::LogLevel::kWarning);
  std::filesystem::path dir =
      args.dir.empty() ? std::filesystem::temp_directory_path() / "herald-bench"
                      : std::filesystem::path(args.dir);
  std::filesystem::create_directories(dir);
  std::filesystem::path db = dir / "bench.db";
  std::filesystem::path sink = dir / "sink.jsonl";

  std::printf("herald_bench: SQLite %s, %s, %ld cores, dir %s\n", sqlite3_libversion(),
              CpuModel().c_str(), sysconf(_SC_NPROCESSORS_ONLN), dir.c_str());
  std::printf("conditions: WAL, payload %zu B, 64 keys, %ld transactions per enqueue run, "
              "backlog %ld events, relay batch %zu\n\n",
              args.payload, args.transactions, args.backlog, args.batch);

  std::printf("%-58s %14s %14s %8s\n", "enqueue (one commit per business transaction)",
              "without outbox", "with outbox", "ratio");
  for (const char* sync : {"FULL", "NORMAL"}) {
    double without = EnqueueRate(db, args, false, sync);
    double with = EnqueueRate(db, args, true, sync);
    std::printf("%-58s %10.0f tx/s %10.0f tx/s %8.2f\n",
                fmt::format("  synchronous={}", sync).c_str(), without, with, with / without);
  }

  std::printf("\n%-58s %14s %14s %8s\n", "relay drain of the backlog (synchronous=FULL)",
              "baseline", "herald", "ratio");
  double raw = RawDrainRate(db, sink, args);
  auto file = herald::OpenPublisher("file:" + sink.string());
  Check(file.has_value(), "open file publisher");
  std::filesystem::remove(sink);
  herald::bench::ConfirmAtOncePublisher null_pub;
  for (std::size_t window : {herald::RelayOptions{}.max_in_flight_events, args.batch}) {
    const bool windowed = window != args.batch;
    const char* mode = windowed ? "" : ", one batch at a time";
    double herald_file = RelayRate(db, args, **file, window);
    std::printf("%-58s %10.0f ev/s %10.0f ev/s %8.2f\n",
                fmt::format("  SQLite -> file: sink{}", mode).c_str(), raw, herald_file,
                herald_file / raw);
    double herald_null = RelayRate(db, args, null_pub, window);
    std::printf("%-58s %10.0f ev/s %10.0f ev/s %8.2f\n",
                fmt::format("  SQLite -> confirm-at-once publisher{}", mode).c_str(), raw,
                herald_null, herald_null / raw);
  }
  std::printf("  (baseline: a raw SQL drain loop, select / write / fsync / delete)\n");
  std::filesystem::remove_all(dir);
  return 0;
}
