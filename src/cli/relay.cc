// herald relay: move committed events from the database to the bus until
// stopped by SIGINT or SIGTERM (or, with --exit-when-drained, until nothing
// is pending).
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <condition_variable>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "core/backoff.h"
#include "core/macros.h"
#include "core/secrets.h"
#ifdef HERALD_WITH_METRICS
#include "herald/metrics.h"
#endif
#include "herald/publisher.h"
#include "herald/relay.h"
#include "herald/store.h"

namespace herald::cli {
namespace {

sigset_t ShutdownSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

// Turns SIGINT and SIGTERM into Relay::Stop(). The signals must already be
// blocked in every thread (BlockShutdownSignals), so that only this thread's
// sigwait() receives them. A second signal exits at once: unsettled events
// stay pending and are published again by the next relay.
class ShutdownOnSignal {
 public:
  explicit ShutdownOnSignal(Relay& relay) : relay_(relay), thread_([this] { Loop(); }) {}

  ~ShutdownOnSignal() {
    done_.store(true);
    pthread_kill(thread_.native_handle(), SIGTERM);  // wakes sigwait()
    thread_.join();
  }

  ShutdownOnSignal(const ShutdownOnSignal&) = delete;
  ShutdownOnSignal& operator=(const ShutdownOnSignal&) = delete;

 private:
  void Loop() {
    const sigset_t set = ShutdownSignals();
    int received = 0;
    for (;;) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0) continue;
      if (done_.load()) return;
      if (++received == 1) {
        spdlog::info("{}: stopping after the batch in flight is settled", strsignal(sig));
        relay_.Stop();
      } else {
        spdlog::warn("{} again: exiting now; unsettled events stay pending", strsignal(sig));
        std::_Exit(128 + sig);
      }
    }
  }

