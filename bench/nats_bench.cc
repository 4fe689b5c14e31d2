// Herald's NATS JetStream figures against a nats-server, each next to a
// baseline measured in the same run:
//   1. relay throughput store -> JetStream for a backlog, next to cnats's
//      raw asynchronous publish of the same messages (Nats-Msg-Id and the
//      same CloudEvents headers) to the same server;
//   2. commit-to-acknowledged latency (p50/p99) at a steady commit rate:
//      from the end of the application's commit to the JetStream ack.
//
//   nats_bench [--url nats://HOST:PORT] [--store URL] [--backlog N] [--batch N]
//              [--payload BYTES] [--keys N] [--rate EVENTS_PER_S] [--seconds S]
// The publisher does not keep key order across failures, so the relay has
// one event per key in flight: its rate grows with the number of distinct
// keys (--keys, default 64 as in the other benchmarks; the throughput table
// is printed for that many keys and for 16 times as many), next to cnats
// under the same constraint as well as without it.
// --url defaults to $HERALD_TEST_NATS_URL, else nats://127.0.0.1:54222
// (scripts/nats.sh start). The bench (re)creates the streams HERALD_BENCH_RAW
// and HERALD_BENCH (subjects herald_bench.raw and herald_bench.transactions)
// and deletes them at the end. --store is any herald::OpenStore URL
// (default: a fresh SQLite file); its outbox must start empty.
#include <nats/nats.h>
#include <unistd.h>

#include <fmt/format.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
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
#include "herald/publisher.h"
#include "herald/relay.h"
#include "herald/store.h"
#include "publish/nats/nats_config.h"

namespace {

using herald::bench::Check;
using herald::bench::CpuModel;
using herald::bench::kKeys;
using herald::bench::Seconds;
using herald::bench::TimingPublisher;

using SteadyClock = std::chrono::steady_clock;

constexpr const char* kRawStream = "HERALD_BENCH_RAW";
constexpr const char* kRawSubject = "herald_bench.raw";
constexpr const char* kRelayStream = "HERALD_BENCH";
constexpr const char* kRelaySubject = "herald_bench.transactions";
constexpr const char* kPrefix = "herald_bench.";

struct Args {
  std::string url;
  std::string store;
  long backlog = 100000;
  std::size_t batch = 500;
  std::size_t payload = 200;
  long keys = kKeys;
  long rate = 1000;
  long seconds = 10;
};

std::string NatsError(natsStatus s) {
  const char* text = nats_GetLastError(nullptr);
  return text != nullptr && *text != '\0' ? text : natsStatus_GetText(s);
}

void CheckNats(natsStatus s, std::string_view what) {
  Check(s == NATS_OK, fmt::format("{}: {}", what, s == NATS_OK ? "" : NatsError(s)));
}

// A plain cnats connection for the streams and the raw baseline.
struct Client {
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;

