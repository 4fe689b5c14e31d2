// One run of `herald demo` (see demo_run.h).
#include "cli/demo_run.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <thread>

#include "core/macros.h"
#include "herald/publisher.h"
#include "services/bus_reader.h"
#include "services/consumers.h"
#include "services/database.h"
#include "services/transactions.h"

extern char** environ;

namespace herald::cli::demo {
namespace {

using examples::AnalyticsService;
using examples::BudgetsService;
using examples::Database;
using examples::EventConsumer;
using examples::BusReader;
using examples::TransactionsService;
using Steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

// How long the killed relay stays dead.
constexpr milliseconds kRelayDeadFor{1000};
// Longest wait for the consumers to catch up once every command is in.
constexpr milliseconds kDrainTimeout{30000};
// Between starting the clients (and the relay) and the first command: a
// Kafka client's first connections and metadata take most of a second, which
// would otherwise be counted as the latency of the first events.
constexpr milliseconds kWarmUp{1500};
// The partition lease of the relays on PostgreSQL: how long after the kill
// the restarted relay may take the dead one's partitions over.
constexpr const char* kPostgresLease = "2s";

// ---- what the consumers saw ---------------------------------------------

// One consumer service reading the topic on a thread of its own.
class ConsumerLoop {
 public:
  using OpenReader = std::function<Result<std::unique_ptr<BusReader>>()>;
  ConsumerLoop(EventConsumer& service, OpenReader open)
      : service_(service), open_(std::move(open)) {}

  // Opens a reader (every partition from the beginning) and starts reading.
  Status Start() {
    HERALD_ASSIGN_OR_RETURN(reader_, open_());
    thread_ = std::jthread([this](std::stop_token stop) { Run(stop); });
    return OkStatus();
  }
  void Stop() {
    thread_.request_stop();
    if (thread_.joinable()) thread_.join();
  }
  // As a consumer that crashed before committing any offset: a new reader
  // reads the topic again from the beginning, and the bus delivers every
  // event a second time.
  Status Restart() {
    Stop();
    reader_.reset();
    restarts_++;
    return Start();
  }
  int restarts() const { return restarts_.load(); }

  std::int64_t received() const { return received_.load(); }
  std::int64_t distinct() const {
    std::lock_guard lock(mu_);
    return static_cast<std::int64_t>(applied_at_.size());
  }
  std::int64_t errors() const { return errors_.load(); }
  // First application time of every event applied here.
  std::map<EventId, Steady::time_point> applied_at() const {
    std::lock_guard lock(mu_);
    return applied_at_;
  }

 private:
  void Run(std::stop_token stop) {
    while (!stop.stop_requested()) {
      Result<std::optional<examples::BusMessage>> m = reader_->Poll(milliseconds(100));
      if (!m) {
        errors_++;
        continue;
      }
      if (!m->has_value()) continue;
      received_++;
      Apply(**m);
    }
  }

  void Apply(const examples::BusMessage& m) {
    for (int attempt = 0; attempt < 20; ++attempt) {
      Result<InboxOutcome> r = service_.Handle(m.id, m.payload);
      if (r) {
        if (*r == InboxOutcome::kProcessed) {
          std::lock_guard lock(mu_);
          applied_at_.emplace(m.id, Steady::now());
        }
        return;
      }
      if (!r.error().retriable()) break;
      std::this_thread::sleep_for(milliseconds(10));
    }
    errors_++;
  }

  EventConsumer& service_;
  OpenReader open_;
  std::unique_ptr<BusReader> reader_;  // used by the thread while it runs
  std::atomic<int> restarts_{0};
  std::atomic<std::int64_t> received_{0};
  std::atomic<std::int64_t> errors_{0};
  mutable std::mutex mu_;
  std::map<EventId, Steady::time_point> applied_at_;  // guarded by mu_
  std::jthread thread_;
};

// ---- `herald relay` as a child process ------------------------------------

class RelayProcess {
 public:
  // `args`: the command line after `herald`.
  RelayProcess(std::vector<std::string> args, std::filesystem::path log_dir)
      : args_(std::move(args)), log_dir_(std::move(log_dir)) {}
  ~RelayProcess() { Kill(); }

