// Herald's PostgreSQL figures, each next to a baseline measured in the same
// run on the same server:
//   1. relay throughput PostgreSQL -> file: sink and -> a publisher that
//      confirms at once, for a backlog, next to a hand-written drain loop
//      doing the same SQL and file writes (select a batch in seq order, write
//      one line per event, fsync, delete the batch by seq);
//   2. commit-to-published latency p50/p99 at a steady rate: an application
//      thread commits single-event transactions while the relay runs;
//   3. enqueue overhead: business transactions/s with and without the outbox
//      insert in the same transaction.
//
//   pg_bench [--db URL] [--backlog N] [--batch N] [--payload BYTES] [--analyze 1]
//            [--rate EVENTS_PER_S] [--seconds S] [--app-threads N] [--transactions N]
//            [--dir DIR]
// URL defaults to $HERALD_TEST_PG_URL (scripts/pg.sh url). The bench works in
// the schemas herald_bench and herald_bench_app, which it drops and recreates.
#include <fcntl.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench_support.h"
#include "herald/event.h"
#include "herald/log.h"
#include "herald/postgres.h"
#include "herald/publisher.h"
#include "herald/relay.h"
#include "herald/store.h"

namespace {

using herald::bench::Check;
using herald::bench::CpuModel;
using herald::bench::kKeys;
using herald::bench::MakeEvent;
using herald::bench::Payload;
using herald::bench::Seconds;
using herald::bench::TimingPublisher;

using Clock = std::chrono::steady_clock;

constexpr const char* kSchema = "herald_bench";
constexpr const char* kAppSchema = "herald_bench_app";
constexpr int kEnqueueRounds = 3;

struct Args {
  std::string db;
  long backlog = 100000;
  std::size_t batch = 500;
  std::size_t payload = 200;
  long rate = 1000;
  long seconds = 5;
  long app_threads = 16;
  long transactions = 2000;
  std::string dir;
  bool analyze = false;  // ANALYZE the filled outbox before each drain
};

// ---- libpq --------------------------------------------------------------------

struct Conn {
  explicit Conn(const std::string& url) : pg(PQconnectdb(url.c_str())) {
    Check(PQstatus(pg) == CONNECTION_OK, fmt::format("connect to {}: {}", url, PQerrorMessage(pg)));
  }
  ~Conn() { PQfinish(pg); }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;
  PGconn* pg;
};

class Res {
 public:
  explicit Res(PGresult* r) : r_(r) {}
  ~Res() { PQclear(r_); }
  Res(const Res&) = delete;
  Res& operator=(const Res&) = delete;
  PGresult* get() const { return r_; }