  Client(const std::string& url, jsOptions* options) {
    CheckNats(natsConnection_ConnectTo(&nc, url.c_str()), "connect " + url);
    CheckNats(natsConnection_JetStream(&js, nc, options), "JetStream context");
  }
  ~Client() {
    jsCtx_Destroy(js);
    natsConnection_Close(nc);
    natsConnection_Destroy(nc);
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Deletes `name` if it exists and creates it afresh on `subject`.
  void FreshStream(const char* name, const char* subject) const {
    jsErrCode code = static_cast<jsErrCode>(0);
    js_DeleteStream(js, name, nullptr, &code);
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = name;
    const char* subjects[] = {subject};
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    jsStreamInfo* info = nullptr;
    CheckNats(js_AddStream(&info, js, &cfg, nullptr, &code), fmt::format("create stream {}", name));
    jsStreamInfo_Destroy(info);
  }
  void DeleteStream(const char* name) const {
    jsErrCode code = static_cast<jsErrCode>(0);
    js_DeleteStream(js, name, nullptr, &code);
  }
  std::uint64_t Messages(const char* name) const {
    jsStreamInfo* info = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    CheckNats(js_GetStreamInfo(&info, js, name, nullptr, &code), "stream info");
    const std::uint64_t n = info->State.Msgs;
    jsStreamInfo_Destroy(info);
    return n;
  }
};

// The i-th TransactionCreated event, keyed by one of `keys` accounts.
herald::Event MakeEvent(std::size_t payload_bytes, long i, long keys) {
  herald::Event e = herald::bench::MakeEvent(payload_bytes, i);
  e.key = fmt::format("acct-{}", i % keys);
  return e;
}

struct RawCounts {
  std::atomic<long> acked{0};
  std::atomic<long> failed{0};
};

void OnRawAck(jsCtx*, natsMsg* msg, jsPubAck* ack, jsPubAckErr*, void* closure) {
  auto* counts = static_cast<RawCounts*>(closure);
  if (ack != nullptr) {
    counts->acked.fetch_add(1);
  } else {
    counts->failed.fetch_add(1);
  }
  natsMsg_Destroy(msg);
}

// The message Herald's publisher makes of `e`: the payload, the CloudEvents
// headers (Nats-Msg-Id is set by the publish options).
natsMsg* RawMessage(const herald::Event& e) {
  natsMsg* msg = nullptr;
  CheckNats(natsMsg_Create(&msg, kRawSubject, nullptr, e.payload.data(),
                           static_cast<int>(e.payload.size())),
            "message");
  const std::string id = e.id.ToString();
  const std::string time = herald::FormatRfc3339(e.created_at);
  natsMsgHeader_Set(msg, "ce-id", id.c_str());
  natsMsgHeader_Set(msg, "ce-type", e.type.c_str());
  natsMsgHeader_Set(msg, "ce-source", "herald");
  natsMsgHeader_Set(msg, "ce-time", time.c_str());
  natsMsgHeader_Set(msg, "ce-specversion", "1.0");
  natsMsgHeader_Set(msg, "ce-subject", e.key.c_str());
  natsMsgHeader_Set(msg, "content-type", e.content_type.c_str());
  return msg;
}

// cnats alone publishing the backlog's messages asynchronously, as many
// pending as Herald allows by default, with Nats-Msg-Id and the same
// headers; `ack_timeout_ms` > 0 sets a per-message ack timeout as Herald
// does. `wait_every` > 0 waits for every ack after each that many messages,
// as a relay must before it may acknowledge a batch.
double RawPublishRate(const Args& args, std::int64_t ack_timeout_ms, std::size_t wait_every) {
  RawCounts counts;
  jsOptions jso;
  jsOptions_Init(&jso);
  jso.PublishAsync.MaxPending = herald::publish::NatsConfig{}.max_pending;
  jso.PublishAsync.AckHandler = OnRawAck;
  jso.PublishAsync.AckHandlerClosure = &counts;
  Client client(args.url, &jso);
  client.FreshStream(kRawStream, kRawSubject);

  std::vector<herald::Event> events;
  events.reserve(static_cast<std::size_t>(args.backlog));
  for (long i = 0; i < args.backlog; ++i) events.push_back(MakeEvent(args.payload, i, args.keys));

  const auto start = SteadyClock::now();
  std::size_t published = 0;
  for (const herald::Event& e : events) {
    natsMsg* msg = RawMessage(e);
    const std::string id = e.id.ToString();
    jsPubOptions popts;
    jsPubOptions_Init(&popts);
    popts.MsgId = id.c_str();
    popts.MaxWait = ack_timeout_ms;
    natsStatus s;
    while ((s = js_PublishMsgAsync(client.js, &msg, &popts)) == NATS_TIMEOUT) {
    }
    CheckNats(s, "raw publish");
    if (wait_every > 0 && ++published % wait_every == 0) {
      CheckNats(js_PublishAsyncComplete(client.js, nullptr), "raw batch complete");
    }
  }
  CheckNats(js_PublishAsyncComplete(client.js, nullptr), "raw complete");
  const double secs = Seconds(SteadyClock::now() - start);
  Check(counts.acked.load() == args.backlog && counts.failed.load() == 0, "raw acked count");
  Check(client.Messages(kRawStream) == static_cast<std::uint64_t>(args.backlog),
        "raw stream count");
  client.DeleteStream(kRawStream);
  return static_cast<double>(args.backlog) / secs;
}

// The key of a raw message: N of "acct-N".
long RawKey(natsMsg* msg) {
  const char* key = nullptr;
  if (natsMsgHeader_Get(msg, "ce-subject", &key) != NATS_OK) return -1;
  return std::atol(key + std::strlen("acct-"));
}

// Acks of the one-per-key baseline: which keys may publish their next.
struct KeyTurns {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<long> free_keys;  // guarded by mu
  long acked = 0;               // guarded by mu
  long failed = 0;              // guarded by mu
};

void OnTurnAck(jsCtx*, natsMsg* msg, jsPubAck* ack, jsPubAckErr*, void* closure) {
  auto* turns = static_cast<KeyTurns*>(closure);
  const long key = RawKey(msg);
  natsMsg_Destroy(msg);
  std::lock_guard lock(turns->mu);
  (ack != nullptr ? turns->acked : turns->failed)++;
  turns->free_keys.push_back(key);
  turns->cv.notify_one();
}

// cnats alone under the relay's constraint for a publisher that does not
// keep key order: at most one message per key waiting for its ack, the
// next of a key published as soon as the previous one's ack is in. Every
// other key keeps flowing; this is the most the bus allows such a relay.
double RawOneKeyInFlightRate(const Args& args, std::int64_t ack_timeout_ms) {
  KeyTurns turns;
  jsOptions jso;
  jsOptions_Init(&jso);
  jso.PublishAsync.MaxPending = herald::publish::NatsConfig{}.max_pending;
  jso.PublishAsync.AckHandler = OnTurnAck;
  jso.PublishAsync.AckHandlerClosure = &turns;
  Client client(args.url, &jso);
  client.FreshStream(kRawStream, kRawSubject);

  std::vector<herald::Event> events;
  events.reserve(static_cast<std::size_t>(args.backlog));
  for (long i = 0; i < args.backlog; ++i) events.push_back(MakeEvent(args.payload, i, args.keys));
  std::vector<long> next(static_cast<std::size_t>(args.keys));  // key k's events: k, k+keys, ...
  for (long k = 0; k < args.keys; ++k) next[static_cast<std::size_t>(k)] = k;

  const auto start = SteadyClock::now();
  std::vector<long> go;
  for (long k = 0; k < args.keys; ++k) go.push_back(k);
  for (;;) {
    for (long k : go) {
      long& i = next[static_cast<std::size_t>(k)];
      if (k < 0 || i >= args.backlog) continue;
      const herald::Event& e = events[static_cast<std::size_t>(i)];
      i += args.keys;
      natsMsg* msg = RawMessage(e);
      const std::string id = e.id.ToString();
      jsPubOptions popts;
      jsPubOptions_Init(&popts);
      popts.MsgId = id.c_str();
      popts.MaxWait = ack_timeout_ms;
      natsStatus st;
      while ((st = js_PublishMsgAsync(client.js, &msg, &popts)) == NATS_TIMEOUT) {
      }
      CheckNats(st, "raw publish");
    }
    std::unique_lock lock(turns.mu);
    turns.cv.wait(lock, [&] {
      return !turns.free_keys.empty() || turns.acked + turns.failed == args.backlog;
    });
    if (turns.acked + turns.failed == args.backlog) break;
    go.swap(turns.free_keys);
    turns.free_keys.clear();
  }
  CheckNats(js_PublishAsyncComplete(client.js, nullptr), "raw complete");
  const double secs = Seconds(SteadyClock::now() - start);
  Check(turns.acked == args.backlog && turns.failed == 0, "raw acked count");
  Check(client.Messages(kRawStream) == static_cast<std::uint64_t>(args.backlog),
        "raw stream count");
  client.DeleteStream(kRawStream);
  return static_cast<double>(args.backlog) / secs;
}

herald::PublisherOptions NatsOptions() {
  herald::PublisherOptions options;
  options.properties["herald.subject.prefix"] = kPrefix;
  return options;
}

std::unique_ptr<herald::Store> OpenMigratedStore(const std::string& url) {
  auto store = herald::OpenStore(url, {.create_if_missing = true});
  Check(store.has_value(), fmt::format("open store {}: {}", url,
                                       store.has_value() ? "" : store.error().ToString()));
  Check((*store)->Migrate(), "migrate");
  auto stats = (*store)->Stats();
  Check(stats.has_value() && stats->pending == 0, "the store's outbox must start empty");
  return std::move(*store);
}

void FillBacklog(herald::Store& store, const Args& args) {
  std::vector<herald::Event> chunk;
  for (long i = 0; i < args.backlog; ++i) {
    chunk.push_back(MakeEvent(args.payload, i, args.keys));
    if (chunk.size() == 1000 || i + 1 == args.backlog) {
      Check(store.Enqueue(chunk), "enqueue backlog");
      chunk.clear();
    }
  }
}

double RelayRate(const Args& args, std::size_t window) {
  Client client(args.url, nullptr);
  client.FreshStream(kRelayStream, kRelaySubject);
  auto store = OpenMigratedStore(args.store);
  FillBacklog(*store, args);
  auto publisher = herald::OpenPublisher(args.url, NatsOptions());
  Check(publisher.has_value(), "open nats publisher");
  const double rate =
      herald::bench::DrainRate(*store, **publisher, args.batch, window, args.backlog);
  Check(client.Messages(kRelayStream) == static_cast<std::uint64_t>(args.backlog),
        "relay stream count");
  client.DeleteStream(kRelayStream);
  return rate;
}

struct Latency {
  double p50_ms = 0;
  double p99_ms = 0;
  double max_ms = 0;
  std::size_t events = 0;
};

// An application thread commits one event per transaction at `rate` per
// second while a relay runs; latency = JetStream ack - end of commit.
Latency SteadyRateLatency(const Args& args) {
  Client client(args.url, nullptr);
  client.FreshStream(kRelayStream, kRelaySubject);
  auto relay_store = OpenMigratedStore(args.store);
  auto app_store = herald::OpenStore(args.store);
  Check(app_store.has_value(), "open application store");
  auto nats = herald::OpenPublisher(args.url, NatsOptions());
  Check(nats.has_value(), "open nats publisher");
  TimingPublisher timing(**nats);
  herald::RelayOptions options;
  options.batch_size = args.batch;
  herald::Relay relay(*relay_store, timing, options);
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
  client.DeleteStream(kRelayStream);

  std::vector<double> ms;
  for (const auto& [id, acked_at] : timing.published()) {
    auto it = committed.find(id);
    if (it == committed.end()) continue;
    ms.push_back(std::chrono::duration<double, std::milli>(acked_at - it->second).count());
  }
  Check(ms.size() == committed.size(), "every committed event acknowledged");
  const herald::bench::Percentiles p = herald::bench::Summarize(ms);
  return Latency{p.p50, p.p99, p.max, ms.size()};
}

Args Parse(int argc, char** argv) {
  Args a;
  if (const char* env = std::getenv("HERALD_TEST_NATS_URL"); env != nullptr && *env != '\0') {
    a.url = env;
  } else {
    a.url = "nats://127.0.0.1:54222";
  }
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string_view f = argv[i];
    const char* v = argv[i + 1];
    if (f == "--url") a.url = v;
    else if (f == "--store") a.store = v;
    else if (f == "--backlog") a.backlog = std::atol(v);
    else if (f == "--batch") a.batch = static_cast<std::size_t>(std::atol(v));
    else if (f == "--payload") a.payload = static_cast<std::size_t>(std::atol(v));
    else if (f == "--keys") a.keys = std::atol(v);
    else if (f == "--rate") a.rate = std::atol(v);
    else if (f == "--seconds") a.seconds = std::atol(v);
    else Check(false, fmt::format("unknown option {}", f));
  }
  Check(argc % 2 == 1, "options take values");
  Check(a.backlog > 0 && a.batch > 0 && a.keys > 0 && a.rate > 0 && a.seconds > 0, "counts must be positive");
  return a;
}

void RemoveSqlite(const std::filesystem::path& path) {
  for (const char* suffix : {"", "-wal", "-shm", "-relay.lock"}) {
    std::error_code ignored;
    std::filesystem::remove(path.string() + suffix, ignored);
  }
}

}  // namespace