  Status Start() {
    std::vector<std::string> args = {"herald"};
    args.insert(args.end(), args_.begin(), args_.end());
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::string log = (log_dir_ / fmt::format("relay-{}.log", ++starts_)).string();
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    int rc = posix_spawn(&pid_, "/proc/self/exe", &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      pid_ = -1;
      return Internal(fmt::format("cannot start `herald relay`: {}", std::strerror(rc)));
    }
    return OkStatus();
  }

  // SIGKILL: whatever the relay had in flight is neither confirmed nor settled.
  void Kill() { Signal(SIGKILL, milliseconds(5000)); }
  // SIGTERM: the relay settles its batch in flight and exits.
  void Terminate() {
    if (!Signal(SIGTERM, milliseconds(10000))) Kill();
  }
  bool running() const { return pid_ > 0; }
  int starts() const { return starts_; }

 private:
  // Sends `sig` and reaps the child; false if it did not exit in `wait`.
  bool Signal(int sig, milliseconds wait) {
    if (pid_ <= 0) return true;
    ::kill(pid_, sig);
    auto deadline = Steady::now() + wait;
    while (Steady::now() < deadline) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return true;
      }
      std::this_thread::sleep_for(milliseconds(10));
    }
    return false;
  }

  std::vector<std::string> args_;
  std::filesystem::path log_dir_;
  pid_t pid_ = -1;
  int starts_ = 0;
};

// ---- one run ----------------------------------------------------------------

// The state a run shares with its progress line.
struct Progress {
  std::atomic<long> committed{0};
  std::atomic<bool> bus_down{false};
  std::atomic<bool> relay_dead{false};
  std::atomic<int> relay_kills{0};
  std::atomic<bool> reading_again{false};
};

// The commit time of every committed event.
class Ledger {
 public:
  void Committed(const EventId& id) {
    std::lock_guard lock(mu_);
    committed_.emplace(id, Steady::now());
  }
  std::map<EventId, Steady::time_point> Get() const {
    std::lock_guard lock(mu_);
    return committed_;
  }

 private:
  mutable std::mutex mu_;
  std::map<EventId, Steady::time_point> committed_;
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  std::size_t i = static_cast<std::size_t>(std::ceil(p * static_cast<double>(v.size()))) - 1;
  return v[std::min(i, v.size() - 1)];
}

class Run {
 public:
  Run(Mode mode, const Settings& settings, const std::vector<examples::CreateTransaction>& work,
      std::filesystem::path dir)
      : mode_(mode), settings_(settings), work_(work), dir_(std::move(dir)) {}

  Result<RunReport> Execute();

 private:
  Status Setup();
  Status SetupBus();
  Result<std::unique_ptr<Database>> OpenDatabase(const std::string& service) const;
  Status OpenServices();
  std::vector<std::string> RelayArgs() const;
  Status Produce();
  void Chaos(std::stop_token stop);
  void WaitForConsumers(std::int64_t expected);
  Status ReadAgain();
  Result<RunReport> Report();
  void ProgressLoop(std::stop_token stop);
  std::string ProgressText() const;

  const Mode mode_;
  const Settings& settings_;
  const std::vector<examples::CreateTransaction>& work_;
  const std::filesystem::path dir_;
  Steady::time_point start_;

