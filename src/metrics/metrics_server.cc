// MetricsServer (herald/metrics.h): prometheus-cpp's registry and text
// format, served by civetweb.
#include "herald/metrics.h"

#include <arpa/inet.h>
#include <civetweb.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "core/macros.h"

namespace herald {
namespace {

using std::chrono::steady_clock;

constexpr const char* kTextFormat = "text/plain; version=0.0.4; charset=utf-8";

// "PORT", "HOST:PORT" or "[IPV6]:PORT" as civetweb's listening_ports wants
// it; localhost is 127.0.0.1, other hosts must be IP addresses.
Result<std::string> ListeningPort(std::string_view address) {
  auto bad = [&](std::string_view why) {
    return std::unexpected(InvalidArgument(
        fmt::format("metrics address '{}': {} (expected PORT, HOST:PORT or [IPV6]:PORT)",
                    address, why)));
  };
  std::string_view host = "127.0.0.1";
  std::string_view port = address;
  std::size_t colon = address.rfind(':');
  if (colon != std::string_view::npos) {
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
  }
  int number = -1;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || number < 0 ||
      number > 65535) {
    return bad("the port must be a number from 0 to 65535");
  }
  if (host == "localhost") host = "127.0.0.1";
  std::array<unsigned char, 16> buffer{};
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    std::string inner(host.substr(1, host.size() - 2));
    if (inet_pton(AF_INET6, inner.c_str(), buffer.data()) != 1) return bad("not an IPv6 address");
  } else if (inet_pton(AF_INET, std::string(host).c_str(), buffer.data()) != 1) {
    return bad("the host must be an IP address or localhost");
  }
  return fmt::format("{}:{}", host, number);
}

double Seconds(std::chrono::microseconds d) { return static_cast<double>(d.count()) / 1e6; }

prometheus::MetricFamily Family(std::string name, std::string help, prometheus::MetricType type) {
  prometheus::MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

void AddValue(prometheus::MetricFamily& f, double value,
              std::vector<prometheus::ClientMetric::Label> labels = {}) {
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  if (f.type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  f.metric.push_back(std::move(m));
}

// Writes a whole response; civetweb's handlers return the status code.
int Respond(mg_connection* conn, int status, std::string_view content_type, std::string_view body) {
  const char* reason = status == 200 ? "OK" : status == 503 ? "Service Unavailable" : "Not Found";
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: %.*s\r\nContent-Length: %zu\r\n"
            "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
            status, reason, static_cast<int>(content_type.size()), content_type.data(),
            body.size());
  mg_write(conn, body.data(), body.size());
  return status;
}

}  // namespace

class MetricsServer::Impl final : public RelayListener {
 public:
  explicit Impl(const MetricsOptions& options)
      : options_(options),
        published_(prometheus::BuildCounter()
                       .Name("herald_events_published_total")
                       .Help("Events the bus confirmed, per topic")
                       .Register(registry_)),
        retried_(prometheus::BuildCounter()
                     .Name("herald_events_retried_total")
                     .Help("Failed publishes that will be tried again, per topic")
                     .Register(registry_)),
        dead_lettered_(prometheus::BuildCounter()
                           .Name("herald_events_dead_lettered_total")
                           .Help("Events moved to the dead-letter table, per topic")
                           .Register(registry_)),
        bus_outages_(prometheus::BuildCounter()
                         .Name("herald_bus_outages_total")
                         .Help("Times the bus became unavailable")
                         .Register(registry_)
                         .Add({})),
        claim_failures_(prometheus::BuildCounter()
                            .Name("herald_claim_failures_total")
                            .Help("Claims the store failed")
                            .Register(registry_)
                            .Add({})),
        age_(prometheus::BuildHistogram()
                 .Name("herald_commit_to_confirmed_seconds")
                 .Help("From an event's enqueue to the bus's confirmation")
                 .Register(registry_)
                 .Add({}, prometheus::Histogram::BucketBoundaries{
                              0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
                              10, 30, 60, 300, 1800})),
        claim_seconds_(prometheus::BuildHistogram()
                           .Name("herald_claim_duration_seconds")
                           .Help("Time of one claim from the store")
                           .Register(registry_)
                           .Add({}, Durations())),
        settle_seconds_(prometheus::BuildHistogram()
                            .Name("herald_settle_duration_seconds")
                            .Help("Time of one settlement in the store")
                            .Register(registry_)
                            .Add({}, Durations())),
        batch_events_(prometheus::BuildHistogram()
                          .Name("herald_claim_batch_events")
                          .Help("Events returned by one claim")
                          .Register(registry_)
                          .Add({}, prometheus::Histogram::BucketBoundaries{
                                       0, 1, 10, 50, 100, 250, 500, 1000, 5000})) {}

