// Herald's HTTP webhook figures against an HTTP server started inside this
// program (civetweb, HTTP/1.1 keep-alive, answering 200 to every POST),
// each next to baselines measured in the same run:
//   1. relay throughput SQLite -> HTTP for a backlog, next to libcurl alone
//      POSTing the same requests (the same ce-* headers, Idempotency-Key and
//      body) from memory to the same server with the same number of
//      requests in flight, --batch requests at a time,
//      and next to a raw SQL drain loop (select a batch in seq order, POST
//      every event of it concurrently with curl multi, delete the batch);
//   2. the same relay in batch mode (application/cloudevents-batch+json).
//
//   http_bench [--backlog N] [--batch N] [--payload BYTES] [--keys N]
//              [--in-flight N] [--threads N] [--sign 0|1] [--rounds N]
// Each figure is the best of --rounds (default 3) interleaved runs.
// The publisher does not keep key order across failures, so the relay has
// one event per key in flight: its rate grows with the number of distinct
// keys (--keys, default 256).
#include <civetweb.h>
#include <curl/curl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bench_support.h"
#include "herald/event.h"
#include "herald/publisher.h"
#include "herald/relay.h"
#include "herald/store.h"
#include "publish/common/cloud_events.h"
#include "publish/http/http_config.h"
#include "publish/http/http_message.h"
#include "publish/http/http_publisher.h"

namespace {

using herald::bench::Check;
using herald::bench::CpuModel;
using herald::bench::Seconds;
using SteadyClock = std::chrono::steady_clock;

struct Args {
  long backlog = 50000;
  std::size_t batch = 500;
  std::size_t payload = 200;
  long keys = 256;
  long in_flight = 64;
  int threads = 0;  // 0: --in-flight + 8 (civetweb holds a thread per keep-alive connection)
  bool sign = true;
  int rounds = 3;
};

constexpr const char* kSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

// The bench's endpoint: reads each body whole, answers 200 with no body.
class Server {
 public:
  explicit Server(int threads) {
    const std::string n = std::to_string(threads);
    const char* options[] = {"listening_ports", "127.0.0.1:0", "num_threads", n.c_str(),
                             "enable_keep_alive", "yes", "keep_alive_timeout_ms", "30000",
                             "request_timeout_ms", "10000", nullptr};
    mg_callbacks callbacks{};
    callbacks.log_message = [](const mg_connection*, const char*) { return 1; };
    ctx_ = mg_start(&callbacks, this, options);
    Check(ctx_ != nullptr, "start civetweb");
    mg_set_request_handler(ctx_, "/", &Server::Handle, this);
    std::array<mg_server_port, 2> ports{};
    Check(mg_get_server_ports(ctx_, 2, ports.data()) > 0, "civetweb port");
    port_ = ports[0].port;
  }
  ~Server() { mg_stop(ctx_); }
  int port() const { return port_; }
  std::uint64_t requests() const { return requests_.load(); }
  std::uint64_t bytes() const { return bytes_.load(); }

 private:
  static int Handle(mg_connection* conn, void* self) {
    auto* s = static_cast<Server*>(self);
    char buffer[16384];
    long long total = 0;
    int n = 0;
    while ((n = mg_read(conn, buffer, sizeof(buffer))) > 0) total += n;
    s->requests_.fetch_add(1, std::memory_order_relaxed);
    s->bytes_.fetch_add(static_cast<std::uint64_t>(total), std::memory_order_relaxed);
    mg_printf(conn, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n");
    return 200;
  }
  mg_context* ctx_ = nullptr;
  int port_ = 0;
  std::atomic<std::uint64_t> requests_{0};
  std::atomic<std::uint64_t> bytes_{0};
};

herald::Event MakeEvent(std::size_t payload_bytes, long i, long keys) {
  herald::Event e = herald::bench::MakeEvent(payload_bytes, i);
  e.key = fmt::format("acct-{}", i % keys);
  e.topic = "transactions";
  return e;
}

// libcurl alone: `events` as single-mode requests (the publisher's headers)
// over one multi handle with at most `window` in flight. Returns events/s.
class RawPoster {
 public:
  RawPoster(std::string url_template, long window)
      : url_template_(std::move(url_template)), window_(window), multi_(curl_multi_init()) {
    curl_multi_setopt(multi_, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, window);
  }
  ~RawPoster() {
    for (CURL* e : free_) curl_easy_cleanup(e);
    curl_multi_cleanup(multi_);
  }