  std::unique_ptr<DemoBus> bus_;
  std::string topic_;
  std::unique_ptr<TransactionsService> transactions_;
  std::unique_ptr<BudgetsService> budgets_;
  std::unique_ptr<AnalyticsService> analytics_;
  std::unique_ptr<ConsumerLoop> budgets_loop_, analytics_loop_;
  std::unique_ptr<RelayProcess> relay_;
  std::unique_ptr<Publisher> naive_publisher_;
  std::deque<Event> naive_events_;  // alive until their delivery came
  std::atomic<std::int64_t> naive_pending_{0}, naive_failed_{0};
  Ledger ledger_;
  Progress progress_;
  // Each inbox's duplicates before the re-reading.
  std::int64_t budgets_duplicates_during_run_ = 0, analytics_duplicates_during_run_ = 0;
};

// The run's bus and its topic, ready for the events.
Status Run::SetupBus() {
  HERALD_ASSIGN_OR_RETURN(bus_, MakeDemoBus(settings_.infra.bus));
  HERALD_RETURN_IF_ERROR(bus_->Prepare(ModeName(mode_)));
  topic_ = bus_->topic();
  return OkStatus();
}

Result<std::unique_ptr<Database>> Run::OpenDatabase(const std::string& service) const {
  if (!settings_.infra.postgres()) {
    return examples::OpenSqliteDatabase((dir_ / (service + ".db")).string());
  }
  return examples::OpenPostgresDatabase(
      {settings_.infra.pg_url, "herald_demo_" + service, kOutboxSchema});
}

Status Run::OpenServices() {
  if (settings_.infra.postgres()) {
    HERALD_RETURN_IF_ERROR(examples::DropPostgresSchemas(settings_.infra.pg_url, PostgresSchemas()));
  }
  HERALD_ASSIGN_OR_RETURN(std::unique_ptr<Database> tx_db, OpenDatabase("transactions"));
  HERALD_ASSIGN_OR_RETURN(transactions_, TransactionsService::Open(std::move(tx_db), topic_));
  HERALD_ASSIGN_OR_RETURN(std::unique_ptr<Database> budgets_db, OpenDatabase("budgets"));
  HERALD_ASSIGN_OR_RETURN(budgets_, BudgetsService::Open(std::move(budgets_db)));
  HERALD_ASSIGN_OR_RETURN(std::unique_ptr<Database> analytics_db, OpenDatabase("analytics"));
  HERALD_ASSIGN_OR_RETURN(analytics_, AnalyticsService::Open(std::move(analytics_db)));
  return OkStatus();
}

std::vector<std::string> Run::RelayArgs() const {
  std::string db = transactions_->outbox_url();
  if (settings_.infra.postgres()) db += fmt::format("&lease={}", kPostgresLease);
  std::vector<std::string> args = {"relay", "--db", db, "--publisher", bus_->url()};
  for (const auto& [k, v] : bus_->PublisherOptions(/*naive=*/false)) {
    args.push_back("--publisher-option");
    args.push_back(k + "=" + v);
  }
  for (const char* a : {"--backoff-max", "500ms", "--poll-interval", "100ms", "--log-level", "warn"}) {
    args.push_back(a);
  }
  return args;
}

Status Run::Setup() {
  std::filesystem::create_directories(dir_);
  HERALD_RETURN_IF_ERROR(SetupBus());
  HERALD_RETURN_IF_ERROR(OpenServices());

  // A monthly limit per account and category, drawn from the seed.
  std::mt19937_64 rng(settings_.seed ^ 0x9e3779b97f4a7c15ull);
  std::uniform_int_distribution<std::int64_t> limit(5'000, 60'000);
  for (int a = 0; a < settings_.accounts; ++a) {
    for (const char* category : kCategories) {
      HERALD_RETURN_IF_ERROR(
          budgets_->SetLimit(fmt::format("acct-{:02}", a), category, limit(rng)));
    }
  }

  budgets_loop_ = std::make_unique<ConsumerLoop>(*budgets_, [this] {
    return bus_->OpenReader(std::string(budgets_->name()));
  });
  analytics_loop_ = std::make_unique<ConsumerLoop>(*analytics_, [this] {
    return bus_->OpenReader(std::string(analytics_->name()));
  });
  HERALD_RETURN_IF_ERROR(budgets_loop_->Start());
  HERALD_RETURN_IF_ERROR(analytics_loop_->Start());

  if (mode_ == Mode::kOutbox) {
    relay_ = std::make_unique<RelayProcess>(RelayArgs(), dir_);
    return relay_->Start();
  }
  PublisherOptions naive;
  naive.properties = bus_->PublisherOptions(/*naive=*/true);
  HERALD_ASSIGN_OR_RETURN(naive_publisher_, OpenPublisher(bus_->url(), naive));
  return OkStatus();
}