  ~Impl() override {
    if (ctx_ != nullptr) mg_stop(ctx_);
  }

  Status Listen() {
    HERALD_ASSIGN_OR_RETURN(std::string port, ListeningPort(options_.address));
    const char* config[] = {"listening_ports", port.c_str(), "num_threads", "2",
                            "request_timeout_ms", "10000", nullptr};
    mg_callbacks callbacks{};
    callbacks.log_message = [](const mg_connection*, const char*) { return 1; };  // quiet
    mg_init_data init{};
    init.callbacks = &callbacks;
    init.user_data = this;
    init.configuration_options = config;
    std::array<char, 256> text{};
    unsigned code = 0;
    mg_error_data error{&code, text.data(), text.size()};
    ctx_ = mg_start2(&init, &error);
    if (ctx_ == nullptr) {
      return Unavailable(fmt::format("metrics address '{}': cannot listen: {}", options_.address,
                                     text[0] != '\0' ? text.data() : "unknown error"));
    }
    mg_set_request_handler(ctx_, "/metrics$", &Impl::OnMetrics, this);
    mg_set_request_handler(ctx_, "/healthz$", &Impl::OnHealth, this);
    mg_set_request_handler(ctx_, "/readyz$", &Impl::OnReady, this);
    mg_set_request_handler(ctx_, "/", &Impl::OnOther, this);
    std::array<mg_server_port, 4> ports{};
    if (mg_get_server_ports(ctx_, static_cast<int>(ports.size()), ports.data()) > 0) {
      port_ = ports[0].port;
    }
    return OkStatus();
  }

  int port() const { return port_; }

  void Watch(const Relay* relay, Store* store) {
    std::lock_guard<std::mutex> lock(mu_);
    relay_ = relay;
    if (store != store_) stats_at_.reset();
    store_ = store;
    if (store_ == nullptr) {
      stats_ok_ = false;
      stats_error_ = "no store to ask";
    }
  }

  // RelayListener, on the engine thread.
  void OnPublished(const Event& event, std::chrono::milliseconds age) override {
    CounterOf(published_counters_, published_, event.topic).Increment();
    age_.Observe(static_cast<double>(age.count()) / 1e3);
  }
  void OnRetry(const Event& event, std::string_view) override {
    CounterOf(retried_counters_, retried_, event.topic).Increment();
  }
  void OnDeadLetter(const Event& event, std::string_view) override {
    CounterOf(dead_counters_, dead_lettered_, event.topic).Increment();
  }
  void OnClaim(std::size_t events, std::chrono::microseconds took, bool ok) override {
    claim_seconds_.Observe(Seconds(took));
    if (ok) {
      batch_events_.Observe(static_cast<double>(events));
    } else {
      claim_failures_.Increment();
    }
  }
  void OnSettle(std::size_t, std::chrono::microseconds took, bool) override {
    settle_seconds_.Observe(Seconds(took));
  }
  void OnBusState(bool available) override {
    if (!available) bus_outages_.Increment();
  }

 private:
  using CounterCache = std::unordered_map<std::string, prometheus::Counter*>;

