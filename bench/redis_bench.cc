// Herald's Redis Streams figures against a redis-server, each next to a
// baseline measured in the same run:
//   1. relay throughput SQLite -> Redis for a backlog, next to hiredis alone
//      pipelining the same entries (the same fields) to the same server:
//      plain XADD, and the de-duplicating script Herald runs (EVALSHA);
//      and next to a raw SQL drain loop doing the relay's work by hand
//      (select a batch in seq order, pipeline its EVALSHAs, read every reply,
//      delete the batch);
//   2. commit-to-confirmed latency (p50/p99) at a steady commit rate: from
//      the end of the application's commit to the server's reply.
//
//   redis_bench [--url redis://HOST:PORT] [--backlog N] [--batch N]
//               [--payload BYTES] [--keys N] [--rate EVENTS_PER_S] [--seconds S]
// The publisher does not keep key order across failures, so the relay has
// one event per key in flight: its rate grows with the number of distinct
// keys (--keys, default 64 as in the other benchmarks; the throughput table
// is printed for that many keys and for 16 times as many).
// --url defaults to $HERALD_TEST_REDIS_URL, else redis://127.0.0.1:56379
// (scripts/redis.sh start). The bench writes the streams herald_bench:raw,
// herald_bench:sql and herald_bench:transactions and their de-duplication
// keys, and deletes them before and after each run. The outbox is a fresh
// SQLite file (synchronous=FULL, WAL) in the temporary directory.
#include <hiredis/hiredis.h>
#include <sqlite3.h>
#include <unistd.h>

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench_support.h"
#include "herald/event.h"
#include "herald/log.h"
#include "herald/publisher.h"
#include "herald/relay.h"
#include "herald/sqlite.h"
#include "herald/store.h"
#include "publish/redis/redis_config.h"
#include "publish/redis/redis_publisher.h"

namespace {

using herald::bench::Check;
using herald::bench::CpuModel;
using herald::bench::kKeys;
using herald::bench::Seconds;
using herald::bench::TimingPublisher;

using SteadyClock = std::chrono::steady_clock;

constexpr const char* kPrefix = "herald_bench:";

struct Args {
  std::string url;
  long backlog = 100000;
  std::size_t batch = 500;
  std::size_t payload = 200;
  long keys = kKeys;
  long rate = 1000;
  long seconds = 10;
};

// A plain blocking hiredis connection for the baselines and the clean-up.
class Client {
 public:
  explicit Client(const std::string& url) {
    auto config = herald::publish::ParseRedisConfig(url, {});
    Check(config.has_value(), fmt::format("--url {}: {}", url,
                                          config ? "" : config.error().ToString()));
    ctx_ = redisConnect(config->host.c_str(), config->port);
    Check(ctx_ != nullptr && ctx_->err == 0,
          fmt::format("connect {}: {}", url, ctx_ != nullptr ? ctx_->errstr : "out of memory"));
    if (!config->password.empty()) {
      Check(Run(config->user.empty() ? std::vector<std::string>{"AUTH", config->password}
                                     : std::vector<std::string>{"AUTH", config->user,
                                                                config->password}) == "OK",
            "AUTH");
    }
  }
  ~Client() { redisFree(ctx_); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // One command; its reply as text.
  std::string Run(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const std::string& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* r = static_cast<redisReply*>(
        redisCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data()));
    Check(r != nullptr, fmt::format("redis {}: {}", args[0], ctx_->errstr));
    std::string out = r->type == REDIS_REPLY_INTEGER ? std::to_string(r->integer)
                      : r->str != nullptr            ? std::string(r->str, r->len)
                                                     : std::string();
    if (r->type == REDIS_REPLY_ARRAY) out = std::to_string(r->elements);
    freeReplyObject(r);
    return out;
  }

  // The value of one server setting (CONFIG GET).
  std::string ConfigGet(const char* name) {
    auto* r = static_cast<redisReply*>(redisCommand(ctx_, "CONFIG GET %s", name));
    Check(r != nullptr, fmt::format("CONFIG GET {}: {}", name, ctx_->errstr));
    std::string out = r->type == REDIS_REPLY_ARRAY && r->elements == 2
                          ? std::string(r->element[1]->str, r->element[1]->len)
                          : std::string("?");
    freeReplyObject(r);
    return out;
  }