Status Run::Produce() {
  const auto interval = std::chrono::duration<double>(1.0 / settings_.rate);
  for (std::size_t i = 0; i < work_.size(); ++i) {
    std::this_thread::sleep_until(
        start_ + std::chrono::duration_cast<Steady::duration>(interval * static_cast<double>(i)));
    if (mode_ == Mode::kOutbox) {
      HERALD_ASSIGN_OR_RETURN(examples::Committed c, transactions_->Create(work_[i]));
      ledger_.Committed(c.event.id);
    } else {
      HERALD_ASSIGN_OR_RETURN(examples::Committed c, transactions_->SaveWithoutEvent(work_[i]));
      ledger_.Committed(c.event.id);
      naive_events_.push_back(std::move(c.event));
      naive_pending_++;
      naive_publisher_->Publish(std::span<const Event>(&naive_events_.back(), 1),
                                [this](std::size_t, Delivery d) {
                                  if (d.outcome != Outcome::kPublished) naive_failed_++;
                                  naive_pending_--;
                                });
    }
    progress_.committed++;
  }
  return OkStatus();
}

// The outage (on the mock cluster), and for the outbox the relay's death and
// restart.
void Run::Chaos(std::stop_token stop) {
  auto produce_time =
      std::chrono::duration<double>(static_cast<double>(work_.size()) / settings_.rate);
  auto down_at = start_ + std::chrono::duration_cast<Steady::duration>(produce_time * 0.3);
  auto sleep_until = [&](Steady::time_point t) {
    while (Steady::now() < t) {
      if (stop.stop_requested()) return false;
      std::this_thread::sleep_for(milliseconds(5));
    }
    return !stop.stop_requested();
  };
  if (!sleep_until(down_at)) return;
  if (settings_.outage_injected()) {
    bus_->TakeDown();
    progress_.bus_down = true;
    if (!sleep_until(down_at + settings_.outage)) return;
    bus_->BringUp();
    progress_.bus_down = false;
  }
  if (mode_ != Mode::kOutbox) return;

  // Kill the relay the moment its first batch after the outage (or, with no
  // outage, after this point) reaches the bus: it has published but not yet
  // settled. (Should nothing arrive, kill it all the same.)
  const std::int64_t seen = budgets_loop_->received();
  const auto give_up = Steady::now() + kDrainTimeout / 3;
  while (budgets_loop_->received() == seen && Steady::now() < give_up) {
    if (!sleep_until(Steady::now() + milliseconds(1))) return;
  }
  relay_->Kill();
  progress_.relay_dead = true;
  progress_.relay_kills++;
  if (!sleep_until(Steady::now() + kRelayDeadFor)) return;
  if (Status s = relay_->Start(); !s.ok()) {
    std::fprintf(stderr, "\nherald demo: %s\n", s.ToString().c_str());
    return;
  }
  progress_.relay_dead = false;
}

// Both consumers crash before committing any offset and read the topic again
// from the beginning: the bus delivers every event a second time, and the
// inbox must absorb each copy. Waits until each has seen every event again.
Status Run::ReadAgain() {
  if (!settings_.infra.bus.replays) return OkStatus();  // a webhook is pushed once
  progress_.reading_again = true;
  std::vector<std::pair<ConsumerLoop*, std::int64_t>> loops;
  for (ConsumerLoop* loop : {budgets_loop_.get(), analytics_loop_.get()}) {
    loops.emplace_back(loop, loop->received());
    HERALD_RETURN_IF_ERROR(loop->Restart());
  }
  const auto deadline = Steady::now() + kDrainTimeout;
  for (const auto& [loop, before] : loops) {
    while (loop->received() - before < loop->distinct() && Steady::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(20));
    }
  }
  return OkStatus();
}

