// `herald demo`: the dual write and the outbox side by side. The example
// system (examples/services: Transactions, Budgets, Analytics) runs twice on
// the same seeded workload (demo_run.h):
//
//  naive   the Transactions service saves the row, then produces the event
//          itself; it gives the bus a bounded time (a request cannot wait
//          forever), and an event the bus did not take in that time is gone.
//  outbox  the row and the event commit in one transaction; `herald relay`
//          runs as a child process and is killed with SIGKILL while its
//          first batch after the outage is on the bus, then started again.
//
// By default the databases are SQLite files in a temporary directory and the
// bus is librdkafka's in-process mock cluster, which goes down for --outage in
// the middle of the run. --db postgres://... puts every service in a schema of
// its own on that database; --publisher kafka://..., nats://... or amqp://...
// uses an external bus (a topic, stream or exchange of its own per run; the
// demo cannot take it down, so no outage is injected there).
//
// Budgets and Analytics read the run's topic from the bus (demo_bus.h) and
// apply every event through the inbox. At the end both runs are checked against
// the Transactions database; the demo exits 1 if the outbox run lost an
// event, applied one twice, broke per-account order or left a budget that is
// not the sum of its account's committed transactions.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/config.h"
#include "cli/demo_run.h"
#include "core/macros.h"
#include "herald/publisher.h"
#include "services/database.h"
#ifdef HERALD_WITH_POSTGRES
#include "store/postgres/pg_url.h"
#endif