 private:
  PGresult* r_;
};

void Exec(PGconn* conn, const std::string& sql) {
  Res r(PQexec(conn, sql.c_str()));
  ExecStatusType s = PQresultStatus(r.get());
  Check(s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK,
        fmt::format("{}: {}", sql, PQerrorMessage(conn)));
}

std::string Value(PGconn* conn, const std::string& sql) {
  Res r(PQexec(conn, sql.c_str()));
  Check(PQresultStatus(r.get()) == PGRES_TUPLES_OK && PQntuples(r.get()) == 1,
        fmt::format("{}: {}", sql, PQerrorMessage(conn)));
  return PQgetvalue(r.get(), 0, 0);
}

std::string StoreUrl(const Args& args) {
  return args.db + (args.db.find('?') == std::string::npos ? "?" : "&") + "schema=" + kSchema;
}

// Drops and recreates Herald's schema and the business table.
void FreshSchemas(const Args& args) {
  Conn c(args.db);
  Exec(c.pg, fmt::format("SET client_min_messages = warning; DROP SCHEMA IF EXISTS {} CASCADE; "
                         "DROP SCHEMA IF EXISTS {} CASCADE; CREATE SCHEMA {}; "
                         "CREATE TABLE {}.transactions (id uuid PRIMARY KEY, account text NOT "
                         "NULL, amount_cents bigint NOT NULL)",
                         kSchema, kAppSchema, kAppSchema, kAppSchema));
  herald::postgres::MigrateOptions options;
  options.schema = kSchema;
  Check(herald::postgres::Migrate(c.pg, options), "migrate");
}

herald::postgres::EnqueueOptions WriteOptions() {
  herald::postgres::EnqueueOptions options;
  options.schema = kSchema;
  return options;
}

// What the planner knew of the outbox when the last drain started.
std::string g_statistics;

void FillBacklog(const Args& args) {
  FreshSchemas(args);
  Conn c(args.db);
  std::vector<herald::Event> chunk;
  for (long i = 0; i < args.backlog; ++i) {
    chunk.push_back(MakeEvent(args.payload, i));
    if (chunk.size() == 1000 || i + 1 == args.backlog) {
      Exec(c.pg, "BEGIN");
      Check(herald::postgres::EnqueueBatch(c.pg, chunk, WriteOptions()), "enqueue batch");
      Exec(c.pg, "COMMIT");
      chunk.clear();
    }
  }
  // Production outboxes are refilled in bursts faster than autovacuum
  // analyses them: by default the drain starts without statistics.
  if (args.analyze) Exec(c.pg, fmt::format("VACUUM ANALYZE {}.outbox", kSchema));
  const std::string tuples =
      Value(c.pg, fmt::format("SELECT reltuples::int8 FROM pg_class WHERE oid = '{}.outbox'::regclass",
                              kSchema));
  g_statistics = tuples == "-1" ? "never analysed (reltuples -1)"
                                : fmt::format("analysed (reltuples {})", tuples);
}

// ---- 1. throughput --------------------------------------------------------------

double RelayRate(const Args& args, herald::Publisher& pub, std::size_t window) {
  FillBacklog(args);
  auto store = herald::OpenStore(StoreUrl(args));
  Check(store.has_value(), "open store");
  return herald::bench::DrainRate(**store, pub, args.batch, window, args.backlog);
}

// The same work without Herald: select a batch in seq order, write one line
// per event, fsync, delete the batch by seq (autocommit).
double RawDrainRate(const Args& args, const std::filesystem::path& sink) {
  FillBacklog(args);
  Conn c(args.db);
  int fd = ::open(sink.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
  Check(fd >= 0, "open sink");
  const std::string select = fmt::format(
      "SELECT seq, event_id, topic, key, type, convert_from(payload, 'UTF8') FROM {}.outbox "
      "ORDER BY seq LIMIT $1",
      kSchema);
  const std::string remove = fmt::format("DELETE FROM {}.outbox WHERE seq = ANY($1::bigint[])",
                                         kSchema);
  const std::string limit = std::to_string(args.batch);
  long drained = 0;
  auto start = Clock::now();
  for (;;) {
    const char* select_params[] = {limit.c_str()};
    Res rows(PQexecParams(c.pg, select.c_str(), 1, nullptr, select_params, nullptr, nullptr, 0));
    Check(PQresultStatus(rows.get()) == PGRES_TUPLES_OK, PQerrorMessage(c.pg));
    int n = PQntuples(rows.get());
    if (n == 0) break;
    std::string lines, seqs = "{";
    for (int r = 0; r < n; ++r) {
      if (r) seqs += ',';
      seqs += PQgetvalue(rows.get(), r, 0);
      lines += fmt::format(R"({{"event_id":"{}","topic":"{}","key":"{}","type":"{}","payload":{}}})",
                           PQgetvalue(rows.get(), r, 1), PQgetvalue(rows.get(), r, 2),
                           PQgetvalue(rows.get(), r, 3), PQgetvalue(rows.get(), r, 4),
                           PQgetvalue(rows.get(), r, 5));
      lines += '\n';
    }
    seqs += '}';
    Check(::write(fd, lines.data(), lines.size()) == static_cast<ssize_t>(lines.size()), "write");
    Check(::fsync(fd) == 0, "fsync");
    const char* delete_params[] = {seqs.c_str()};
    Res deleted(PQexecParams(c.pg, remove.c_str(), 1, nullptr, delete_params, nullptr, nullptr, 0));
    Check(PQresultStatus(deleted.get()) == PGRES_COMMAND_OK, PQerrorMessage(c.pg));
    drained += n;
  }
  double secs = Seconds(Clock::now() - start);
  Check(drained == args.backlog, "raw drain count");
  ::close(fd);
  return static_cast<double>(args.backlog) / secs;
}

// ---- 2. latency ---------------------------------------------------------------

struct Latency {
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
  double achieved_rate = 0;
  std::size_t events = 0;
};

// The relay runs on `sink` while args.app_threads application threads, each
// on a connection of its own, commit one event per transaction on a shared
// schedule of args.rate events/s for args.seconds (several threads because
// one synchronous commit waits for a WAL flush: concurrent commits share
// flushes, as in a real service).
Latency SteadyRateLatency(const Args& args, herald::Publisher& sink) {
  FreshSchemas(args);
  auto store = herald::OpenStore(StoreUrl(args));
  Check(store.has_value(), "open store");
  TimingPublisher timing(sink);
  herald::RelayOptions options;
  options.batch_size = args.batch;
  herald::Relay relay(**store, timing, options);
  herald::Status relay_status;
  std::thread relay_thread([&] { relay_status = relay.Run(); });

  const long total = args.rate * args.seconds;
  const auto period = std::chrono::nanoseconds(1000000000L / args.rate);
  using Commit = std::pair<herald::EventId, Clock::time_point>;
  std::vector<std::vector<Commit>> committed(static_cast<std::size_t>(args.app_threads));
  auto start = Clock::now() + std::chrono::milliseconds(100);
  {
    std::vector<std::jthread> apps;
    for (long t = 0; t < args.app_threads; ++t) {
      apps.emplace_back([&, t] {
        Conn app(args.db);
        for (long i = t; i < total; i += args.app_threads) {
          std::this_thread::sleep_until(start + i * period);
          herald::Event e = MakeEvent(args.payload, i);
          Exec(app.pg, "BEGIN");
          Check(herald::postgres::Enqueue(app.pg, e, WriteOptions()), "enqueue");
          Exec(app.pg, "COMMIT");
          committed[static_cast<std::size_t>(t)].emplace_back(e.id, Clock::now());
        }
      });
    }
  }
  double achieved = static_cast<double>(total) / Seconds(Clock::now() - start);
  auto deadline = Clock::now() + std::chrono::seconds(30);
  while (timing.count() < static_cast<std::size_t>(total) && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  relay.Stop();
  relay_thread.join();
  Check(relay_status, "relay");
  Check(timing.count() == static_cast<std::size_t>(total),
        "not every committed event was published in time");

  std::map<herald::EventId, Clock::time_point> published = timing.published();
  std::vector<double> ms;
  for (const std::vector<Commit>& of_thread : committed) {
    for (const auto& [id, at] : of_thread) {
      ms.push_back(std::chrono::duration<double, std::milli>(published.at(id) - at).count());
    }
  }
  const herald::bench::Percentiles p = herald::bench::Summarize(ms);
  return Latency{p.p50, p.p99, p.max, achieved, ms.size()};
}

// ---- 3. enqueue overhead ------------------------------------------------------

// Business transactions per second, each committed on its own, with or
// without the outbox insert, from `connections` threads with a connection
// each (args.transactions in all).
double EnqueueRate(const Args& args, bool with_outbox, const char* synchronous_commit,
                   long connections, bool wake) {
  FreshSchemas(args);
  const std::string insert =
      fmt::format("INSERT INTO {}.transactions VALUES ($1::uuid, $2, $3::bigint)", kAppSchema);
  auto run = [&](long first) {
    Conn c(args.db);
    Exec(c.pg, fmt::format("SET synchronous_commit = {}", synchronous_commit));
    if (!wake) Exec(c.pg, "SET herald.wake = off");
    for (long i = first; i < args.transactions; i += connections) {
      herald::Event e = MakeEvent(args.payload, i);
      std::string id = e.id.ToString(), amount = std::to_string(i);
      const char* params[] = {id.c_str(), e.key.c_str(), amount.c_str()};
      Exec(c.pg, "BEGIN");
      Res r(PQexecParams(c.pg, insert.c_str(), 3, nullptr, params, nullptr, nullptr, 0));
      Check(PQresultStatus(r.get()) == PGRES_COMMAND_OK, PQerrorMessage(c.pg));
      if (with_outbox) Check(herald::postgres::Enqueue(c.pg, e, WriteOptions()), "enqueue");
      Exec(c.pg, "COMMIT");
    }
  };
  auto start = Clock::now();
  {
    std::vector<std::jthread> threads;
    for (long t = 0; t < connections; ++t) threads.emplace_back(run, t);
  }
  return static_cast<double>(args.transactions) / Seconds(Clock::now() - start);
}

// ---- main -----------------------------------------------------------------------

Args Parse(int argc, char** argv) {
  Args a;
  if (const char* url = std::getenv("HERALD_TEST_PG_URL")) a.db = url;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string_view f = argv[i];
    const char* v = argv[i + 1];
    if (f == "--db") a.db = v;
    else if (f == "--backlog") a.backlog = std::atol(v);
    else if (f == "--batch") a.batch = static_cast<std::size_t>(std::atol(v));
    else if (f == "--payload") a.payload = static_cast<std::size_t>(std::atol(v));
    else if (f == "--rate") a.rate = std::atol(v);
    else if (f == "--seconds") a.seconds = std::atol(v);
    else if (f == "--app-threads") a.app_threads = std::atol(v);
    else if (f == "--transactions") a.transactions = std::atol(v);
    else if (f == "--dir") a.dir = v;
    else if (f == "--analyze") a.analyze = std::string_view(v) == "1";
    else Check(false, fmt::format("unknown option {}", f));
  }
  Check(argc % 2 == 1, "options take values");
  Check(!a.db.empty(), "no server: give --db URL or set HERALD_TEST_PG_URL (scripts/pg.sh url)");
  Check(a.backlog > 0 && a.batch > 0 && a.rate > 0 && a.seconds > 0 && a.app_threads > 0 &&
            a.transactions > 0,
        "counts must be positive");
  return a;
}

void PrintConditions(const Args& args, const std::filesystem::path& dir) {
  Conn c(args.db);
  std::printf("pg_bench: %s\n", Value(c.pg, "SELECT version()").c_str());
  std::printf("machine: %s, %ld cores; sink dir %s\n", CpuModel().c_str(),
              sysconf(_SC_NPROCESSORS_ONLN), dir.c_str());
  std::printf("server: fsync=%s synchronous_commit=%s wal_sync_method=%s full_page_writes=%s "
              "shared_buffers=%s\n",
              Value(c.pg, "SHOW fsync").c_str(), Value(c.pg, "SHOW synchronous_commit").c_str(),
              Value(c.pg, "SHOW wal_sync_method").c_str(),
              Value(c.pg, "SHOW full_page_writes").c_str(),
              Value(c.pg, "SHOW shared_buffers").c_str());
  std::printf("conditions: %d partitions, one relay, relay batch %zu, payload %zu B, %d keys, "
              "backlog %ld events, steady rate %ld ev/s for %ld s from %ld application "
              "threads, %ld transactions per enqueue run (best of %d)\n\n",
              herald::postgres::kDefaultPartitions, args.batch, args.payload, kKeys, args.backlog,
              args.rate, args.seconds, args.app_threads, args.transactions, kEnqueueRounds);
}

}  // namespace

int main(int argc, char** argv) {
  Args args = Parse(argc, argv);
  herald::SetLogLevel(herald::LogLevel::kWarning);  // the relay's own progress lines
  std::filesystem::path dir =
      args.dir.empty() ? std::filesystem::temp_directory_path() / "herald-pg-bench"
                       : std::filesystem::path(args.dir);
  std::filesystem::create_directories(dir);
  std::filesystem::path sink = dir / "sink.jsonl";
  PrintConditions(args, dir);

  std::printf("%-58s %14s %14s %8s\n", "relay drain of the backlog", "baseline", "herald",
              "ratio");
  double raw = RawDrainRate(args, sink);
  std::filesystem::remove(sink);
  auto file = herald::OpenPublisher("file:" + sink.string());
  Check(file.has_value(), "open file publisher");
  herald::bench::ConfirmAtOncePublisher null_pub;
  for (std::size_t window : {herald::RelayOptions{}.max_in_flight_events, args.batch}) {
    const bool windowed = window != args.batch;
    const char* mode = windowed ? "" : ", one batch at a time";
    double herald_file = RelayRate(args, **file, window);
    std::printf("%-58s %10.0f ev/s %10.0f ev/s %8.2f\n",
                fmt::format("  PostgreSQL -> file: sink{}", mode).c_str(), raw, herald_file,
                herald_file / raw);
    double herald_null = RelayRate(args, null_pub, window);
    std::printf("%-58s %10.0f ev/s %10.0f ev/s %8.2f\n",
                fmt::format("  PostgreSQL -> confirm-at-once publisher{}", mode).c_str(), raw,
                herald_null, herald_null / raw);
  }
  std::printf("  (baseline: a raw SQL drain loop, select / write / fsync / delete)\n");
  std::printf("  (outbox statistics at the start of each drain: %s; --analyze 1 to analyse)\n",
              g_statistics.c_str());

  std::printf("\n%-58s %14s %14s %8s\n",
              fmt::format("commit-to-published latency at {} ev/s", args.rate).c_str(), "p50",
              "p99", "max");
  Latency lat = SteadyRateLatency(args, **file);
  std::printf("%-58s %11.2f ms %11.2f ms %5.1f ms\n",
              fmt::format("  PostgreSQL -> file: sink ({} events, {:.0f} ev/s achieved)",
                          lat.events, lat.achieved_rate)
                  .c_str(),
              lat.p50_ms, lat.p99_ms, lat.max_ms);

  std::printf("\n%-58s %14s %14s %8s\n", "enqueue (one commit per business transaction)",
              "without outbox", "with outbox", "ratio");
  struct EnqueueCase {
    const char* synchronous_commit;
    long connections;
    bool wake = true;  // false: SET herald.wake = off (relays poll)
  };
  for (EnqueueCase k : {EnqueueCase{"on", 1}, EnqueueCase{"off", 1},
                        EnqueueCase{"on", args.app_threads},
                        EnqueueCase{"on", args.app_threads, false}}) {
    // Interleaved rounds, best of each: the server's other work (checkpoints,
    // the previous phase's vacuum) then weighs on both alike.
    double without = 0, with = 0;
    for (int round = 0; round < kEnqueueRounds; ++round) {
      without = std::max(
          without, EnqueueRate(args, false, k.synchronous_commit, k.connections, k.wake));
      with = std::max(with, EnqueueRate(args, true, k.synchronous_commit, k.connections, k.wake));
    }
    std::printf("%-58s %10.0f tx/s %10.0f tx/s %8.2f\n",
                fmt::format("  synchronous_commit={}, {} connection{}{}", k.synchronous_commit,
                            k.connections, k.connections == 1 ? "" : "s",
                            k.wake ? "" : ", herald.wake=off")
                    .c_str(),
                without, with, with / without);
  }

  Conn c(args.db);
  Exec(c.pg, fmt::format("SET client_min_messages = warning; DROP SCHEMA {} CASCADE; "
                         "DROP SCHEMA {} CASCADE",
                         kSchema, kAppSchema));
  std::filesystem::remove_all(dir);
  return 0;
}
