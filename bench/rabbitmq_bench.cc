// Herald's RabbitMQ figures against a rabbitmq-server, each next to a
// baseline measured in the same run:
//   1. relay throughput store -> RabbitMQ for a backlog, next to rabbitmq-c
//      alone publishing the same messages (persistent, mandatory, the same
//      properties and CloudEvents headers) to the same node with the same
//      window of publisher confirms;
//   2. commit-to-confirmed latency (p50/p99) at a steady commit rate: from
//      the end of the application's commit to the broker's basic.ack.
//
//   rabbitmq_bench [--url amqp://...] [--store URL] [--backlog N] [--batch N]
//                  [--payload BYTES] [--keys N] [--rate EVENTS_PER_S] [--seconds S]
// The publisher does not keep key order across failures, so the relay has
// one event per key in flight: its rate grows with the number of distinct
// keys (--keys, default 64; the throughput table is printed for that many
// keys and for 16 times as many).
// --url defaults to $HERALD_TEST_RABBITMQ_URL, else
// amqp://guest:guest@127.0.0.1:55672/ (scripts/rabbitmq.sh start). The
// bench (re)creates the durable queues herald_bench_raw and herald_bench
// (on the default exchange) and deletes them at the end. --store is any
// herald::OpenStore URL (default: a fresh SQLite file); its outbox must
// start empty.
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
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
#include "core/secrets.h"
#include "herald/event.h"
#include "herald/publisher.h"
#include "herald/relay.h"
#include "herald/store.h"
#include "publish/rabbitmq/rabbitmq_config.h"
#include "publish/rabbitmq/rabbitmq_publisher.h"

namespace {

using herald::bench::Check;
using herald::bench::CpuModel;
using herald::bench::kKeys;
using herald::bench::Seconds;
using herald::bench::TimingPublisher;

using SteadyClock = std::chrono::steady_clock;

constexpr const char* kRawQueue = "herald_bench_raw";
constexpr const char* kRelayQueue = "herald_bench";

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

std::string Text(amqp_bytes_t b) {
  return std::string(static_cast<const char*>(b.bytes), b.len);
}

// A plain rabbitmq-c connection for the queues and the raw baseline.
struct Client {
  amqp_connection_state_t conn = nullptr;
  std::string server_version = "unknown";