  // Posts every event of `events` and waits for all; checks each got 200.
  void PostAll(std::span<const herald::Event> events) {
    std::size_t next = 0;
    std::size_t done = 0;
    std::vector<Slot> slots(static_cast<std::size_t>(window_));
    std::vector<Slot*> idle;
    for (Slot& s : slots) idle.push_back(&s);
    while (done < events.size()) {
      while (next < events.size() && !idle.empty()) {
        Slot* s = idle.back();
        idle.pop_back();
        Start(*s, events[next++]);
      }
      int running = 0;
      curl_multi_perform(multi_, &running);
      int left = 0;
      while (CURLMsg* m = curl_multi_info_read(multi_, &left)) {
        if (m->msg != CURLMSG_DONE) continue;
        Slot* s = nullptr;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &s);
        long status = 0;
        curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
        Check(m->data.result == CURLE_OK && status == 200, "raw POST");
        curl_multi_remove_handle(multi_, m->easy_handle);
        free_.push_back(s->easy);
        curl_slist_free_all(s->headers);
        s->headers = nullptr;
        idle.push_back(s);
        ++done;
      }
      if (done < events.size()) curl_multi_poll(multi_, nullptr, 0, 100, nullptr);
    }
  }

 private:
  struct Slot {
    CURL* easy = nullptr;
    curl_slist* headers = nullptr;
    std::string url;
  };