int main(int argc, char** argv) {
  Args args = Parse(argc, argv);
  std::filesystem::path sqlite_file;
  if (args.store.empty()) {
    sqlite_file = std::filesystem::temp_directory_path() /
                  fmt::format("herald-nats-bench-{}.db", getpid());
    RemoveSqlite(sqlite_file);
    args.store = "sqlite:" + sqlite_file.string();
  }
  std::string server = "unknown";
  {
    Client client(args.url, nullptr);
    std::array<char, 64> version{};
    if (natsConnection_GetConnectedServerId(client.nc, version.data(), version.size()) ==
        NATS_OK) {
      server = version.data();
    }
  }
  const herald::publish::NatsConfig defaults;
  std::printf("nats_bench: cnats %s, server %s (id %s), file storage; %s, %ld cores\n",
              nats_GetVersion(), args.url.c_str(), server.c_str(), CpuModel().c_str(),
              sysconf(_SC_NPROCESSORS_ONLN));
  std::printf("publisher: max pending %lld, ack timeout %lld ms, Nats-Msg-Id and ce-* headers\n",
              static_cast<long long>(defaults.max_pending),
              static_cast<long long>(defaults.ack_timeout.count()));
  std::printf("store %s; relay batch %zu; payload %zu B; one event per key in flight\n",
              args.store.c_str(), args.batch, args.payload);

  const long keys = args.keys;
  for (long k : {keys, keys * 16}) {
    args.keys = k;
    std::printf("\n%-56s %14s %14s %8s\n",
                fmt::format("backlog of {} events, {} keys", args.backlog, k).c_str(),
                "raw publish", "herald relay", "ratio");
    const double raw = RawPublishRate(args, 0, 0);
    const double raw_timeout = RawPublishRate(args, defaults.ack_timeout.count(), 0);
    const double raw_batched = RawPublishRate(args, defaults.ack_timeout.count(), args.batch);
    const double raw_per_key = RawOneKeyInFlightRate(args, defaults.ack_timeout.count());
    for (std::size_t window : {herald::RelayOptions{}.max_in_flight_events, args.batch}) {
      const bool windowed = window != args.batch;
      const double relay = RelayRate(args, window);
      std::printf("%-56s %10.0f ev/s %10.0f ev/s %8.2f\n",
                  windowed ? "  store -> JetStream (raw: cnats async, msg ids)"
                           : "  store -> JetStream, one batch at a time (same raw)",
                  raw, relay, relay / raw);
      std::printf("%-56s %10.0f ev/s %10.0f ev/s %8.2f\n",
                  "  ... raw with a per-message ack timeout, as Herald", raw_timeout, relay,
                  relay / raw_timeout);
      std::printf("%-56s %10.0f ev/s %10.0f ev/s %8.2f\n",
                  fmt::format("  ... raw waiting for every ack after each {}", args.batch).c_str(),
                  raw_batched, relay, relay / raw_batched);
      std::printf("%-56s %10.0f ev/s %10.0f ev/s %8.2f\n",
                  "  ... raw with one message per key waiting for its ack", raw_per_key, relay,
                  relay / raw_per_key);
      if (!sqlite_file.empty()) RemoveSqlite(sqlite_file);
    }
  }
  args.keys = keys;

  Latency lat = SteadyRateLatency(args);
  std::printf("\ncommit-to-acknowledged latency at %ld events/s, one event per commit, "
              "%ld keys, %zu events:\n  p50 %.2f ms   p99 %.2f ms   max %.2f ms\n",
              args.rate, args.keys, lat.events, lat.p50_ms, lat.p99_ms, lat.max_ms);
  if (!sqlite_file.empty()) RemoveSqlite(sqlite_file);
  return 0;
}
