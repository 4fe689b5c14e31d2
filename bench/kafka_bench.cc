// Herald's Kafka figures on librdkafka's in-process mock cluster, each next
// to a baseline measured in the same run:
//   1. relay throughput store -> Kafka for a backlog, next to librdkafka's
//      raw produce rate of the same messages to the same cluster;
//   2. commit-to-acknowledged latency (p50/p99) at a steady commit rate:
//      from the end of the application's commit to the Kafka delivery report.
//
//   kafka_bench [--store URL] [--backlog N] [--batch N] [--payload BYTES]
//               [--rate EVENTS_PER_S] [--seconds S]
// --store is any herald::OpenStore URL (default: a fresh SQLite file); the
// bench migrates it and expects its outbox to be empty.
#include <unistd.h>

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench_support.h"
#include "herald/event.h"
#include "herald/publisher.h"
#include "herald/relay.h"
#include "herald/store.h"
#include "publish/kafka/kafka_config.h"
#include "publish/kafka/kafka_publisher.h"
#include "publish/kafka/mock_cluster.h"

namespace {

using herald::bench::Check;
using herald::bench::CpuModel;
using herald::bench::kKeys;
using herald::bench::MakeEvent;
using herald::bench::Payload;
using herald::bench::Seconds;
using herald::bench::TimingPublisher;

using SteadyClock = std::chrono::steady_clock;
using herald::publish::testing::MockCluster;

constexpr int kBrokers = 3;
constexpr int kPartitions = 8;

struct Args {
  std::string store;
  long backlog = 100000;
  std::size_t batch = 500;
  std::size_t payload = 200;
  long rate = 1000;
  long seconds = 10;
};

// The publisher properties of every run: Herald's defaults (idempotent,
// acks=all, linger 5 ms) and nothing else.
herald::PublisherOptions KafkaOptions() { return {}; }

std::unique_ptr<herald::Store> OpenMigratedStore(const std::string& url) {
  auto store = herald::OpenStore(url, {.create_if_missing = true});
  Check(store.has_value(), fmt::format("open store {}: {}", url,
                                       store.has_value() ? "" : store.error().ToString()));
  Check((*store)->Migrate(), "migrate");
  auto stats = (*store)->Stats();
  Check(stats.has_value() && stats->pending == 0, "the store's outbox must start empty");
  return std::move(*store);
}

// librdkafka alone: the same messages (key, value, the same CloudEvents
// headers) produced with the same properties, then flushed.
// librdkafka alone producing the backlog's messages: all at once with one
// flush at the end (`wait_every` 0), or waiting for every delivery report
// after each `wait_every` messages, as the relay does after each batch.
double RawProduceRate(const MockCluster& cluster, const Args& args, std::size_t wait_every) {
  auto config = herald::publish::ParseKafkaConfig(cluster.url(), KafkaOptions());
  Check(config.has_value(), "kafka config");
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  std::array<char, 512> err{};
  for (const auto& [name, value] : config->rdkafka) {
    Check(rd_kafka_conf_set(conf, name.c_str(), value.c_str(), err.data(), err.size()) ==
              RD_KAFKA_CONF_OK,
          err.data());
  }
  std::atomic<long> delivered{0};
  rd_kafka_conf_set_opaque(conf, &delivered);
  rd_kafka_conf_set_dr_msg_cb(conf, [](rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) static_cast<std::atomic<long>*>(opaque)->fetch_add(1);
  });
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err.data(), err.size());
  Check(rk != nullptr, err.data());

  std::vector<herald::Event> events;
  events.reserve(static_cast<std::size_t>(args.backlog));
  for (long i = 0; i < args.backlog; ++i) events.push_back(MakeEvent(args.payload, i));

  std::size_t produced = 0;
  auto start = SteadyClock::now();
  for (const herald::Event& e : events) {
    rd_kafka_headers_t* h = rd_kafka_headers_new(6);
    const std::string id = e.id.ToString();
    const std::string time = herald::FormatRfc3339(e.created_at);
    rd_kafka_header_add(h, "ce_id", -1, id.data(), static_cast<ssize_t>(id.size()));
    rd_kafka_header_add(h, "ce_type", -1, e.type.data(), static_cast<ssize_t>(e.type.size()));
    rd_kafka_header_add(h, "ce_source", -1, "herald", -1);
    rd_kafka_header_add(h, "ce_time", -1, time.data(), static_cast<ssize_t>(time.size()));
    rd_kafka_header_add(h, "ce_specversion", -1, "1.0", -1);
    rd_kafka_header_add(h, "content-type", -1, e.content_type.data(),
                        static_cast<ssize_t>(e.content_type.size()));
    while (true) {
      rd_kafka_resp_err_t rc = rd_kafka_producev(
          rk, RD_KAFKA_V_TOPIC("raw"), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_KEY(e.key.data(), e.key.size()),
          RD_KAFKA_V_VALUE(const_cast<char*>(e.payload.data()), e.payload.size()),
          RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
      if (rc == RD_KAFKA_RESP_ERR_NO_ERROR) break;
      Check(rc == RD_KAFKA_RESP_ERR__QUEUE_FULL, rd_kafka_err2str(rc));
      rd_kafka_poll(rk, 5);
    }
    rd_kafka_poll(rk, 0);
    if (wait_every > 0 && ++produced % wait_every == 0) {
      Check(rd_kafka_flush(rk, 60000) == RD_KAFKA_RESP_ERR_NO_ERROR, "raw batch flush");
    }
  }
  Check(rd_kafka_flush(rk, 60000) == RD_KAFKA_RESP_ERR_NO_ERROR, "raw flush");
  double secs = Seconds(SteadyClock::now() - start);
  Check(delivered.load() == args.backlog, "raw delivered count");
  rd_kafka_destroy(rk);
  return static_cast<double>(args.backlog) / secs;
}