namespace herald::cli {
namespace {

using demo::Mode;
using demo::ModeName;
using demo::RunReport;
using demo::ConsumerReport;
using demo::kCategories;
using std::chrono::milliseconds;

constexpr const char* kOutageNotInjected =
    "not injected (external bus: stop a broker or server during the run to see it)";

struct DemoOptions {
  long transactions = 2000;
  std::string outage_text = "3s";
  bool outage_given = false;
  bool json = false;
  bool keep = false;
  std::string db;
  std::string publisher;
  std::vector<std::string> publisher_options;
  demo::Settings settings;
};

// ---- the workload -----------------------------------------------------------

// The same commands for both runs: accounts, amounts and categories drawn
// from the seed.
std::vector<examples::CreateTransaction> MakeWorkload(const DemoOptions& o) {
  std::mt19937_64 rng(o.settings.seed);
  std::uniform_int_distribution<int> account(0, o.settings.accounts - 1);
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

// ---- output -----------------------------------------------------------------

std::string DatabaseText(const DemoOptions& o) {
  const demo::Infrastructure& infra = o.settings.infra;
  if (!infra.postgres()) return "SQLite files in a temporary directory";
  return fmt::format("PostgreSQL {}, schemas herald_demo_*", infra.pg_display);
}


std::string OutageText(const DemoOptions& o) {
  if (!o.settings.infra.bus.self_hosted) return kOutageNotInjected;
  if (!o.settings.outage_injected()) return "none (--outage 0)";
  return fmt::format("{} down for {}, 30% of the way through", o.settings.infra.bus.outage_subject,
                     o.outage_text);
}

std::string Latency(double ms) {
  return ms >= 1000 ? fmt::format("{:.2f} s", ms / 1000) : fmt::format("{:.0f} ms", ms);
}

void PrintTable(const DemoOptions& o, const RunReport& naive, const RunReport& outbox) {
  const std::string& bus = outbox.bus;
  auto row = [](const std::string& what, const std::string& a, const std::string& b) {
    std::printf("%-46s %18s %18s\n", what.c_str(), a.c_str(), b.c_str());
  };
  auto num = [](std::int64_t n) { return std::to_string(n); };
  auto yes = [](bool b) { return std::string(b ? "yes" : "NO"); };
  std::printf("\n%ld transactions at %.0f/s, seed %llu\n", o.transactions, o.settings.rate,
              static_cast<unsigned long long>(o.settings.seed));
  std::printf("database: %s\nbus:      %s\noutage:   %s\n\n", DatabaseText(o).c_str(),
              bus.c_str(), OutageText(o).c_str());
  row("", "naive dual write", "herald outbox");
  row("transactions committed", num(naive.committed), num(outbox.committed));
  row("events received by Budgets", num(naive.budgets.distinct), num(outbox.budgets.distinct));
  row("events received by Analytics", num(naive.analytics.distinct),
      num(outbox.analytics.distinct));
  row("events lost", num(naive.lost), num(outbox.lost));
  row("duplicates during the run (Budgets/Analytics)",
      fmt::format("{} / {}", naive.budgets.duplicates_during_run,
                  naive.analytics.duplicates_during_run),
      fmt::format("{} / {}", outbox.budgets.duplicates_during_run,
                  outbox.analytics.duplicates_during_run));
  row("absorbed by the inbox, re-reading included",
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
  if (o.settings.infra.bus.replays) {
    row("consumers restarted, reading from the start", fmt::format("{}x", naive.consumer_restarts),
        fmt::format("{}x", outbox.consumer_restarts));
  } else {
    row("consumers restarted, reading from the start", "- (pushed once)", "- (pushed once)");
  }
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
                          {"duplicates_during_run", c.duplicates_during_run},
                          {"errors", c.errors}};
  };
  return {{"topic", r.topic},
          {"committed", r.committed},
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
          {"consumer_restarts", r.consumer_restarts},
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

Status ParsePublisherOptions(DemoOptions& o) {
  for (const std::string& kv : o.publisher_options) {
    std::size_t eq = kv.find('=');
    if (eq == 0 || eq == std::string::npos) {
      return InvalidArgument(fmt::format("--publisher-option '{}': expected KEY=VALUE", kv));
    }
    o.settings.infra.bus.options[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return OkStatus();
}

// --publisher: empty (the mock cluster) or a bus the consumers can read.
Status CheckPublisher(DemoOptions& o) {
  o.settings.infra.bus.url = o.publisher;
  HERALD_RETURN_IF_ERROR(demo::CheckBusChoice(o.settings.infra.bus));
  if (!o.settings.infra.bus.self_hosted && o.outage_given) {
    return InvalidArgument(
        "--outage: the demo cannot take an external bus down; leave --outage out and stop a "
        "broker or server yourself during the run");
  }
  return OkStatus();
}

// --db: empty (SQLite files) or postgres://...
Status CheckDb(DemoOptions& o) {
  if (o.db.empty()) return OkStatus();
  if (!o.db.starts_with("postgres://") && !o.db.starts_with("postgresql://")) {
    return InvalidArgument(fmt::format(
        "--db '{}': the demo runs on PostgreSQL (postgres://...) or, without --db, on SQLite "
        "files of its own",
        o.db));
  }
#ifdef HERALD_WITH_POSTGRES
  Result<pg_internal::PgUrl> url = pg_internal::ParsePgUrl(o.db);
  if (!url) return InvalidArgument("--db: " + url.error().message());
  if (o.db.find("schema=") != std::string::npos) {
    return InvalidArgument(
        "--db: leave ?schema= out: the demo keeps its tables in schemas herald_demo_*");
  }
  o.settings.infra.pg_url = url->conninfo;
  o.settings.infra.pg_display = url->display;
  return OkStatus();
#else
  return InvalidArgument("--db: this build of Herald has no PostgreSQL support");
#endif
}

Status CheckOptions(DemoOptions& o) {
  if (o.transactions < 1 || o.transactions > 1'000'000) {
    return InvalidArgument("--transactions must be between 1 and 1000000");
  }
  if (!(o.settings.rate > 0 && o.settings.rate <= 100'000)) {
    return InvalidArgument("--rate must be in (0, 100000]");
  }
  if (o.settings.accounts < 1 || o.settings.accounts > 10'000) {
    return InvalidArgument("--accounts must be between 1 and 10000");
  }
  Result<milliseconds> outage = ParseDuration(o.outage_text);
  if (!outage) return InvalidArgument("--outage: " + outage.error().message());
  o.settings.outage = *outage;
  HERALD_RETURN_IF_ERROR(ParsePublisherOptions(o));
  HERALD_RETURN_IF_ERROR(CheckPublisher(o));
  return CheckDb(o);
}

// Drops the PostgreSQL schemas at the end, unless they are to be kept. After
// a failed run, whose error was reported already, a failure to drop is not.
class PostgresCleanup {
 public:
  PostgresCleanup(const demo::Infrastructure& infra, bool keep) : infra_(infra), keep_(keep) {}
  ~PostgresCleanup() {
    if (!infra_.postgres() || keep_) return;
    if (Status s = examples::DropPostgresSchemas(infra_.pg_url, demo::PostgresSchemas());
        !s.ok() && !failed_) {
      std::fprintf(stderr, "herald demo: could not drop the schemas herald_demo_*: %s\n",
                   s.ToString().c_str());
    }
  }
  void Failed() { failed_ = true; }

 private:
  const demo::Infrastructure& infra_;
  bool keep_;
  bool failed_ = false;
};

int RunDemo(DemoOptions o) {
  if (Status s = CheckOptions(o); !s.ok()) return Fail(s, kExitUsage);
  // The bus's outage is part of the story, not news: only errors are logged.
  spdlog::set_level(spdlog::level::err);
  SetLogLevel(LogLevel::kError);
  TempDirectory dir(o.keep);
  if (Status s = dir.Make(); !s.ok()) return Fail(s, kExitFailure);
  if (o.keep) {
    std::fprintf(stderr, "databases and relay logs in %s%s\n", dir.path().c_str(),
                 o.settings.infra.postgres() ? " (the outbox run's tables in schemas herald_demo_*)"
                                             : "");
  }
  const std::vector<examples::CreateTransaction> work = MakeWorkload(o);

  PostgresCleanup cleanup(o.settings.infra, o.keep);
  std::map<Mode, RunReport> reports;
  for (Mode mode : {Mode::kNaive, Mode::kOutbox}) {
    Result<RunReport> report = demo::ExecuteRun(mode, o.settings, work, dir.path() / ModeName(mode));
    if (!report) {
      cleanup.Failed();
      return Fail(report.error().WithContext(ModeName(mode)), kExitFailure);
    }
    reports[mode] = *report;
  }
  const RunReport& naive = reports[Mode::kNaive];
  const RunReport& outbox = reports[Mode::kOutbox];
  if (o.json) {
    nlohmann::json j = {{"transactions", o.transactions},
                        {"rate", o.settings.rate},
                        {"outage_ms", o.settings.outage_injected() ? o.settings.outage.count() : 0},
                        {"outage_injected", o.settings.outage_injected()},
                        {"outage", OutageText(o)},
                        {"database", DatabaseText(o)},
                        {"bus", outbox.bus},
                        {"seed", o.settings.seed},
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
  cmd->add_option("--rate", o->settings.rate, "transactions per second (default 200)");
  CLI::Option* outage =
      cmd->add_option("--outage", o->outage_text, "how long the bus is down, e.g. 3s (default 3s)");
  cmd->add_option("--seed", o->settings.seed, "seed of the workload (default 1)");
  cmd->add_option("--accounts", o->settings.accounts,
                  "accounts the transactions spread over (default 20)");
  cmd->add_flag("--json", o->json, "print the results as JSON instead of a table");
  cmd->add_flag("--keep", o->keep,
                "keep the temporary databases, relay logs and PostgreSQL schemas");
  cmd->add_option("--db", o->db,
                  "PostgreSQL instead of SQLite files: postgres://USER@HOST:PORT/DB (the demo "
                  "makes and drops schemas herald_demo_*)")
      ->type_name("URL");
  cmd->add_option("--publisher", o->publisher,
                  "an external bus instead of the in-process Kafka mock: " +
                      demo::DemoBusSchemes() + " (no outage is injected)")
      ->type_name("URL");
  cmd->add_option("--publisher-option", o->publisher_options,
                  "an option for every client of that bus (Kafka: a librdkafka property), "
                  "repeatable")
      ->type_name("KEY=VALUE");
  OnChosen(cmd, chosen, [o, outage] {
    o->outage_given = outage->count() > 0;
    return RunDemo(*o);
  });
}

}  // namespace herald::cli