  static prometheus::Histogram::BucketBoundaries Durations() {
    return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
            2.5, 5};
  }

  static prometheus::Counter& CounterOf(CounterCache& cache,
                                        prometheus::Family<prometheus::Counter>& family,
                                        const std::string& topic) {
    auto it = cache.find(topic);
    if (it == cache.end()) it = cache.emplace(topic, &family.Add({{"topic", topic}})).first;
    return *it->second;
  }

  // What a scrape or a probe sees, under mu_.
  struct Snapshot {
    bool watching = false;
    RelayStats relay;
    bool store_ok = false;
    std::string store_error;
    OutboxStats outbox;
  };

  Snapshot Take() {
    std::lock_guard<std::mutex> lock(mu_);
    Snapshot s;
    if (relay_ != nullptr) {
      s.watching = true;
      s.relay = relay_->stats();
    }
    const auto now = steady_clock::now();
    if (store_ != nullptr &&
        (!stats_at_.has_value() || now - *stats_at_ >= options_.store_stats_max_age)) {
      Result<OutboxStats> stats = store_->Stats();
      stats_at_ = now;
      stats_ok_ = stats.has_value();
      if (stats) {
        stats_ = std::move(*stats);
        stats_error_.clear();
      } else {
        stats_error_ = stats.error().ToString();
      }
    }
    s.store_ok = stats_ok_;
    s.store_error = stats_error_;
    s.outbox = stats_;
    return s;
  }

  // The families read at scrape time from the relay's and store's figures.
  static std::vector<prometheus::MetricFamily> Figures(const Snapshot& s) {
    using prometheus::MetricType;
    std::vector<prometheus::MetricFamily> out;
    auto gauge = [&](std::string name, std::string help, double value) {
      out.push_back(Family(std::move(name), std::move(help), MetricType::Gauge));
      AddValue(out.back(), value);
    };
    auto counter = [&](std::string name, std::string help, double value) {
      out.push_back(Family(std::move(name), std::move(help), MetricType::Counter));
      AddValue(out.back(), value);
    };
    const RelayStats& r = s.relay;
    gauge("herald_relay_role", "1 while this relay holds its role and relays", r.holds_role);
    gauge("herald_bus_up", "0 while the bus is unavailable and the relay probes it",
          !r.bus_down);
    gauge("herald_store_up", "0 while the store fails claims, settlements or stats",
          s.store_ok && !r.store_failing);
    gauge("herald_in_flight_events", "Events held between claim and settlement",
          static_cast<double>(r.in_flight_events));
    gauge("herald_in_flight_bytes", "Bytes of the events held between claim and settlement",
          static_cast<double>(r.in_flight_bytes));
    counter("herald_publish_calls_total", "Publish() calls handed to the bus",
            static_cast<double>(r.batches));
    counter("herald_claims_total", "Claims from the store", static_cast<double>(r.claims));
    counter("herald_settlements_total", "Settlements the store applied",
            static_cast<double>(r.settles));
    counter("herald_settle_failures_total", "Settlements the store refused (tried again)",
            static_cast<double>(r.settle_failures));
    counter("herald_events_unavailable_total",
            "Publishes that found the bus unavailable (not counted as attempts)",
            static_cast<double>(r.unavailable));
    if (!s.store_ok) return out;

    const OutboxStats& o = s.outbox;
    const auto now = std::chrono::system_clock::now();
    auto age = [&](const std::optional<TimePoint>& oldest) {
      if (!oldest.has_value()) return 0.0;
      return std::max(0.0, std::chrono::duration<double>(now - *oldest).count());
    };
    out.push_back(Family("herald_pending_events", "Events in the outbox, per topic",
                         MetricType::Gauge));
    for (const TopicStats& t : o.topics) AddValue(out.back(), t.pending, {{"topic", t.topic}});
    out.push_back(Family("herald_oldest_pending_age_seconds",
                         "Age of the oldest pending event, per topic (0: none pending)",
                         MetricType::Gauge));
    for (const TopicStats& t : o.topics) {
      AddValue(out.back(), age(t.oldest_pending_created_at), {{"topic", t.topic}});
    }
    out.push_back(Family("herald_dead_letters", "Events in the dead-letter table, per topic",
                         MetricType::Gauge));
    for (const TopicStats& t : o.topics) {
      AddValue(out.back(), t.dead_letters, {{"topic", t.topic}});
    }
    gauge("herald_outbox_pending_events", "Events in the outbox", o.pending);
    gauge("herald_outbox_oldest_pending_age_seconds",
          "Age of the oldest pending event (0: none pending)", age(o.oldest_pending_created_at));
    gauge("herald_outbox_dead_letters", "Events in the dead-letter table", o.dead_letters);
    if (!o.relays.empty()) {
      out.push_back(Family("herald_partitions_owned", "Partitions each relay owns",
                           MetricType::Gauge));
      for (const RelayOwnership& relay : o.relays) {
        AddValue(out.back(), static_cast<double>(relay.partitions.size()),
                 {{"relay", relay.relay_id}});
      }
    }
    return out;
  }

  // Empty when ready, else the first reason it is not.
  std::string Unready(const Snapshot& s) const {
    if (!s.watching) return "no relay is running";
    if (!s.relay.holds_role) return "the relay does not hold its role (standby, or starting)";
    if (s.relay.bus_down) return "the bus is unavailable";
    if (!s.store_ok) return "the store does not answer: " + s.store_error;
    if (s.relay.store_failing) return "the store fails claims or settlements";
    if (options_.ready_max_oldest_age.count() > 0 && s.outbox.oldest_pending_created_at) {
      const auto age = std::chrono::duration_cast<std::chrono::seconds>(
          std::chrono::system_clock::now() - *s.outbox.oldest_pending_created_at);
      if (age > options_.ready_max_oldest_age) {
        return fmt::format("the oldest pending event is {} s old (limit {} s)", age.count(),
                           options_.ready_max_oldest_age.count());
      }
    }
    return {};
  }

  static int OnMetrics(mg_connection* conn, void* self) {
    auto* impl = static_cast<Impl*>(self);
    std::vector<prometheus::MetricFamily> families = impl->registry_.Collect();
    std::vector<prometheus::MetricFamily> figures = Figures(impl->Take());
    families.insert(families.end(), std::make_move_iterator(figures.begin()),
                    std::make_move_iterator(figures.end()));
    return Respond(conn, 200, kTextFormat, prometheus::TextSerializer().Serialize(families));
  }

  static int OnHealth(mg_connection* conn, void*) {
    return Respond(conn, 200, "text/plain", "ok\n");
  }

  static int OnReady(mg_connection* conn, void* self) {
    auto* impl = static_cast<Impl*>(self);
    std::string reason = impl->Unready(impl->Take());
    if (reason.empty()) return Respond(conn, 200, "text/plain", "ready\n");
    return Respond(conn, 503, "text/plain", reason + "\n");
  }

  static int OnOther(mg_connection* conn, void*) {
    return Respond(conn, 404, "text/plain", "not found: try /metrics, /healthz or /readyz\n");
  }

  const MetricsOptions options_;
  mg_context* ctx_ = nullptr;
  int port_ = 0;

  prometheus::Registry registry_;
  prometheus::Family<prometheus::Counter>& published_;
  prometheus::Family<prometheus::Counter>& retried_;
  prometheus::Family<prometheus::Counter>& dead_lettered_;
  prometheus::Counter& bus_outages_;
  prometheus::Counter& claim_failures_;
  prometheus::Histogram& age_;
  prometheus::Histogram& claim_seconds_;
  prometheus::Histogram& settle_seconds_;
  prometheus::Histogram& batch_events_;
  // The engine thread's own.
  CounterCache published_counters_;
  CounterCache retried_counters_;
  CounterCache dead_counters_;

  std::mutex mu_;
  const Relay* relay_ = nullptr;                  // guarded by mu_
  Store* store_ = nullptr;                        // guarded by mu_
  std::optional<steady_clock::time_point> stats_at_;  // guarded by mu_
  bool stats_ok_ = false;                         // guarded by mu_
  std::string stats_error_ = "no store to ask";   // guarded by mu_
  OutboxStats stats_;                             // guarded by mu_
};

Result<std::unique_ptr<MetricsServer>> MetricsServer::Start(const MetricsOptions& options) {
  auto impl = std::make_unique<Impl>(options);
  if (Status s = impl->Listen(); !s.ok()) return std::unexpected(s);
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(impl)));
}

MetricsServer::MetricsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MetricsServer::~MetricsServer() = default;
RelayListener& MetricsServer::listener() { return *impl_; }
void MetricsServer::Watch(const Relay* relay, Store* stats_store) {
  impl_->Watch(relay, stats_store);
}
int MetricsServer::port() const { return impl_->port(); }

}  // namespace herald