void FillBacklog(herald::Store& store, const Args& args) {
  std::vector<herald::Event> chunk;
  for (long i = 0; i < args.backlog; ++i) {
    chunk.push_back(MakeEvent(args.payload, i));
    if (chunk.size() == 1000 || i + 1 == args.backlog) {
      Check(store.Enqueue(chunk), "enqueue backlog");
      chunk.clear();
    }
  }
}

double RelayRate(const MockCluster& cluster, const Args& args, std::size_t window) {
  auto store = OpenMigratedStore(args.store);
  FillBacklog(*store, args);
  auto publisher = herald::OpenPublisher(cluster.url(), KafkaOptions());
  Check(publisher.has_value(), "open kafka publisher");
  return herald::bench::DrainRate(*store, **publisher, args.batch, window, args.backlog);
}

struct Latency {
  double p50_ms = 0;
  double p99_ms = 0;
  double max_ms = 0;
  std::size_t events = 0;
};

// An application thread commits one event per transaction at `rate` per
// second while a relay runs; latency = delivery report - end of commit.
Latency SteadyRateLatency(const MockCluster& cluster, const Args& args) {
  auto relay_store = OpenMigratedStore(args.store);
  auto app_store = herald::OpenStore(args.store);
  Check(app_store.has_value(), "open application store");
  auto kafka = herald::OpenPublisher(cluster.url(), KafkaOptions());
  Check(kafka.has_value(), "open kafka publisher");
  TimingPublisher timing(**kafka);
  herald::RelayOptions options;
  options.batch_size = args.batch;
  herald::Relay relay(*relay_store, timing, options);
  std::jthread relay_thread([&] { Check(relay.Run(), "relay"); });
  // Warm-up, not measured: the producer's first delivery waits for its
  // connections and its idempotent producer id.
  herald::Event warm_up = MakeEvent(args.payload, -1);
  const auto warm_start = SteadyClock::now();
  Check((*app_store)->Enqueue(std::span<const herald::Event>(&warm_up, 1)), "enqueue");
  const auto warm_deadline = SteadyClock::now() + std::chrono::seconds(30);
  while (timing.count() < 1 && SteadyClock::now() < warm_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  Check(timing.count() == 1, "warm-up event acknowledged");
  std::printf("\nfirst event after the relay started: acknowledged %.0f ms after its commit\n",
              std::chrono::duration<double, std::milli>(SteadyClock::now() - warm_start).count());

  const long total = args.rate * args.seconds;
  std::map<herald::EventId, SteadyClock::time_point> committed;
  const auto period = std::chrono::nanoseconds(1000000000L / args.rate);
  auto next = SteadyClock::now();
  for (long i = 0; i < total; ++i) {
    std::this_thread::sleep_until(next);
    next += period;
    herald::Event e = MakeEvent(args.payload, i);
    Check((*app_store)->Enqueue(std::span<const herald::Event>(&e, 1)), "enqueue");
    committed.emplace(e.id, SteadyClock::now());
  }
  const auto deadline = SteadyClock::now() + std::chrono::seconds(30);
  while (timing.count() < committed.size() + 1 && SteadyClock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  relay.Stop();
  relay_thread.join();

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
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string_view f = argv[i];
    const char* v = argv[i + 1];
    if (f == "--store") a.store = v;
    else if (f == "--backlog") a.backlog = std::atol(v);
    else if (f == "--batch") a.batch = static_cast<std::size_t>(std::atol(v));
    else if (f == "--payload") a.payload = static_cast<std::size_t>(std::atol(v));
    else if (f == "--rate") a.rate = std::atol(v);
    else if (f == "--seconds") a.seconds = std::atol(v);
    else Check(false, fmt::format("unknown option {}", f));
  }
  Check(argc % 2 == 1, "options take values");
  Check(a.backlog > 0 && a.batch > 0 && a.rate > 0 && a.seconds > 0, "counts must be positive");
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
                  fmt::format("herald-kafka-bench-{}.db", getpid());
    RemoveSqlite(sqlite_file);
    args.store = "sqlite:" + sqlite_file.string();
  }
  MockCluster cluster(kBrokers);
  cluster.CreateTopic("raw", kPartitions);
  cluster.CreateTopic("transactions", kPartitions);

  std::string defaults;
  for (const auto& [k, v] : herald::publish::KafkaDefaultProperties()) {
    defaults += fmt::format(" {}={}", k, v);
  }
  std::printf("kafka_bench: librdkafka %s mock cluster, %d brokers, %d partitions, "
              "replication 3; %s, %ld cores\n",
              rd_kafka_version_str(), kBrokers, kPartitions, CpuModel().c_str(),
              sysconf(_SC_NPROCESSORS_ONLN));
  std::printf("producer:%s\n", defaults.c_str());
  std::printf("store %s; relay batch %zu; payload %zu B; %d keys; CloudEvents headers\n\n",
              args.store.c_str(), args.batch, args.payload, kKeys);

  std::printf("%-52s %14s %14s %8s\n", fmt::format("backlog of {} events", args.backlog).c_str(),
              "raw produce", "herald relay", "ratio");
  const double streaming = RawProduceRate(cluster, args, 0);
  const double batched = RawProduceRate(cluster, args, args.batch);
  const std::string per_batch = fmt::format("  ... raw waiting for each {} messages", args.batch);
  for (std::size_t window : {herald::RelayOptions{}.max_in_flight_events, args.batch}) {
    const bool windowed = window != args.batch;
    double relay = RelayRate(cluster, args, window);
    std::printf("%-52s %10.0f ev/s %10.0f ev/s %8.2f\n",
                windowed ? "  store -> Kafka (raw: librdkafka, all in flight)"
                           : "  store -> Kafka, one batch at a time (same raw)",
                streaming, relay, relay / streaming);
    std::printf("%-52s %10.0f ev/s %10.0f ev/s %8.2f\n", per_batch.c_str(), batched, relay,
                relay / batched);
    if (!sqlite_file.empty()) RemoveSqlite(sqlite_file);
  }

  Latency lat = SteadyRateLatency(cluster, args);
  std::printf("\ncommit-to-acknowledged latency at %ld events/s, one event per commit, "
              "%zu events:\n  p50 %.2f ms   p99 %.2f ms   max %.2f ms\n",
              args.rate, lat.events, lat.p50_ms, lat.p99_ms, lat.max_ms);
  if (!sqlite_file.empty()) RemoveSqlite(sqlite_file);
  return 0;
}