void Run::WaitForConsumers(std::int64_t expected) {
  auto deadline = Steady::now() + kDrainTimeout;
  while (Steady::now() < deadline) {
    if (mode_ == Mode::kNaive && naive_pending_.load() == 0) {
      expected = static_cast<std::int64_t>(work_.size()) - naive_failed_.load();
    }
    bool relay_back = mode_ == Mode::kNaive || !progress_.relay_dead.load();
    if (relay_back && budgets_loop_->distinct() >= expected &&
        analytics_loop_->distinct() >= expected &&
        (mode_ == Mode::kOutbox || naive_pending_ == 0)) {
      // Let late duplicates arrive, so that the inbox's work is seen.
      std::this_thread::sleep_for(milliseconds(500));
      return;
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
}

std::string Run::ProgressText() const {
  std::string state = progress_.bus_down ? "  bus DOWN" : "";
  if (mode_ == Mode::kOutbox) {
    if (progress_.relay_dead)
      state += "  relay KILLED";
    else if (progress_.relay_kills > 0)
      state += "  relay restarted";
  } else if (naive_failed_ > 0) {
    state += fmt::format("  {} events dropped", naive_failed_.load());
  }
  if (progress_.reading_again) state += "  consumers restarted, reading it all again";
  return fmt::format("{:<6}  {:>5.1f}s  committed {:>5}/{}  budgets {:>5}  analytics {:>5}{}",
                     ModeName(mode_), std::chrono::duration<double>(Steady::now() - start_).count(),
                     progress_.committed.load(), work_.size(), budgets_loop_->distinct(),
                     analytics_loop_->distinct(), state);
}

// One updating line on a terminal; a line every two seconds otherwise.
void Run::ProgressLoop(std::stop_token stop) {
  const bool tty = ::isatty(STDERR_FILENO) == 1;
  auto next_line = Steady::now();
  while (!stop.stop_requested()) {
    if (tty) {
      std::fprintf(stderr, "\r%s\x1b[K", ProgressText().c_str());
    } else if (Steady::now() >= next_line) {
      std::fprintf(stderr, "%s\n", ProgressText().c_str());
      next_line += std::chrono::seconds(2);
    }
    std::fflush(stderr);
    std::this_thread::sleep_for(milliseconds(100));
  }
  std::fprintf(stderr, tty ? "\r%s\x1b[K\n" : "%s\n", ProgressText().c_str());
}

Result<RunReport> Run::Execute() {
  HERALD_RETURN_IF_ERROR(Setup());
  std::this_thread::sleep_for(kWarmUp);
  start_ = Steady::now();
  std::jthread progress([this](std::stop_token stop) { ProgressLoop(stop); });
  std::jthread chaos([this](std::stop_token stop) { Chaos(stop); });

  Status produced = Produce();
  if (produced.ok()) {
    chaos.join();  // the outage and the restart are part of the story
    WaitForConsumers(static_cast<std::int64_t>(work_.size()));
    budgets_duplicates_during_run_ = static_cast<std::int64_t>(budgets_->inbox_stats().duplicates);
    analytics_duplicates_during_run_ =
        static_cast<std::int64_t>(analytics_->inbox_stats().duplicates);
    produced = ReadAgain();
  }
  chaos.request_stop();
  if (chaos.joinable()) chaos.join();
  if (relay_) relay_->Terminate();
  naive_publisher_.reset();  // waits for, or gives up on, what it still holds
  budgets_loop_->Stop();
  analytics_loop_->Stop();
  progress.request_stop();
  progress.join();
  if (!produced.ok()) return std::unexpected(produced);
  Result<RunReport> report = Report();
  bus_->Remove();
  return report;
}

Result<RunReport> Run::Report() {
  RunReport r;
  r.mode = mode_;
  r.topic = topic_;
  r.bus = bus_->Describe();
  r.seconds = std::chrono::duration<double>(Steady::now() - start_).count();
  HERALD_ASSIGN_OR_RETURN(r.committed, transactions_->Count());

  auto consumer = [](EventConsumer& service, const ConsumerLoop& loop,
                     std::int64_t duplicates_during_run) -> Result<ConsumerReport> {
    ConsumerReport c;
    c.duplicates_during_run = duplicates_during_run;
    c.received = loop.received();
    c.distinct = loop.distinct();
    HERALD_ASSIGN_OR_RETURN(c.applied, service.Applied());
    c.duplicates = static_cast<std::int64_t>(service.inbox_stats().duplicates);
    c.errors = loop.errors();
    return c;
  };
  HERALD_ASSIGN_OR_RETURN(r.budgets,
                          consumer(*budgets_, *budgets_loop_, budgets_duplicates_during_run_));
  HERALD_ASSIGN_OR_RETURN(r.analytics, consumer(*analytics_, *analytics_loop_,
                                                analytics_duplicates_during_run_));
  r.lost = r.committed - std::min(r.budgets.distinct, r.analytics.distinct);
  r.double_applied = std::max<std::int64_t>(0, r.budgets.applied - r.budgets.distinct) +
                     std::max<std::int64_t>(0, r.analytics.applied - r.analytics.distinct);
  HERALD_ASSIGN_OR_RETURN(r.order_violations, budgets_->OrderViolations());

  HERALD_ASSIGN_OR_RETURN(auto committed_totals, transactions_->TotalsByAccount());
  HERALD_ASSIGN_OR_RETURN(auto spent, budgets_->SpentByAccount());
  std::set<std::string> accounts;
  for (const auto& [a, _] : committed_totals) accounts.insert(a);
  for (const auto& [a, _] : spent) accounts.insert(a);
  r.accounts = static_cast<int>(accounts.size());
  for (const std::string& a : accounts) {
    auto c = committed_totals.find(a);
    auto s = spent.find(a);
    std::int64_t want = c == committed_totals.end() ? 0 : c->second;
    std::int64_t got = s == spent.end() ? 0 : s->second;
    if (want == got) r.accounts_matching++;
  }
  HERALD_ASSIGN_OR_RETURN(auto over, budgets_->OverBudget());
  r.over_budget = static_cast<std::int64_t>(over.size());
  HERALD_ASSIGN_OR_RETURN(r.category_counts, analytics_->CategoryCounts());

  std::map<EventId, Steady::time_point> committed_at = ledger_.Get();
  std::vector<double> latencies;
  for (const auto& [id, applied] : budgets_loop_->applied_at()) {
    auto c = committed_at.find(id);
    if (c == committed_at.end()) continue;
    latencies.push_back(std::chrono::duration<double, std::milli>(applied - c->second).count());
  }
  r.p50_ms = Percentile(latencies, 0.50);
  r.p99_ms = Percentile(latencies, 0.99);
  r.naive_publish_failures = naive_failed_.load();
  r.relay_kills = progress_.relay_kills.load();
  r.consumer_restarts = budgets_loop_->restarts();
  return r;
}

}  // namespace

const char* ModeName(Mode mode) { return mode == Mode::kNaive ? "naive" : "outbox"; }

std::vector<std::string> PostgresSchemas() {
  return {kTransactionsSchema, kBudgetsSchema, kAnalyticsSchema, kOutboxSchema};
}

Result<RunReport> ExecuteRun(Mode mode, const Settings& settings,
                             const std::vector<examples::CreateTransaction>& work,
                             const std::filesystem::path& dir) {
  Run run(mode, settings, work, dir);
  return run.Execute();
}

}  // namespace herald::cli::demo