  // Deletes the bench's streams and de-duplication keys.
  void Clean() {
    Run({"EVAL",
         "for _, p in ipairs(ARGV) do for _, k in ipairs(redis.call('KEYS', p)) do "
         "redis.call('UNLINK', k) end end return 0",
         "0", std::string(kPrefix) + "*", std::string("herald:dedup:") + kPrefix + "*"});
  }

  // Appends one command; replies are read by Drain().
  void Append(const std::vector<std::string_view>& args) {
    argv_.clear();
    lens_.clear();
    for (std::string_view a : args) {
      argv_.push_back(a.data());
      lens_.push_back(a.size());
    }
    Check(redisAppendCommandArgv(ctx_, static_cast<int>(argv_.size()), argv_.data(),
                                 lens_.data()) == REDIS_OK,
          "append");
  }
  // Reads `n` replies (the first read sends what was appended); none may
  // be an error.
  void Drain(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      void* r = nullptr;
      Check(redisGetReply(ctx_, &r) == REDIS_OK, fmt::format("reply: {}", ctx_->errstr));
      auto* reply = static_cast<redisReply*>(r);
      Check(reply->type != REDIS_REPLY_ERROR,
            fmt::format("reply: {}", std::string_view(reply->str, reply->len)));
      freeReplyObject(reply);
    }
  }

 private:
  redisContext* ctx_ = nullptr;
  std::vector<const char*> argv_;
  std::vector<std::size_t> lens_;
};

// The i-th TransactionCreated event, keyed by one of `keys` accounts.
herald::Event MakeEvent(std::size_t payload_bytes, long i, long keys) {
  herald::Event e = herald::bench::MakeEvent(payload_bytes, i);
  e.key = fmt::format("acct-{}", i % keys);
  return e;
}

// The fields Herald writes for `e` (no headers in this workload).
struct Fields {
  std::string id, time;
  std::vector<std::string_view> args;
  Fields(const herald::Event& e) : id(e.id.ToString()), time(herald::FormatRfc3339(e.created_at)) {
    args = {"ce-id",          id,  "ce-type",    e.type,  "ce-source",    "herald",
            "ce-time",        time, "ce-specversion", "1.0", "ce-subject", e.key,
            "content-type",   e.content_type, "data", e.payload};
  }
};

// hiredis alone pipelining the backlog's entries, `window` commands at a
// time: plain XADD, or (`script`) the de-duplicating script as Herald.
double RawPipelineRate(const Args& args, bool script, std::size_t window) {
  Client client(args.url);
  client.Clean();
  const std::string sha =
      script ? client.Run({"SCRIPT", "LOAD", std::string(herald::publish::RedisPublisher::Script())})
             : std::string();
  const std::string stream = std::string(kPrefix) + "raw";
  const std::string dedup_window =
      std::to_string(herald::publish::RedisConfig{}.dedup_window.count());
  std::vector<herald::Event> events;
  events.reserve(static_cast<std::size_t>(args.backlog));
  for (long i = 0; i < args.backlog; ++i) events.push_back(MakeEvent(args.payload, i, args.keys));

  const auto start = SteadyClock::now();
  std::size_t appended = 0;
  for (const herald::Event& e : events) {
    Fields f(e);
    std::vector<std::string_view> cmd;
    std::string dedup_key;
    if (script) {
      dedup_key = fmt::format("herald:dedup:{}:{}", stream, f.id);
      cmd = {"EVALSHA", sha, "2", stream, dedup_key, dedup_window, "0"};
    } else {
      cmd = {"XADD", stream, "*"};
    }
    cmd.insert(cmd.end(), f.args.begin(), f.args.end());
    client.Append(cmd);
    if (++appended == window) {
      client.Drain(appended);
      appended = 0;
    }
  }
  client.Drain(appended);
  const double secs = Seconds(SteadyClock::now() - start);
  Check(client.Run({"XLEN", stream}) == std::to_string(args.backlog), "raw stream length");
  client.Clean();
  return static_cast<double>(args.backlog) / secs;
}

std::filesystem::path OutboxPath() {
  return std::filesystem::temp_directory_path() / fmt::format("herald-redis-bench-{}.db", getpid());
}

