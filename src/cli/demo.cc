// `herald demo`: the dual write and the outbox side by side, on embedded
// defaults. The example system (examples/services: Transactions, Budgets,
// Analytics) runs twice on the same seeded workload, each time with SQLite
// databases in a temporary directory and librdkafka's in-process mock
// cluster as the bus, which goes down for --outage in the middle of the run:
//
//  naive   the Transactions service saves the row, then produces the event
//          itself; it gives the bus a bounded time (a request cannot wait
//          forever), and an event the bus did not take in that time is gone.
//  outbox  the row and the event commit in one transaction; `herald relay`
//          runs as a child process and is killed with SIGKILL while its
//          first batch after the outage is on the bus, then started again.
//
// Budgets and Analytics read the topic with librdkafka consumers and apply
// every event through the inbox. At the end both runs are checked against
// the Transactions database; the demo exits 1 if the outbox run lost an
// event, applied one twice, broke per-account order or left a budget that is
// not the sum of its account's committed transactions.
#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/config.h"
#include "core/macros.h"
#include "herald/publisher.h"
#include "publish/kafka/mock_cluster.h"
#include "services/consumers.h"
#include "services/kafka_reader.h"
#include "services/transactions.h"

extern char** environ;

namespace herald::cli {
namespace {

using examples::AnalyticsService;
using examples::BudgetsService;
using examples::EventConsumer;
using examples::KafkaReader;
using examples::TransactionsService;
using publish::testing::MockCluster;
using Steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int kTopicPartitions = 4;
constexpr int kBrokers = 3;
// How long the naive service lets the bus take an event before it gives up.
constexpr milliseconds kNaiveDeliveryTimeout{1000};
// A broker of the mock cluster that is set down keeps its connections open
// and answers nothing: clients notice within this (librdkafka's default is 60 s).
constexpr milliseconds kSocketTimeout{1500};
// How long the killed relay stays dead.
constexpr milliseconds kRelayDeadFor{1000};
// Longest wait for the consumers to catch up once every command is in.
constexpr milliseconds kDrainTimeout{30000};

const char* const kCategories[] = {"groceries", "rent", "travel", "fun", "utilities"};

struct DemoOptions {
  long transactions = 2000;
  double rate = 200;
  std::string outage_text = "3s";
  milliseconds outage{3000};
  std::uint64_t seed = 1;
  int accounts = 20;
  bool json = false;
  bool keep = false;
  std::string db;
  std::string publisher;
};

enum class Mode { kNaive, kOutbox };

const char* ModeName(Mode mode) { return mode == Mode::kNaive ? "naive" : "outbox"; }

// ---- the workload -----------------------------------------------------------

// The same commands for both runs: accounts, amounts and categories drawn
// from the seed.
std::vector<examples::CreateTransaction> MakeWorkload(const DemoOptions& o) {
  std::mt19937_64 rng(o.seed);
  std::uniform_int_distribution<int> account(0, o.accounts - 1);
  std::uniform_int_distribution<int> category(0, std::size(kCategories) - 1);
  std::lognormal_distribution<double> amount(7.5, 1.0);  // cents; median about 18 units
  std::vector<examples::CreateTransaction> out;
  out.reserve(static_cast<std::size_t>(o.transactions));
  for (long i = 0; i < o.transactions; ++i) {
    out.push_back({fmt::format("acct-{:02}", account(rng)),
                   std::max<std::int64_t>(1, std::llround(amount(rng))),
                   kCategories[category(rng)]});
  }
  return out;
}

// ---- what the consumers saw ---------------------------------------------

// One consumer service reading the topic on a thread of its own.
class ConsumerLoop {
 public:
  ConsumerLoop(EventConsumer& service, std::unique_ptr<KafkaReader> reader)
      : service_(service), reader_(std::move(reader)) {}

  void Start() {
    thread_ = std::jthread([this](std::stop_token stop) { Run(stop); });
  }
  void Stop() {
    thread_.request_stop();
    if (thread_.joinable()) thread_.join();
  }

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
  std::unique_ptr<KafkaReader> reader_;
  std::atomic<std::int64_t> received_{0};
  std::atomic<std::int64_t> errors_{0};
  mutable std::mutex mu_;
  std::map<EventId, Steady::time_point> applied_at_;  // guarded by mu_
  std::jthread thread_;
};

// ---- `herald relay` as a child process ------------------------------------

class RelayProcess {
 public:
  RelayProcess(std::string db_path, std::string bus_url, std::filesystem::path log_dir)
      : db_path_(std::move(db_path)), bus_url_(std::move(bus_url)), log_dir_(std::move(log_dir)) {}
  ~RelayProcess() { Kill(); }