  void Start(Slot& s, const herald::Event& e) {
    if (!free_.empty()) {
      s.easy = free_.back();
      free_.pop_back();
      curl_easy_reset(s.easy);
    } else {
      s.easy = curl_easy_init();
    }
    s.url = herald::publish::ExpandUrl(url_template_, e.topic, e.key);
    for (const auto& [name, value] : herald::publish::SingleRequestHeaders(
             e, {.source = "herald", .subject_from_key = true})) {
      s.headers = curl_slist_append(s.headers, fmt::format("{}: {}", name, value).c_str());
    }
    s.headers = curl_slist_append(s.headers, "Expect:");
    curl_easy_setopt(s.easy, CURLOPT_URL, s.url.c_str());
    curl_easy_setopt(s.easy, CURLOPT_POST, 1L);
    curl_easy_setopt(s.easy, CURLOPT_POSTFIELDS, e.payload.data());
    curl_easy_setopt(s.easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(e.payload.size()));
    curl_easy_setopt(s.easy, CURLOPT_HTTPHEADER, s.headers);
    curl_easy_setopt(s.easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(s.easy, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
    curl_easy_setopt(s.easy, CURLOPT_WRITEFUNCTION,
                     +[](char*, std::size_t size, std::size_t n, void*) { return size * n; });
    curl_easy_setopt(s.easy, CURLOPT_PRIVATE, &s);
    curl_multi_add_handle(multi_, s.easy);
  }

  std::string url_template_;
  long window_;
  CURLM* multi_;
  std::vector<CURL*> free_;
};

double RawPostRate(const Args& args, const std::string& url) {
  std::vector<herald::Event> events;
  events.reserve(static_cast<std::size_t>(args.backlog));
  for (long i = 0; i < args.backlog; ++i) events.push_back(MakeEvent(args.payload, i, args.keys));
  RawPoster poster(url, args.in_flight);
  const auto start = SteadyClock::now();
  // --batch at a time: one long PostAll keeping --in-flight requests busy
  // all the time measured 3 to 10 times slower here (cause not found), so
  // the baseline takes the faster way.
  for (std::size_t i = 0; i < events.size(); i += args.batch) {
    poster.PostAll(std::span<const herald::Event>(events).subspan(
        i, std::min(args.batch, events.size() - i)));
  }
  return static_cast<double>(args.backlog) / Seconds(SteadyClock::now() - start);
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

// The raw loop: select a batch in seq order, POST every event of it at once
// (at most --in-flight), delete the batch by seq; repeat until empty.
double RawDrainRate(const Args& args, const std::filesystem::path& path, const std::string& url) {
  {
    auto store = OpenMigratedStore("sqlite:" + path.string());
    FillBacklog(*store, args);
  }
  sqlite3* db = nullptr;
  Check(sqlite3_open(path.c_str(), &db) == SQLITE_OK, "open sqlite");
  sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL", nullptr, nullptr, nullptr);
  sqlite3_stmt* select = nullptr;
  sqlite3_stmt* remove = nullptr;
  Check(sqlite3_prepare_v2(db,
                           "SELECT seq, event_id, topic, key, type, payload, content_type, "
                           "created_at FROM herald_outbox ORDER BY seq LIMIT ?",
                           -1, &select, nullptr) == SQLITE_OK,
        "prepare select");
  Check(sqlite3_prepare_v2(db, "DELETE FROM herald_outbox WHERE seq IN (SELECT value FROM json_each(?))",
                           -1, &remove, nullptr) == SQLITE_OK,
        "prepare delete");
  RawPoster poster(url, args.in_flight);
  long drained = 0;
  const auto start = SteadyClock::now();
  for (;;) {
    sqlite3_bind_int64(select, 1, static_cast<sqlite3_int64>(args.batch));
    std::vector<herald::Event> events;
    std::string seqs = "[";
    auto text = [&](int c) {
      return std::string(reinterpret_cast<const char*>(sqlite3_column_text(select, c)),
                         static_cast<std::size_t>(sqlite3_column_bytes(select, c)));
    };
    while (sqlite3_step(select) == SQLITE_ROW) {
      if (!events.empty()) seqs += ',';
      seqs += std::to_string(sqlite3_column_int64(select, 0));
      herald::Event e;
      e.id = herald::EventId::Parse(text(1)).value_or(herald::EventId());
      e.topic = text(2);
      e.key = text(3);
      e.type = text(4);
      e.payload = text(5);
      e.content_type = text(6);
      e.created_at = herald::FromUnixMillis(sqlite3_column_int64(select, 7));
      events.push_back(std::move(e));
    }
    sqlite3_reset(select);
    if (events.empty()) break;
    seqs += ']';
    poster.PostAll(events);
    sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
    sqlite3_bind_text(remove, 1, seqs.c_str(), -1, SQLITE_TRANSIENT);
    Check(sqlite3_step(remove) == SQLITE_DONE, "delete");
    sqlite3_reset(remove);
    Check(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK, "commit");
    drained += static_cast<long>(events.size());
  }
  const double secs = Seconds(SteadyClock::now() - start);
  sqlite3_finalize(select);
  sqlite3_finalize(remove);
  sqlite3_close(db);
  Check(drained == args.backlog, "raw drain count");
  return static_cast<double>(drained) / secs;
}

double RelayRate(const Args& args, const std::filesystem::path& path, const std::string& url,
                 bool batch, const std::filesystem::path& secret_file) {
  auto store = OpenMigratedStore("sqlite:" + path.string());
  FillBacklog(*store, args);
  herald::PublisherOptions options;
  options.properties["herald.max_in_flight"] = std::to_string(args.in_flight);
  if (batch) options.properties["herald.batch"] = "true";
  if (args.sign) options.properties["herald.signing_secret_file"] = secret_file.string();
  auto publisher = herald::publish::HttpPublisher::Open(url, options);
  Check(publisher.has_value(), "open http publisher");
  return herald::bench::DrainRate(*store, **publisher, args.batch,
                                  herald::RelayOptions{}.max_in_flight_events, args.backlog);
}

Args Parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string_view f = argv[i];
    const char* v = argv[i + 1];
    if (f == "--backlog") a.backlog = std::atol(v);
    else if (f == "--batch") a.batch = static_cast<std::size_t>(std::atol(v));
    else if (f == "--payload") a.payload = static_cast<std::size_t>(std::atol(v));
    else if (f == "--keys") a.keys = std::atol(v);
    else if (f == "--in-flight") a.in_flight = std::atol(v);
    else if (f == "--threads") a.threads = std::atoi(v);
    else if (f == "--sign") a.sign = std::atoi(v) != 0;
    else if (f == "--rounds") a.rounds = std::max(1, std::atoi(v));
    else Check(false, fmt::format("unknown option {}", f));
  }
  Check(argc % 2 == 1, "options take values");
  Check(a.backlog > 0 && a.batch > 0 && a.keys > 0 && a.in_flight > 0 && a.threads >= 0,
        "counts must be positive");
  if (a.threads == 0) a.threads = static_cast<int>(a.in_flight) + 8;
  return a;
}

std::string LoadAverage() {
  double load[3] = {0, 0, 0};
  if (getloadavg(load, 3) != 3) return "unknown";
  return fmt::format("{:.2f} {:.2f} {:.2f}", load[0], load[1], load[2]);
}

void RemoveSqlite(const std::filesystem::path& path) {
  for (const char* suffix : {"", "-wal", "-shm", "-relay.lock"}) {
    std::error_code ignored;
    std::filesystem::remove(path.string() + suffix, ignored);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const Args args = Parse(argc, argv);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  mg_init_library(0);
  const std::filesystem::path db = std::filesystem::temp_directory_path() /
                                   fmt::format("herald-http-bench-{}.db", getpid());
  const std::filesystem::path secret = std::filesystem::temp_directory_path() /
                                       fmt::format("herald-http-bench-{}.secret", getpid());
  {
    FILE* f = std::fopen(secret.c_str(), "w");
    Check(f != nullptr, "write secret");
    std::fputs(kSecret, f);
    std::fclose(f);
  }
  RemoveSqlite(db);
  Server server(args.threads);
  const std::string url = fmt::format("http://127.0.0.1:{}/hooks/{{topic}}?key={{key}}", server.port());

  std::printf("http_bench: %s, civetweb %s in process (%d threads, HTTP/1.1 keep-alive, 200 to "
              "every POST); %s, %ld cores\n",
              curl_version(), mg_version(), args.threads, CpuModel().c_str(),
              sysconf(_SC_NPROCESSORS_ONLN));
  std::printf("store sqlite (synchronous=FULL); relay batch %zu; payload %zu B; %ld keys, one "
              "event per key in flight; %ld requests in flight; %s; best of %d runs; load "
              "average at start %s\n",
              args.batch, args.payload, args.keys, args.in_flight,
              args.sign ? "signed (Standard Webhooks)" : "unsigned", args.rounds,
              LoadAverage().c_str());

  std::printf("\n%-58s %14s %14s %8s\n",
              fmt::format("backlog of {} events", args.backlog).c_str(), "raw", "herald relay",
              "ratio");
  {
    Args warm = args;  // connections and the server's threads up first
    warm.backlog = std::min<long>(args.backlog, 2000);
    RawPostRate(warm, url);
  }
  // The machine may be shared: each figure is the best of --rounds runs,
  // the runs of the four interleaved.
  double raw_post = 0, raw_drain = 0, relay = 0, relay_batch = 0;
  for (int round = 0; round < args.rounds; ++round) {
    raw_post = std::max(raw_post, RawPostRate(args, url));
    raw_drain = std::max(raw_drain, RawDrainRate(args, db, url));
    RemoveSqlite(db);
    relay = std::max(relay, RelayRate(args, db, url, /*batch=*/false, secret));
    RemoveSqlite(db);
    relay_batch = std::max(relay_batch, RelayRate(args, db, url, /*batch=*/true, secret));
    RemoveSqlite(db);
  }
  std::printf("%-58s %10.0f ev/s %10.0f ev/s %8.2f\n",
              "  SQLite -> HTTP (raw: curl multi POSTs from memory)", raw_post, relay,
              relay / raw_post);
  std::printf("%-58s %10.0f ev/s %10.0f ev/s %8.2f\n",
              "  SQLite -> HTTP (raw: SQL drain loop + curl multi)", raw_drain, relay,
              relay / raw_drain);
  std::printf("%-58s %10.0f ev/s %10.0f ev/s %8.2f\n",
              "  ... batch mode (raw: SQL drain loop + curl multi)", raw_drain, relay_batch,
              relay_batch / raw_drain);
  std::printf("  server saw %llu requests\n", static_cast<unsigned long long>(server.requests()));
  std::error_code ignored;
  std::filesystem::remove(secret, ignored);
  return 0;
}