void RemoveOutbox() {
  for (const char* suffix : {"", "-wal", "-shm", "-relay.lock"}) {
    std::error_code ignored;
    std::filesystem::remove(OutboxPath().string() + suffix, ignored);
  }
}

void FillBacklog(const Args& args) {
  RemoveOutbox();
  auto store = herald::OpenStore("sqlite:" + OutboxPath().string(), {.create_if_missing = true});
  Check(store.has_value(), "open store");
  Check((*store)->Migrate(), "migrate");
  std::vector<herald::Event> chunk;
  for (long i = 0; i < args.backlog; ++i) {
    chunk.push_back(MakeEvent(args.payload, i, args.keys));
    if (chunk.size() == 1000 || i + 1 == args.backlog) {
      Check((*store)->Enqueue(chunk), "enqueue backlog");
      chunk.clear();
    }
  }
}

void Exec(sqlite3* db, const char* sql) {
  char* error = nullptr;
  Check(sqlite3_exec(db, sql, nullptr, nullptr, &error) == SQLITE_OK,
        fmt::format("{}: {}", sql, error != nullptr ? error : ""));
}

// The relay's work without its engine: select a batch in seq order,
// pipeline one EVALSHA per event (the same script and fields), read every
// reply, delete the batch by seq; one batch at a time.
double RawSqlDrainRate(const Args& args) {
  FillBacklog(args);
  Client client(args.url);
  client.Clean();
  const std::string sha =
      client.Run({"SCRIPT", "LOAD", std::string(herald::publish::RedisPublisher::Script())});
  const std::string dedup_window =
      std::to_string(herald::publish::RedisConfig{}.dedup_window.count());
  sqlite3* db = nullptr;
  Check(sqlite3_open(OutboxPath().c_str(), &db) == SQLITE_OK, "open outbox");
  sqlite3_busy_timeout(db, 10000);
  Exec(db, "PRAGMA journal_mode=WAL");
  Exec(db, "PRAGMA synchronous=FULL");
  sqlite3_stmt* select = nullptr;
  sqlite3_stmt* remove = nullptr;
  sqlite3_prepare_v2(db,
                     "SELECT seq, event_id, topic, key, type, payload, content_type, created_at "
                     "FROM herald_outbox ORDER BY seq LIMIT ?",
                     -1, &select, nullptr);
  sqlite3_prepare_v2(db, "DELETE FROM herald_outbox WHERE seq IN (SELECT value FROM json_each(?))",
                     -1, &remove, nullptr);
  long drained = 0;
  const auto start = SteadyClock::now();
  for (;;) {
    sqlite3_bind_int64(select, 1, static_cast<sqlite3_int64>(args.batch));
    std::string seqs = "[";
    std::size_t n = 0;
    while (sqlite3_step(select) == SQLITE_ROW) {
      if (n++ > 0) seqs += ',';
      seqs += std::to_string(sqlite3_column_int64(select, 0));
      auto text = [&](int c) {
        return std::string_view(static_cast<const char*>(sqlite3_column_blob(select, c)),
                                static_cast<std::size_t>(sqlite3_column_bytes(select, c)));
      };
      const std::string stream = std::string(kPrefix) + "sql";
      const std::string dedup_key = fmt::format("herald:dedup:{}:{}", stream, text(1));
      const std::string time = herald::FormatRfc3339(
          herald::FromUnixMillis(sqlite3_column_int64(select, 7)));
      client.Append({"EVALSHA", sha, "2", stream, dedup_key, dedup_window, "0", "ce-id", text(1),
                     "ce-type", text(4), "ce-source", "herald", "ce-time", time, "ce-specversion",
                     "1.0", "ce-subject", text(3), "content-type", text(6), "data", text(5)});
    }
    sqlite3_reset(select);
    if (n == 0) break;
    seqs += ']';
    client.Drain(n);
    Exec(db, "BEGIN IMMEDIATE");
    sqlite3_bind_text(remove, 1, seqs.c_str(), -1, SQLITE_TRANSIENT);
    Check(sqlite3_step(remove) == SQLITE_DONE, "delete");
    sqlite3_reset(remove);
    Exec(db, "COMMIT");
    drained += static_cast<long>(n);
  }
  const double secs = Seconds(SteadyClock::now() - start);
  Check(drained == args.backlog, "raw drain count");
  Check(client.Run({"XLEN", std::string(kPrefix) + "sql"}) == std::to_string(args.backlog),
        "raw drain stream length");
  sqlite3_finalize(select);
  sqlite3_finalize(remove);
  sqlite3_close(db);
  client.Clean();
  RemoveOutbox();
  return static_cast<double>(args.backlog) / secs;
}