  Status Start() {
    std::vector<std::string> args = {"herald",
                                     "relay",
                                     "--db",
                                     "sqlite:" + db_path_,
                                     "--publisher",
                                     bus_url_,
                                     "--publisher-option",
                                     "reconnect.backoff.max.ms=500",
                                     "--publisher-option",
                                     fmt::format("socket.timeout.ms={}", kSocketTimeout.count()),
                                     "--backoff-max",
                                     "1s",
                                     "--poll-interval",
                                     "100ms",
                                     "--log-level",
                                     "warn"};
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

  std::string db_path_, bus_url_;
  std::filesystem::path log_dir_;
  pid_t pid_ = -1;
  int starts_ = 0;
};

// ---- one run ----------------------------------------------------------------

struct ConsumerReport {
  std::int64_t received = 0;    // messages, duplicates included
  std::int64_t distinct = 0;    // distinct events received and applied
  std::int64_t applied = 0;     // effects in the consumer's database
  std::int64_t duplicates = 0;  // skipped by the inbox
  std::int64_t errors = 0;
};

struct RunReport {
  Mode mode = Mode::kNaive;
  std::int64_t committed = 0;
  ConsumerReport budgets, analytics;
  std::int64_t lost = 0;            // committed events never received
  std::int64_t double_applied = 0;  // effects beyond one per event
  std::int64_t order_violations = 0;
  int accounts_matching = 0, accounts = 0;
  std::int64_t naive_publish_failures = 0;
  int relay_kills = 0;
  double p50_ms = 0, p99_ms = 0;
  std::int64_t over_budget = 0;
  std::map<std::string, std::int64_t> category_counts;
  double seconds = 0;

  bool budgets_match() const { return accounts_matching == accounts; }
  bool ok() const {
    return lost == 0 && double_applied == 0 && order_violations == 0 && budgets_match() &&
           budgets.errors == 0 && analytics.errors == 0;
  }
};

// The state a run shares with its progress line.
struct Progress {
  std::atomic<long> committed{0};
  std::atomic<bool> bus_down{false};
  std::atomic<bool> relay_dead{false};
  std::atomic<int> relay_kills{0};
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
  Run(Mode mode, const DemoOptions& options, const std::vector<examples::CreateTransaction>& work,
      std::filesystem::path dir)
      : mode_(mode), options_(options), work_(work), dir_(std::move(dir)) {}

  Result<RunReport> Execute();

 private:
  Status Setup();
  Status Produce();
  void Chaos(std::stop_token stop);
  void WaitForConsumers(std::int64_t expected);
  Result<RunReport> Report();
  void ProgressLoop(std::stop_token stop);
  std::string ProgressText() const;

  const Mode mode_;
  const DemoOptions& options_;
  const std::vector<examples::CreateTransaction>& work_;
  const std::filesystem::path dir_;
  Steady::time_point start_;