  explicit Client(const std::string& url) {
    std::string copy = url;
    amqp_connection_info info{};
    Check(amqp_parse_url(copy.data(), &info) == AMQP_STATUS_OK, "parse URL " + url);
    conn = amqp_new_connection();
    amqp_socket_t* socket = amqp_tcp_socket_new(conn);
    Check(socket != nullptr && amqp_socket_open(socket, info.host, info.port) == AMQP_STATUS_OK,
          "connect " + url);
    const char* vhost = *info.vhost == '\0' ? "/" : info.vhost;
    Check(amqp_login(conn, vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, info.user,
                     info.password)
                  .reply_type == AMQP_RESPONSE_NORMAL,
          "login");
    amqp_channel_open(conn, 1);
    Reply("channel.open");
    const amqp_table_t* props = amqp_get_server_properties(conn);
    for (int i = 0; i < props->num_entries; ++i) {
      if (Text(props->entries[i].key) == "version" &&
          props->entries[i].value.kind == AMQP_FIELD_KIND_UTF8) {
        server_version = Text(props->entries[i].value.value.bytes);
      }
    }
  }
  ~Client() {
    amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  void Reply(std::string_view what) const {
    Check(amqp_get_rpc_reply(conn).reply_type == AMQP_RESPONSE_NORMAL, what);
  }
  void FreshQueue(const char* name) const {
    amqp_queue_delete(conn, 1, amqp_cstring_bytes(name), 0, 0);
    Reply("queue.delete");
    amqp_queue_declare(conn, 1, amqp_cstring_bytes(name), 0, 1, 0, 0, amqp_empty_table);
    Reply("queue.declare");
  }
  void DeleteQueue(const char* name) const {
    amqp_queue_delete(conn, 1, amqp_cstring_bytes(name), 0, 0);
    Reply("queue.delete");
  }
  std::uint64_t Messages(const char* name) const {
    auto* ok = amqp_queue_declare(conn, 1, amqp_cstring_bytes(name), 1, 0, 0, 0, amqp_empty_table);
    Reply("queue.declare passive");
    return ok->message_count;
  }
};

// The i-th TransactionCreated event, keyed by one of `keys` accounts, to
// `queue` through the default exchange.
herald::Event MakeEvent(std::size_t payload_bytes, long i, long keys, const char* queue) {
  herald::Event e = herald::bench::MakeEvent(payload_bytes, i);
  e.key = fmt::format("acct-{}", i % keys);
  e.topic = queue;
  return e;
}

// rabbitmq-c alone: persistent mandatory messages with the same properties
// and headers as Herald's, at most `window` waiting for their confirms;
// `wait_every` > 0 waits for every confirm after each that many messages,
// as a relay with one batch on the bus at a time must.
double RawPublishRate(const Args& args, long window, std::size_t wait_every) {
  Client client(args.url);
  client.FreshQueue(kRawQueue);
  amqp_confirm_select(client.conn, 1);
  client.Reply("confirm.select");

  std::vector<herald::Event> events;
  events.reserve(static_cast<std::size_t>(args.backlog));
  for (long i = 0; i < args.backlog; ++i) {
    events.push_back(MakeEvent(args.payload, i, args.keys, kRawQueue));
  }
  std::uint64_t sent = 0;
  std::uint64_t confirmed = 0;
  auto read_confirm = [&] {
    amqp_frame_t frame;
    Check(amqp_simple_wait_frame(client.conn, &frame) == AMQP_STATUS_OK, "raw confirm");
    if (frame.frame_type == AMQP_FRAME_METHOD &&
        frame.payload.method.id == AMQP_BASIC_ACK_METHOD) {
      const auto* ack = static_cast<const amqp_basic_ack_t*>(frame.payload.method.decoded);
      confirmed = ack->delivery_tag;  // in order on one channel; multiple or not
    } else {
      Check(false, "raw: a frame other than basic.ack");
    }
    amqp_maybe_release_buffers(client.conn);
  };

  const auto start = SteadyClock::now();
  for (const herald::Event& e : events) {
    while (static_cast<long>(sent - confirmed) >= window) read_confirm();
    const std::string id = e.id.ToString();
    const std::string time = herald::FormatRfc3339(e.created_at);
    amqp_table_entry_t entries[6];
    const std::pair<const char*, std::string_view> headers[6] = {
        {"cloudEvents:id", id},          {"cloudEvents:type", e.type},
        {"cloudEvents:source", "herald"}, {"cloudEvents:time", time},
        {"cloudEvents:specversion", "1.0"}, {"cloudEvents:subject", e.key}};
    for (int h = 0; h < 6; ++h) {
      entries[h].key = amqp_cstring_bytes(headers[h].first);
      entries[h].value.kind = AMQP_FIELD_KIND_UTF8;
      entries[h].value.value.bytes = {headers[h].second.size(),
                                      const_cast<char*>(headers[h].second.data())};
    }
    amqp_basic_properties_t props{};
    props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG |
                   AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_TYPE_FLAG |
                   AMQP_BASIC_TIMESTAMP_FLAG | AMQP_BASIC_HEADERS_FLAG | AMQP_BASIC_APP_ID_FLAG;
    props.content_type = amqp_cstring_bytes(e.content_type.c_str());
    props.delivery_mode = AMQP_DELIVERY_PERSISTENT;
    props.message_id = amqp_cstring_bytes(id.c_str());
    props.type = amqp_cstring_bytes(e.type.c_str());
    props.timestamp = 0;
    props.app_id = amqp_cstring_bytes("herald");
    props.headers = {6, entries};
    Check(amqp_basic_publish(client.conn, 1, amqp_empty_bytes, amqp_cstring_bytes(kRawQueue), 1,
                             0, &props,
                             {e.payload.size(), const_cast<char*>(e.payload.data())}) ==
              AMQP_STATUS_OK,
          "raw publish");
    ++sent;
    if (wait_every > 0 && sent % wait_every == 0) {
      while (confirmed < sent) read_confirm();
    }
  }
  while (confirmed < sent) read_confirm();
  const double secs = Seconds(SteadyClock::now() - start);
  Check(client.Messages(kRawQueue) == static_cast<std::uint64_t>(args.backlog), "raw queue count");
  client.DeleteQueue(kRawQueue);
  return static_cast<double>(args.backlog) / secs;
}

std::unique_ptr<herald::publish::RabbitMqPublisher> OpenRabbit(const Args& args) {
  auto publisher = herald::publish::RabbitMqPublisher::Open(args.url, {});
  Check(publisher.has_value(), "open amqp publisher");
  return std::move(*publisher);
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
    chunk.push_back(MakeEvent(args.payload, i, args.keys, kRelayQueue));
    if (chunk.size() == 1000 || i + 1 == args.backlog) {
      Check(store.Enqueue(chunk), "enqueue backlog");
      chunk.clear();
    }
  }
}

double RelayRate(const Args& args, std::size_t window) {
  Client client(args.url);
  client.FreshQueue(kRelayQueue);
  auto store = OpenMigratedStore(args.store);
  FillBacklog(*store, args);
  auto publisher = OpenRabbit(args);
  const double rate =
      herald::bench::DrainRate(*store, *publisher, args.batch, window, args.backlog);
  Check(client.Messages(kRelayQueue) == static_cast<std::uint64_t>(args.backlog),
        "relay queue count");
  client.DeleteQueue(kRelayQueue);
  return rate;
}

struct Latency {
  double p50_ms = 0;
  double p99_ms = 0;
  double max_ms = 0;
  std::size_t events = 0;
};

// An application thread commits one event per transaction at `rate` per
// second while a relay runs; latency = basic.ack - end of commit.
Latency SteadyRateLatency(const Args& args) {
  Client client(args.url);
  client.FreshQueue(kRelayQueue);
  auto relay_store = OpenMigratedStore(args.store);
  auto app_store = herald::OpenStore(args.store);
  Check(app_store.has_value(), "open application store");
  auto rabbit = OpenRabbit(args);
  TimingPublisher timing(*rabbit);
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
    herald::Event e = MakeEvent(args.payload, i, args.keys, kRelayQueue);
    Check((*app_store)->Enqueue(std::span<const herald::Event>(&e, 1)), "enqueue");
    committed.emplace(e.id, SteadyClock::now());
  }
  const auto deadline = SteadyClock::now() + std::chrono::seconds(30);
  while (timing.count() < committed.size() && SteadyClock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  relay.Stop();
  relay_thread.join();
  client.DeleteQueue(kRelayQueue);

  std::vector<double> ms;
  for (const auto& [id, acked_at] : timing.published()) {
    auto it = committed.find(id);
    if (it == committed.end()) continue;
    ms.push_back(std::chrono::duration<double, std::milli>(acked_at - it->second).count());
  }
  Check(ms.size() == committed.size(), "every committed event confirmed");
  const herald::bench::Percentiles p = herald::bench::Summarize(ms);
  return Latency{p.p50, p.p99, p.max, ms.size()};
}

Args Parse(int argc, char** argv) {
  Args a;
  if (const char* env = std::getenv("HERALD_TEST_RABBITMQ_URL"); env != nullptr && *env != '\0') {
    a.url = env;
  } else {
    a.url = "amqp://guest:guest@127.0.0.1:55672/";
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
  Check(a.backlog > 0 && a.batch > 0 && a.keys > 0 && a.rate > 0 && a.seconds > 0,
        "counts must be positive");
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
                  fmt::format("herald-rabbitmq-bench-{}.db", getpid());
    RemoveSqlite(sqlite_file);
    args.store = "sqlite:" + sqlite_file.string();
  }
  std::string server;
  {
    Client client(args.url);
    server = client.server_version;
  }
  const herald::publish::RabbitMqConfig defaults;
  std::printf("rabbitmq_bench: rabbitmq-c %s, RabbitMQ %s at %s, durable classic queues; %s, "
              "%ld cores\n",
              amqp_version(), server.c_str(), herald::MaskSecrets(args.url).c_str(),
              CpuModel().c_str(), sysconf(_SC_NPROCESSORS_ONLN));
  std::printf("publisher: confirm window %lld, confirm timeout %lld ms, persistent, mandatory, "
              "cloudEvents:* headers\n",
              static_cast<long long>(defaults.confirm_window),
              static_cast<long long>(defaults.confirm_timeout.count()));
  std::printf("store %s; relay batch %zu; payload %zu B; one event per key in flight\n",
              args.store.c_str(), args.batch, args.payload);

  const long keys = args.keys;
  for (long k : {keys, keys * 16}) {
    args.keys = k;
    std::printf("\n%-58s %14s %14s %8s\n",
                fmt::format("backlog of {} events, {} keys", args.backlog, k).c_str(),
                "raw publish", "herald relay", "ratio");
    const double raw = RawPublishRate(args, defaults.confirm_window, 0);
    const double raw_batched = RawPublishRate(args, defaults.confirm_window, args.batch);
    for (std::size_t window : {herald::RelayOptions{}.max_in_flight_events, args.batch}) {
      const bool windowed = window != args.batch;
      const double relay = RelayRate(args, window);
      std::printf("%-58s %10.0f ev/s %10.0f ev/s %8.2f\n",
                  windowed ? "  store -> RabbitMQ (raw: rabbitmq-c, confirm window)"
                           : "  store -> RabbitMQ, one batch at a time (same raw)",
                  raw, relay, relay / raw);
      std::printf("%-58s %10.0f ev/s %10.0f ev/s %8.2f\n",
                  fmt::format("  ... raw waiting for every confirm after each {}", args.batch)
                      .c_str(),
                  raw_batched, relay, relay / raw_batched);
      if (!sqlite_file.empty()) RemoveSqlite(sqlite_file);
    }
  }
  args.keys = keys;

  Latency lat = SteadyRateLatency(args);
  std::printf("\ncommit-to-confirmed latency at %ld events/s, one event per commit, "
              "%ld keys, %zu events:\n  p50 %.2f ms   p99 %.2f ms   max %.2f ms\n",
              args.rate, args.keys, lat.events, lat.p50_ms, lat.p99_ms, lat.max_ms);
  if (!sqlite_file.empty()) RemoveSqlite(sqlite_file);
  return 0;
}
