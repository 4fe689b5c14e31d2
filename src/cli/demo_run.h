// One run of `herald demo`: the example system (examples/services) on one
// seeded workload, as a naive dual write or with the outbox, with its own
// databases (SQLite files or PostgreSQL schemas) and bus (demo_bus.h). See
// docs/demo.md for the story and demo.cc for the command.
#ifndef HERALD_CLI_DEMO_RUN_H_
#define HERALD_CLI_DEMO_RUN_H_

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "cli/demo_bus.h"
#include "herald/status.h"
#include "services/transaction_event.h"

namespace herald::cli::demo {

// The PostgreSQL schemas of a run: each service's tables (and inbox), and
// Herald's outbox. Dropped and made again at the start of every run.
inline constexpr const char* kTransactionsSchema = "herald_demo_transactions";
inline constexpr const char* kBudgetsSchema = "herald_demo_budgets";
inline constexpr const char* kAnalyticsSchema = "herald_demo_analytics";
inline constexpr const char* kOutboxSchema = "herald_demo_outbox";
std::vector<std::string> PostgresSchemas();

// The categories of the workload's transactions and of the budget limits.
inline constexpr const char* kCategories[] = {"groceries", "rent", "travel", "fun", "utilities"};

// Where the runs keep their data and send their events.
struct Infrastructure {
  // libpq's URL of the database (without Herald's parameters) and the same
  // for display (password hidden); empty: SQLite files in the run's directory.
  std::string pg_url, pg_display;
  // The bus (demo_bus.h).
  BusChoice bus;

  bool postgres() const { return !pg_url.empty(); }
  bool external_bus() const { return bus.external(); }
};

struct Settings {
  double rate = 200;
  std::chrono::milliseconds outage{3000};  // not injected on an external bus
  std::uint64_t seed = 1;
  int accounts = 20;
  Infrastructure infra;

  bool outage_injected() const { return infra.bus.self_hosted && outage.count() > 0; }
};

enum class Mode { kNaive, kOutbox };
const char* ModeName(Mode mode);

struct ConsumerReport {
  std::int64_t received = 0;    // messages, duplicates included
  std::int64_t distinct = 0;    // distinct events received and applied
  std::int64_t applied = 0;     // effects in the consumer's database
  std::int64_t duplicates = 0;  // skipped by the inbox
  // Of those, the ones delivered during the story (the bus's own duplicates,
  // before the consumers re-read the topic from the beginning).
  std::int64_t duplicates_during_run = 0;
  std::int64_t errors = 0;
};

struct RunReport {
  Mode mode = Mode::kNaive;
  std::string topic;
  std::string bus;  // DemoBus::Describe()
  std::int64_t committed = 0;
  ConsumerReport budgets, analytics;
  std::int64_t lost = 0;            // committed events never received
  std::int64_t double_applied = 0;  // effects beyond one per event
  std::int64_t order_violations = 0;
  int accounts_matching = 0, accounts = 0;
  std::int64_t naive_publish_failures = 0;
  int relay_kills = 0;
  int consumer_restarts = 0;  // each consumer's: re-read the topic from the beginning
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

// Runs `work` through the system in `mode`; SQLite files and relay logs go
// to `dir`. The error of the first step that failed (a database or bus that
// cannot be reached, a relay that cannot start).
Result<RunReport> ExecuteRun(Mode mode, const Settings& settings,
                             const std::vector<examples::CreateTransaction>& work,
                             const std::filesystem::path& dir);

}  // namespace herald::cli::demo

#endif  // HERALD_CLI_DEMO_RUN_H_