  Relay& relay_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

// Blocks SIGINT and SIGTERM in this thread and so in every thread it starts
// afterwards.
void BlockShutdownSignals() {
  const sigset_t set = ShutdownSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

void LogStats(const RelayStats& s) {
  spdlog::info(
      "relay totals: published={} retried={} unavailable={} dead_lettered={} batches={} "
      "claims={} settle_failures={}",
      s.published, s.retried, s.unavailable, s.dead_lettered, s.batches, s.claims,
      s.settle_failures);
}

// Calls `open` until it succeeds, fails for good (an error that is not
// retriable), or SIGINT/SIGTERM arrives (nullopt); between attempts it waits
// with the relay's backoff. One log line when the first attempt fails and
// one when `what` answers again. With fail_fast, the first error is final.
template <typename T>
std::optional<Result<T>> OpenWaiting(std::string_view what, const Config& config,
                                     const std::function<Result<T>()>& open) {
  const Backoff backoff(config.relay.backoff_initial, config.relay.backoff_max);
  std::minstd_rand rng(std::random_device{}());
  const sigset_t signals = ShutdownSignals();
  for (int failures = 0;; ) {
    Result<T> opened = open();
    if (opened || !opened.error().retriable() || config.fail_fast) {
      if (opened && failures > 0) {
        spdlog::info("{} reachable after {} failed attempts", what, failures);
      }
      return opened;
    }
    if (++failures == 1) {
      spdlog::warn("{} unreachable, retrying with backoff (--fail-fast exits instead): {}", what,
                   opened.error().ToString());
    }
    const std::chrono::milliseconds delay = backoff.Delay(failures, rng);
    timespec timeout{};
    timeout.tv_sec = static_cast<time_t>(delay.count() / 1000);
    timeout.tv_nsec = static_cast<long>(delay.count() % 1000) * 1000000;
    siginfo_t info{};
    if (sigtimedwait(&signals, &info, &timeout) > 0) {
      spdlog::info("{}: stopped while waiting for the {}", strsignal(info.si_signo), what);
      return std::nullopt;
    }
  }
}

// Logs a line at info every `interval` while the relay runs: what it did
// since the last line, the window, and the backlog (from a read-only store
// connection of its own). Idle, it says so once and then keeps quiet until
// something happens.
class ProgressLog {
 public:
  ProgressLog(const Relay& relay, std::unique_ptr<Store> store, std::chrono::milliseconds interval)
      : relay_(relay), store_(std::move(store)), interval_(interval),
        thread_([this](std::stop_token stop) { Loop(stop); }) {}

 private:
  void Loop(std::stop_token stop) {
    std::mutex mu;
    std::condition_variable_any cv;
    RelayStats last = relay_.stats();
    auto last_at = std::chrono::steady_clock::now();
    bool idle_said = false;
    while (true) {
      {
        std::unique_lock lock(mu);
        if (cv.wait_for(lock, stop, interval_, [] { return false; })) return;
        if (stop.stop_requested()) return;
      }
      const RelayStats now = relay_.stats();
      const auto now_at = std::chrono::steady_clock::now();
      const double seconds = std::chrono::duration<double>(now_at - last_at).count();
      const std::uint64_t published = now.published - last.published;
      const std::uint64_t retried = now.retried - last.retried;
      const std::uint64_t dead = now.dead_lettered - last.dead_lettered;
      std::string backlog = "backlog unknown";
      std::int64_t pending = -1;
      if (store_ != nullptr) {
        if (Result<OutboxStats> stats = store_->Stats(); stats) {
          pending = stats->pending;
          backlog = fmt::format("{} pending", stats->pending);
          if (stats->oldest_pending_created_at) {
            backlog += fmt::format(
                ", oldest {:.1f}s",
                std::chrono::duration<double>(std::chrono::system_clock::now() -
                                              *stats->oldest_pending_created_at)
                    .count());
          }
        } else {
          backlog = "backlog unknown: " + stats.error().ToString();
        }
      }
      const bool idle = published == 0 && retried == 0 && dead == 0 && pending == 0 &&
                        now.in_flight_events == 0;
      if (!idle || !idle_said) {
        if (idle) {
          spdlog::info("progress: idle, nothing pending");
        } else {
          spdlog::info(
              "progress: {} published ({:.1f}/s), {} retried, {} dead-lettered in the last "
              "{:.1f}s; {} in flight{}; {}",
              published, seconds > 0 ? static_cast<double>(published) / seconds : 0.0, retried,
              dead, seconds, now.in_flight_events, now.bus_down ? ", bus unavailable" : "",
              backlog);
        }
      }
      idle_said = idle;
      last = now;
      last_at = now_at;
    }
  }

  const Relay& relay_;
  std::unique_ptr<Store> store_;
  const std::chrono::milliseconds interval_;
  std::jthread thread_;  // last: started once the rest exists
};

// The metrics endpoint and the read-only store it reads the backlog from.
struct Metrics {
#ifdef HERALD_WITH_METRICS
  std::unique_ptr<MetricsServer> server;
  std::unique_ptr<Store> stats_store;

  void Watch(const Relay& relay, const Config& config) {
    Result<std::unique_ptr<Store>> opened = OpenExistingStore(config, Access::kRead);
    if (opened) {
      stats_store = std::move(*opened);
    } else {
      spdlog::warn("metrics: no store connection for the backlog figures: {}",
                   opened.error().ToString());
    }
    server->Watch(&relay, stats_store.get());
  }
#else
  struct NoServer {
    RelayListener& listener() { return none; }
    void Watch(const Relay*, Store*) {}
    RelayListener none;
  };
  std::unique_ptr<NoServer> server;
  void Watch(const Relay&, const Config&) {}
#endif
};

Result<std::unique_ptr<Metrics>> StartMetrics(const Config& config) {
#ifdef HERALD_WITH_METRICS
  MetricsOptions options;
  options.address = config.metrics_address;
  options.ready_max_oldest_age =
      std::chrono::ceil<std::chrono::seconds>(config.ready_max_age);
  HERALD_ASSIGN_OR_RETURN(std::unique_ptr<MetricsServer> server, MetricsServer::Start(options));
  spdlog::info("metrics on http://{}:{}/metrics, health on /healthz and /readyz",
               config.metrics_address.find(':') == std::string::npos
                   ? std::string("127.0.0.1")
                   : config.metrics_address.substr(0, config.metrics_address.rfind(':')),
               server->port());
  auto metrics = std::make_unique<Metrics>();
  metrics->server = std::move(server);
  return metrics;
#else
  static_cast<void>(config);
  return std::unexpected(InvalidArgument(
      "--metrics-address: this build has no metrics endpoint (built without prometheus-cpp "
      "and civetweb; HERALD_WITH_METRICS)"));
#endif
}

int RunRelay(const CommandLine& line) {
  BlockShutdownSignals();  // before any thread exists
  Result<Config> config = ResolveConfig(line);
  if (!config) return FailSetup(config.error());
  if (Status s = Require(*config, "db"); !s.ok()) return FailSetup(s);
  if (Status s = Require(*config, "publisher"); !s.ok()) return FailSetup(s);
  // The endpoint first: /healthz answers while the relay waits for the
  // database or the bus.
  std::unique_ptr<Metrics> metrics;
  if (!config->metrics_address.empty()) {
    Result<std::unique_ptr<Metrics>> started = StartMetrics(*config);
    if (!started) return FailSetup(started.error());
    metrics = std::move(*started);
    config->relay.listener = &metrics->server->listener();
  }
  std::optional<Result<std::unique_ptr<Store>>> store =
      OpenWaiting<std::unique_ptr<Store>>("database", *config, [&] {
        return OpenExistingStore(*config, Access::kWrite);
      });
  if (!store) return kExitOk;
  if (!*store) return FailSetup(store->error());
  std::optional<Result<std::unique_ptr<Publisher>>> publisher =
      OpenWaiting<std::unique_ptr<Publisher>>("bus", *config, [&] {
        return OpenPublisher(config->publisher, config->publisher_options);
      });
  if (!publisher) return kExitOk;
  if (!*publisher) return FailSetup(publisher->error());

  Relay relay(***store, ***publisher, config->relay);
  if (metrics != nullptr) metrics->Watch(relay, *config);
  Status result;
  {
    std::unique_ptr<Store> progress_store;
    if (Result<std::unique_ptr<Store>> opened = OpenExistingStore(*config, Access::kRead)) {
      progress_store = std::move(*opened);
    }
    ProgressLog progress(relay, std::move(progress_store), config->progress_interval);
    ShutdownOnSignal shutdown(relay);
    spdlog::info("relaying from {} to {}", MaskSecrets(config->db),
                 MaskSecrets(config->publisher));
    result = relay.Run();
  }
  if (metrics != nullptr) metrics->server->Watch(nullptr, nullptr);
  LogStats(relay.stats());
  if (!result.ok()) return Fail(result, kExitFailure);
  return kExitOk;
}

}  // namespace

void AddRelayCommand(CLI::App& app, Action* chosen) {
  CLI::App* cmd = app.add_subcommand(
      "relay", "Publish committed events from the database to a bus until stopped");
  auto line = std::make_shared<CommandLine>();
  AddCommonOptions(cmd, line.get());
  std::string forms;
  for (const PublisherScheme& scheme : PublisherSchemes()) {
    if (!forms.empty()) forms += ", ";
    forms += scheme.form;
  }
  AddSettingOption(cmd, line.get(), "publisher", "URL",
                   fmt::format("where events go: {} ($HERALD_PUBLISHER)", forms));
  cmd->add_option("--publisher-option", line->publisher_options,
                  "a publisher property, repeatable ($HERALD_PUBLISHER_OPTIONS=\"k=v,k=v\")")
      ->type_name("KEY=VALUE");
  AddSettingOption(cmd, line.get(), "batch_size", "N",
                   "events claimed per round trip ($HERALD_BATCH_SIZE; default 500)");
  AddSettingOption(cmd, line.get(), "max_in_flight_events", "N",
                   "events held between claim and settlement, on the bus or waiting, at most "
                   "($HERALD_MAX_IN_FLIGHT_EVENTS; default 10000; 1 to 10000000)");
  AddSettingOption(cmd, line.get(), "max_in_flight_bytes", "N",
                   "bytes of those events at most, one batch over at worst "
                   "($HERALD_MAX_IN_FLIGHT_BYTES; default 33554432)");
  AddSettingOption(cmd, line.get(), "max_attempts", "N",
                   "failed attempts before an event is dead-lettered, 0 for never "
                   "($HERALD_MAX_ATTEMPTS; default 10)");
  AddSettingOption(cmd, line.get(), "backoff_initial", "DURATION",
                   "first retry delay ($HERALD_BACKOFF_INITIAL; default 200ms)");
  AddSettingOption(cmd, line.get(), "backoff_max", "DURATION",
                   "longest retry delay ($HERALD_BACKOFF_MAX; default 30s)");
  AddSettingOption(cmd, line.get(), "poll_interval", "DURATION",
                   "longest idle wait before asking the database again "
                   "($HERALD_POLL_INTERVAL; default 1s)");
  AddSettingFlag(cmd, line.get(), "exit_when_drained",
                 "exit 0 once nothing is pending ($HERALD_EXIT_WHEN_DRAINED)");
  AddSettingFlag(cmd, line.get(), "standby",
                 "wait while another relay holds the database instead of failing "
                 "($HERALD_STANDBY)");
  AddSettingOption(cmd, line.get(), "progress_interval", "DURATION",
                   "how often to log a progress line at info: rate, window, backlog "
                   "($HERALD_PROGRESS_INTERVAL; default 1m)");
  AddSettingOption(cmd, line.get(), "shutdown_timeout", "DURATION",
                   "on SIGTERM/SIGINT, how long to wait for the bus to confirm what it holds; "
                   "the rest stays pending ($HERALD_SHUTDOWN_TIMEOUT; default 5s)");
  AddSettingOption(cmd, line.get(), "metrics_address", "[HOST:]PORT",
                   "serve Prometheus /metrics, /healthz and /readyz there; a port alone binds "
                   "127.0.0.1 ($HERALD_METRICS_ADDRESS; default: none)");
  AddSettingOption(cmd, line.get(), "ready_max_age", "DURATION",
                   "/readyz is unready while the oldest pending event is older "
                   "($HERALD_READY_MAX_AGE; default: no such check)");
  AddSettingFlag(cmd, line.get(), "fail_fast",
                 "exit 1 at once if the database or the bus cannot be reached at start, "
                 "instead of waiting for it with backoff ($HERALD_FAIL_FAST)");
  OnChosen(cmd, chosen, [line] { return RunRelay(*line); });
}

}  // namespace herald::cli