  MockCluster cluster_{kBrokers};
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
};

Status Run::Setup() {
  std::filesystem::create_directories(dir_);
  cluster_.CreateTopic(std::string(examples::kTransactionsTopic), kTopicPartitions, kBrokers);
  HERALD_ASSIGN_OR_RETURN(transactions_,
                          TransactionsService::Open((dir_ / "transactions.db").string()));
  HERALD_ASSIGN_OR_RETURN(budgets_, BudgetsService::Open((dir_ / "budgets.db").string()));
  HERALD_ASSIGN_OR_RETURN(analytics_, AnalyticsService::Open((dir_ / "analytics.db").string()));

  // A monthly limit per account and category, drawn from the seed.
  std::mt19937_64 rng(options_.seed ^ 0x9e3779b97f4a7c15ull);
  std::uniform_int_distribution<std::int64_t> limit(5'000, 60'000);
  for (int a = 0; a < options_.accounts; ++a) {
    for (const char* category : kCategories) {
      HERALD_RETURN_IF_ERROR(
          budgets_->SetLimit(fmt::format("acct-{:02}", a), category, limit(rng)));
    }
  }

  const std::map<std::string, std::string> reader_properties = {
      {"reconnect.backoff.max.ms", "500"},
      {"fetch.wait.max.ms", "20"},
      {"fetch.error.backoff.ms", "100"},
      {"socket.timeout.ms", std::to_string(kSocketTimeout.count())},
      {"log_level", "0"}};  // the outage is expected: keep the terminal for the story
  const std::string topic(examples::kTransactionsTopic);
  HERALD_ASSIGN_OR_RETURN(std::unique_ptr<KafkaReader> budgets_reader,
                          KafkaReader::Open(cluster_.bootstraps(), topic, reader_properties));
  HERALD_ASSIGN_OR_RETURN(std::unique_ptr<KafkaReader> analytics_reader,
                          KafkaReader::Open(cluster_.bootstraps(), topic, reader_properties));
  budgets_loop_ = std::make_unique<ConsumerLoop>(*budgets_, std::move(budgets_reader));
  analytics_loop_ = std::make_unique<ConsumerLoop>(*analytics_, std::move(analytics_reader));

  if (mode_ == Mode::kOutbox) {
    relay_ = std::make_unique<RelayProcess>(transactions_->path(), cluster_.url(), dir_);
    return relay_->Start();
  }
  PublisherOptions naive;
  naive.properties = {{"message.timeout.ms", std::to_string(kNaiveDeliveryTimeout.count())},
                      {"socket.timeout.ms", std::to_string(kSocketTimeout.count())},
                      {"reconnect.backoff.max.ms", "500"}};
  HERALD_ASSIGN_OR_RETURN(naive_publisher_, OpenPublisher(cluster_.url(), naive));
  return OkStatus();
}

// Sends the commands at the chosen rate. Outbox: row and event in one
// transaction. Naive: the row, then the event straight to the bus.
Status Run::Produce() {
  const auto interval = std::chrono::duration<double>(1.0 / options_.rate);
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

// The outage, and for the outbox the relay's death and restart.
void Run::Chaos(std::stop_token stop) {
  auto produce_time =
      std::chrono::duration<double>(static_cast<double>(work_.size()) / options_.rate);
  auto down_at = start_ + std::chrono::duration_cast<Steady::duration>(produce_time * 0.3);
  auto sleep_until = [&](Steady::time_point t) {
    while (Steady::now() < t) {
      if (stop.stop_requested()) return false;
      std::this_thread::sleep_for(milliseconds(5));
    }
    return !stop.stop_requested();
  };
  if (!sleep_until(down_at)) return;
  cluster_.SetAllBrokersDown();
  progress_.bus_down = true;
  if (!sleep_until(down_at + options_.outage)) return;
  cluster_.SetAllBrokersUp();
  progress_.bus_down = false;
  if (mode_ != Mode::kOutbox) return;

  // Kill the relay the moment its first batch after the outage reaches the
  // bus: it has published but not yet settled. (Should nothing arrive, as
  // when everything was relayed before the outage, kill it all the same.)
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
  start_ = Steady::now();
  budgets_loop_->Start();
  analytics_loop_->Start();
  std::jthread progress([this](std::stop_token stop) { ProgressLoop(stop); });
  std::jthread chaos([this](std::stop_token stop) { Chaos(stop); });

  Status produced = Produce();
  if (produced.ok()) {
    chaos.join();  // the outage and the restart are part of the story
    WaitForConsumers(static_cast<std::int64_t>(work_.size()));
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
  return Report();
}

Result<RunReport> Run::Report() {
  RunReport r;
  r.mode = mode_;
  r.seconds = std::chrono::duration<double>(Steady::now() - start_).count();
  HERALD_ASSIGN_OR_RETURN(r.committed, transactions_->Count());

  auto consumer = [](EventConsumer& service, const ConsumerLoop& loop) -> Result<ConsumerReport> {
    ConsumerReport c;
    c.received = loop.received();
    c.distinct = loop.distinct();
    HERALD_ASSIGN_OR_RETURN(c.applied, service.Applied());
    c.duplicates = static_cast<std::int64_t>(service.inbox_stats().duplicates);
    c.errors = loop.errors();
    return c;
  };
  HERALD_ASSIGN_OR_RETURN(r.budgets, consumer(*budgets_, *budgets_loop_));
  HERALD_ASSIGN_OR_RETURN(r.analytics, consumer(*analytics_, *analytics_loop_));
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
  return r;
}

// ---- output -----------------------------------------------------------------

std::string Latency(double ms) {
  return ms >= 1000 ? fmt::format("{:.2f} s", ms / 1000) : fmt::format("{:.0f} ms", ms);
}

void PrintTable(const DemoOptions& o, const RunReport& naive, const RunReport& outbox) {
  auto row = [](const std::string& what, const std::string& a, const std::string& b) {
    std::printf("%-46s %18s %18s\n", what.c_str(), a.c_str(), b.c_str());
  };
  auto num = [](std::int64_t n) { return std::to_string(n); };
  auto yes = [](bool b) { return std::string(b ? "yes" : "NO"); };
  std::printf("\n%ld transactions at %.0f/s, bus down for %s, seed %llu\n\n", o.transactions,
              o.rate, o.outage_text.c_str(), static_cast<unsigned long long>(o.seed));
  row("", "naive dual write", "herald outbox");
  row("transactions committed", num(naive.committed), num(outbox.committed));
  row("events received by Budgets", num(naive.budgets.distinct), num(outbox.budgets.distinct));
  row("events received by Analytics", num(naive.analytics.distinct),
      num(outbox.analytics.distinct));
  row("events lost", num(naive.lost), num(outbox.lost));
  row("duplicates delivered (Budgets / Analytics)",
      fmt::format("{} / {}", naive.budgets.duplicates, naive.analytics.duplicates),
      fmt::format("{} / {}", outbox.budgets.duplicates, outbox.analytics.duplicates));
  row("duplicates absorbed by the inbox",
      num(naive.budgets.duplicates + naive.analytics.duplicates),
      num(outbox.budgets.duplicates + outbox.analytics.duplicates));
  row("effects applied twice", num(naive.double_applied), num(outbox.double_applied));
  row("every budget = sum of committed transactions",
      fmt::format("{} ({}/{})", yes(naive.budgets_match()), naive.accounts_matching,
                  naive.accounts),
      fmt::format("{} ({}/{})", yes(outbox.budgets_match()), outbox.accounts_matching,
                  outbox.accounts));
  row("per-account order kept", yes(naive.order_violations == 0),
      yes(outbox.order_violations == 0));
  row("commit-to-consumed latency p50", Latency(naive.p50_ms), Latency(outbox.p50_ms));
  row("commit-to-consumed latency p99", Latency(naive.p99_ms), Latency(outbox.p99_ms));
  row("relay killed (SIGKILL) and restarted", "-", fmt::format("{}x", outbox.relay_kills));
  std::printf("\nBudgets: %lld account/category limits exceeded (outbox run). Analytics:",
              static_cast<long long>(outbox.over_budget));
  for (const auto& [category, n] : outbox.category_counts) {
    std::printf(" %s %lld", category.c_str(), static_cast<long long>(n));
  }
  std::printf(".\n\n");
  if (outbox.ok()) {
    std::printf(
        "outbox: every committed transaction reached Budgets and Analytics exactly once, "
        "in order per account.\n");
  } else {
    std::printf(
        "outbox: FAILED its own check: %lld lost, %lld applied twice, %lld out of "
        "order, %d/%d budgets right, %lld consumer errors.\n",
        static_cast<long long>(outbox.lost), static_cast<long long>(outbox.double_applied),
        static_cast<long long>(outbox.order_violations), outbox.accounts_matching, outbox.accounts,
        static_cast<long long>(outbox.budgets.errors + outbox.analytics.errors));
  }
  std::fflush(stdout);
}

nlohmann::json ToJson(const RunReport& r) {
  auto consumer = [](const ConsumerReport& c) {
    return nlohmann::json{{"received", c.received},
                          {"distinct", c.distinct},
                          {"applied", c.applied},
                          {"duplicates", c.duplicates},
                          {"errors", c.errors}};
  };
  return {{"committed", r.committed},
          {"budgets", consumer(r.budgets)},
          {"analytics", consumer(r.analytics)},
          {"lost", r.lost},
          {"double_applied", r.double_applied},
          {"order_violations", r.order_violations},
          {"budgets_match", r.budgets_match()},
          {"accounts", r.accounts},
          {"accounts_matching", r.accounts_matching},
          {"publish_failures", r.naive_publish_failures},
          {"relay_kills", r.relay_kills},
          {"latency_ms", {{"p50", r.p50_ms}, {"p99", r.p99_ms}}},
          {"over_budget", r.over_budget},
          {"seconds", r.seconds},
          {"ok", r.ok()}};
}

// ---- the command ------------------------------------------------------------

class TempDirectory {
 public:
  explicit TempDirectory(bool keep) : keep_(keep) {}
  ~TempDirectory() {
    if (!path_.empty() && !keep_) {
      std::error_code ec;
      std::filesystem::remove_all(path_, ec);
    }
  }
  Status Make() {
    std::string pattern = (std::filesystem::temp_directory_path() / "herald-demo-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      return Unavailable(
          fmt::format("cannot make a temporary directory: {}", std::strerror(errno)));
    }
    path_ = pattern;
    return OkStatus();
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  bool keep_;
  std::filesystem::path path_;
};

Status CheckOptions(DemoOptions& o) {
  if (!o.db.empty() || !o.publisher.empty()) {
    return FailedPrecondition(
        "--db and --publisher are not supported yet: `herald demo` runs on SQLite and an "
        "in-process Kafka mock cluster only");
  }
  if (o.transactions < 1 || o.transactions > 1'000'000) {
    return InvalidArgument("--transactions must be between 1 and 1000000");
  }
  if (!(o.rate > 0 && o.rate <= 100'000)) return InvalidArgument("--rate must be in (0, 100000]");
  if (o.accounts < 1 || o.accounts > 10'000) {
    return InvalidArgument("--accounts must be between 1 and 10000");
  }
  Result<milliseconds> outage = ParseDuration(o.outage_text);
  if (!outage) return InvalidArgument("--outage: " + outage.error().message());
  o.outage = *outage;
  return OkStatus();
}

int RunDemo(DemoOptions o) {
  if (Status s = CheckOptions(o); !s.ok()) return Fail(s, kExitUsage);
  // The bus's outage is part of the story, not news: only errors are logged.
  spdlog::set_level(spdlog::level::err);
  TempDirectory dir(o.keep);
  if (Status s = dir.Make(); !s.ok()) return Fail(s, kExitFailure);
  if (o.keep) std::fprintf(stderr, "databases and relay logs in %s\n", dir.path().c_str());
  const std::vector<examples::CreateTransaction> work = MakeWorkload(o);

  std::map<Mode, RunReport> reports;
  for (Mode mode : {Mode::kNaive, Mode::kOutbox}) {
    Run run(mode, o, work, dir.path() / ModeName(mode));
    Result<RunReport> report = run.Execute();
    if (!report) return Fail(report.error().WithContext(ModeName(mode)), kExitFailure);
    reports[mode] = *report;
  }
  const RunReport& naive = reports[Mode::kNaive];
  const RunReport& outbox = reports[Mode::kOutbox];
  if (o.json) {
    nlohmann::json j = {{"transactions", o.transactions},
                        {"rate", o.rate},
                        {"outage_ms", o.outage.count()},
                        {"seed", o.seed},
                        {"naive", ToJson(naive)},
                        {"outbox", ToJson(outbox)},
                        {"ok", outbox.ok()}};
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    PrintTable(o, naive, outbox);
  }
  return outbox.ok() ? kExitOk : kExitFailure;
}

}  // namespace

void AddDemoCommand(CLI::App& app, Action* chosen) {
  CLI::App* cmd = app.add_subcommand(
      "demo",
      "Run the example system twice, as a naive dual write and with the outbox, while the bus "
      "goes down and the relay is killed; print what each run lost (exit 1 if the outbox did)");
  auto o = std::make_shared<DemoOptions>();
  cmd->add_option("--transactions", o->transactions, "transactions to create (default 2000)");
  cmd->add_option("--rate", o->rate, "transactions per second (default 200)");
  cmd->add_option("--outage", o->outage_text, "how long the bus is down, e.g. 3s (default 3s)");
  cmd->add_option("--seed", o->seed, "seed of the workload (default 1)");
  cmd->add_option("--accounts", o->accounts, "accounts the transactions spread over (default 20)");
  cmd->add_flag("--json", o->json, "print the results as JSON instead of a table");
  cmd->add_flag("--keep", o->keep, "keep the temporary databases and relay logs");
  cmd->add_option("--db", o->db, "a real database (not supported yet)");
  cmd->add_option("--publisher", o->publisher, "a real bus (not supported yet)");
  OnChosen(cmd, chosen, [o] { return RunDemo(*o); });
}

}  // namespace herald::cli