herald::PublisherOptions RedisOptions() {
  herald::PublisherOptions options;
  options.properties["herald.stream.prefix"] = kPrefix;
  return options;
}

double RelayRate(const Args& args, std::size_t window) {
  Client client(args.url);
  client.Clean();
  FillBacklog(args);
  auto store = herald::OpenStore("sqlite:" + OutboxPath().string());
  Check(store.has_value(), "open store");
  double rate = 0;
  {
    auto publisher = herald::OpenPublisher(args.url, RedisOptions());
    Check(publisher.has_value(), "open redis publisher");
    rate = herald::bench::DrainRate(**store, **publisher, args.batch, window, args.backlog);
  }
  Check(client.Run({"XLEN", std::string(kPrefix) + "transactions"}) ==
            std::to_string(args.backlog),
        "relay stream length");
  store->reset();
  client.Clean();
  RemoveOutbox();
  return rate;
}

struct Latency {
  double p50_ms = 0;
  double p99_ms = 0;
  double max_ms = 0;
  std::size_t events = 0;
};

// An application thread commits one event per transaction at `rate` per
// second while a relay runs; latency = the server's reply - end of commit.
Latency SteadyRateLatency(const Args& args) {
  Client client(args.url);
  client.Clean();
  RemoveOutbox();
  const std::string url = "sqlite:" + OutboxPath().string();
  auto relay_store = herald::OpenStore(url, {.create_if_missing = true});
  Check(relay_store.has_value(), "open relay store");
  Check((*relay_store)->Migrate(), "migrate");
  auto app_store = herald::OpenStore(url);
  Check(app_store.has_value(), "open application store");
  auto redis = herald::OpenPublisher(args.url, RedisOptions());
  Check(redis.has_value(), "open redis publisher");
  TimingPublisher timing(**redis);
  herald::RelayOptions options;
  options.batch_size = args.batch;
  herald::Relay relay(**relay_store, timing, options);
  std::jthread relay_thread([&] { Check(relay.Run(), "relay"); });

  const long total = args.rate * args.seconds;
  std::map<herald::EventId, SteadyClock::time_point> committed;
  const auto period = std::chrono::nanoseconds(1000000000L / args.rate);
  auto next = SteadyClock::now();
  for (long i = 0; i < total; ++i) {
    std::this_thread::sleep_until(next);
    next += period;
    herald::Event e = MakeEvent(args.payload, i, args.keys);
    Check((*app_store)->Enqueue(std::span<const herald::Event>(&e, 1)), "enqueue");
    committed.emplace(e.id, SteadyClock::now());
  }
  const auto deadline = SteadyClock::now() + std::chrono::seconds(30);
  while (timing.count() < committed.size() && SteadyClock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  relay.Stop();
  relay_thread.join();

  std::vector<double> ms;
  for (const auto& [id, confirmed_at] : timing.published()) {
    auto it = committed.find(id);
    if (it == committed.end()) continue;
    ms.push_back(std::chrono::duration<double, std::milli>(confirmed_at - it->second).count());
  }
  Check(ms.size() == committed.size(), "every committed event confirmed");
  client.Clean();
  const herald::bench::Percentiles p = herald::bench::Summarize(ms);
  return Latency{p.p50, p.p99, p.max, ms.size()};
}

Args Parse(int argc, char** argv) {
  Args a;
  if (const char* env = std::getenv("HERALD_TEST_REDIS_URL"); env != nullptr && *env != '\0') {
    a.url = env;
  } else {
    a.url = "redis://127.0.0.1:56379";
  }
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string_view f = argv[i];
    const char* v = argv[i + 1];
    if (f == "--url") a.url = v;
    else if (f == "--backlog") a.backlog = std::atol(v);
    else if (f == "--batch") a.batch = static_cast<std::size_t>(std::atol(v));
    else if (f == "--payload") a.payload = static_cast<std::size_t>(std::atol(v));
    else if (f == "--keys") a.keys = std::atol(v);
    else if (f == "--rate") a.rate = std::atol(v);
    else if (f == "--seconds") a.seconds = std::atol(v);
    else Check(false, fmt::format("unknown option {}", f));
  }
  Check(argc % 2 == 1, "options take values");
  Check(a.backlog > 0 && a.batch > 0 && a.keys > 0 && a.rate > 0 && a.seconds > 0,
        "counts must be positive");
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  Args args = Parse(argc, argv);
  herald::SetLogLevel(herald::LogLevel::kWarning);
  std::string version, aof, fsync;
  {
    Client client(args.url);
    const std::string info = client.Run({"INFO", "server"});
    if (std::size_t at = info.find("redis_version:"); at != std::string::npos) {
      version = info.substr(at + 14, info.find('\r', at) - at - 14);
    }
    aof = client.ConfigGet("appendonly");
    fsync = client.ConfigGet("appendfsync");
  }
  const herald::publish::RedisConfig defaults;
  std::printf("redis_bench: hiredis %d.%d.%d, Redis %s at %s (appendonly %s, appendfsync %s); "
              "%s, %ld cores\n",
              HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH, version.c_str(), args.url.c_str(),
              aof.c_str(), fsync.c_str(), CpuModel().c_str(), sysconf(_SC_NPROCESSORS_ONLN));
  std::printf("publisher: max pending %lld, reply timeout %lld ms, de-duplication window %lld ms "
              "(EVALSHA), ce-* fields\n",
              static_cast<long long>(defaults.max_pending),
              static_cast<long long>(defaults.reply_timeout.count()),
              static_cast<long long>(defaults.dedup_window.count()));
  std::printf("store: SQLite %s (WAL, synchronous=FULL) in %s; relay batch %zu; payload %zu B; "
              "one event per key in flight\n",
              sqlite3_libversion(), std::filesystem::temp_directory_path().c_str(), args.batch,
              args.payload);

  const long keys = args.keys;
  const auto window = static_cast<std::size_t>(defaults.max_pending);
  for (long k : {keys, keys * 16}) {
    args.keys = k;
    std::printf("\n%-58s %14s %14s %8s\n",
                fmt::format("backlog of {} events, {} keys", args.backlog, k).c_str(), "baseline",
                "herald relay", "ratio");
    const double raw_xadd = RawPipelineRate(args, /*script=*/false, window);
    const double raw_script = RawPipelineRate(args, /*script=*/true, window);
    const double raw_sql = RawSqlDrainRate(args);
    for (std::size_t relay_window : {herald::RelayOptions{}.max_in_flight_events, args.batch}) {
      const double relay = RelayRate(args, relay_window);
      const char* mode = relay_window == args.batch ? ", one batch at a time" : "";
      std::printf("%-58s %10.0f ev/s %10.0f ev/s %8.2f\n",
                  fmt::format("  vs hiredis pipelined XADD ({} at a time){}", window, mode).c_str(),
                  raw_xadd, relay, relay / raw_xadd);
      std::printf("%-58s %10.0f ev/s %10.0f ev/s %8.2f\n",
                  fmt::format("  vs hiredis pipelined EVALSHA, the same script{}", mode).c_str(),
                  raw_script, relay, relay / raw_script);
      std::printf("%-58s %10.0f ev/s %10.0f ev/s %8.2f\n",
                  fmt::format("  vs raw SQL drain loop (batch of {} per round trip){}",
                              args.batch, mode)
                      .c_str(),
                  raw_sql, relay, relay / raw_sql);
    }
  }
  args.keys = keys;

  Latency lat = SteadyRateLatency(args);
  std::printf("\ncommit-to-confirmed latency at %ld events/s, one event per commit, "
              "%ld keys, %zu events:\n  p50 %.2f ms   p99 %.2f ms   max %.2f ms\n",
              args.rate, args.keys, lat.events, lat.p50_ms, lat.p99_ms, lat.max_ms);
  RemoveOutbox();
  return 0;
}
