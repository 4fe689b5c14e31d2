// herald status: what is pending and what is dead, overall and per topic.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/config.h"
#include "herald/clock.h"
#include "herald/store.h"

namespace herald::cli {
namespace {

using Json = nlohmann::ordered_json;

struct StatusFlags {
  CommandLine line;
  bool json = false;
  // --max-age / --max-dead-letters: exit 1 when the outbox is past either.
  std::optional<std::string> max_age;
  std::optional<std::int64_t> max_dead_letters;
};

// Seconds since `created_at`, never negative; nullopt when nothing is pending.
std::optional<double> AgeSeconds(const std::optional<TimePoint>& created_at, TimePoint now) {
  if (!created_at) return std::nullopt;
  std::chrono::duration<double> age = now - *created_at;
  return std::max(0.0, age.count());
}

Json AgeJson(std::optional<double> age) { return age ? Json(*age) : Json(nullptr); }

std::string AgeText(std::optional<double> age) {
  return age ? fmt::format("{:.3f}s", *age) : std::string("-");
}

void PrintJson(const OutboxStats& stats, TimePoint now) {
  Json topics = Json::array();
  for (const TopicStats& t : stats.topics) {
    topics.push_back(Json{
        {"topic", t.topic},
        {"pending", t.pending},
        {"dead_letters", t.dead_letters},
        {"oldest_pending_age_seconds", AgeJson(AgeSeconds(t.oldest_pending_created_at, now))}});
  }
  Json relays = Json::array();
  for (const RelayOwnership& r : stats.relays) {
    relays.push_back(Json{{"relay_id", r.relay_id},
                          {"partitions", r.partitions},
                          {"heartbeat_age_seconds", AgeJson(AgeSeconds(r.last_heartbeat, now))}});
  }
  Json out{
      {"pending", stats.pending},
      {"oldest_pending_age_seconds", AgeJson(AgeSeconds(stats.oldest_pending_created_at, now))},
      {"dead_letters", stats.dead_letters},
      {"topics", std::move(topics)},
      {"relays", std::move(relays)}};
  fmt::print("{}\n", out.dump(-1, ' ', false, Json::error_handler_t::replace));
}

void PrintTopics(const OutboxStats& stats, TimePoint now);
void PrintRelays(const OutboxStats& stats, TimePoint now);

void PrintText(const OutboxStats& stats, TimePoint now) {
  fmt::print("pending: {} (oldest {})\n", stats.pending,
             AgeText(AgeSeconds(stats.oldest_pending_created_at, now)));
  fmt::print("dead letters: {}\n", stats.dead_letters);
  PrintTopics(stats, now);
  PrintRelays(stats, now);
}

void PrintTopics(const OutboxStats& stats, TimePoint now) {
  if (stats.topics.empty()) return;
  std::size_t width = std::string_view("topic").size();
  for (const TopicStats& t : stats.topics) width = std::max(width, t.topic.size());
  fmt::print("\n{:<{}}  {:>10}  {:>12}  {:>12}\n", "topic", width, "pending", "dead letters",
             "oldest");
  for (const TopicStats& t : stats.topics) {
    fmt::print("{:<{}}  {:>10}  {:>12}  {:>12}\n", t.topic, width, t.pending, t.dead_letters,
               AgeText(AgeSeconds(t.oldest_pending_created_at, now)));
  }
}

// Which relay owns which partitions (stores shared by many relays).
void PrintRelays(const OutboxStats& stats, TimePoint now) {
  if (stats.relays.empty()) return;
  fmt::print("\n{:<40}  {:>10}  {}\n", "relay", "heartbeat", "partitions");
  for (const RelayOwnership& r : stats.relays) {
    fmt::print("{:<40}  {:>10}  {}\n", r.relay_id, AgeText(AgeSeconds(r.last_heartbeat, now)),
               r.partitions.empty() ? std::string("-") : fmt::format("{}", fmt::join(r.partitions, ",")));
  }
}

// The first limit `stats` is past, as one line; empty when none is.
std::string Breach(const OutboxStats& stats, TimePoint now,
                   std::optional<std::chrono::milliseconds> max_age,
                   std::optional<std::int64_t> max_dead_letters) {
  std::optional<double> age = AgeSeconds(stats.oldest_pending_created_at, now);
  if (max_age && age && *age * 1000.0 > static_cast<double>(max_age->count())) {
    return fmt::format("the oldest pending event is {:.1f}s old (--max-age {}ms)", *age,
                       max_age->count());
  }
  if (max_dead_letters && stats.dead_letters > *max_dead_letters) {
    return fmt::format("{} dead letters (--max-dead-letters {})", stats.dead_letters,
                       *max_dead_letters);
  }
  return {};
}

int RunStatus(const StatusFlags& flags) {
  std::optional<std::chrono::milliseconds> max_age;
  if (flags.max_age) {
    Result<std::chrono::milliseconds> parsed = ParseDuration(*flags.max_age);
    if (!parsed) return FailSetup(parsed.error().WithContext("--max-age"));
    max_age = *parsed;
  }
  if (flags.max_dead_letters && *flags.max_dead_letters < 0) {
    return FailSetup(InvalidArgument("--max-dead-letters: must be 0 or more"));
  }
  Result<Config> config = ResolveConfig(flags.line);
  if (!config) return FailSetup(config.error());
  Result<std::unique_ptr<Store>> store = OpenExistingStore(*config, Access::kRead);
  if (!store) return FailSetup(store.error());
  Result<OutboxStats> stats = (*store)->Stats();
  if (!stats) return Fail(stats.error(), kExitFailure);
  TimePoint now = Clock::Real().Now();
  if (flags.json) {
    PrintJson(*stats, now);
  } else {
    PrintText(*stats, now);
  }
  if (std::string breach = Breach(*stats, now, max_age, flags.max_dead_letters);
      !breach.empty()) {
    return Fail(FailedPrecondition("check failed: " + breach), kExitFailure);
  }
  return kExitOk;
}

}  // namespace

void AddStatusCommand(CLI::App& app, Action* chosen) {
  CLI::App* cmd =
      app.add_subcommand("status", "Show pending events, the oldest one's age and dead letters");
  auto flags = std::make_shared<StatusFlags>();
  AddCommonOptions(cmd, &flags->line);
  cmd->add_flag("--json", flags->json, "print one JSON object");
  cmd->add_option("--max-age", flags->max_age,
                  "exit 1 (after printing) when the oldest pending event is older, for "
                  "monitoring and cron")
      ->type_name("DURATION");
  cmd->add_option("--max-dead-letters", flags->max_dead_letters,
                  "exit 1 (after printing) when there are more dead letters")
      ->type_name("N");
  OnChosen(cmd, chosen, [flags] { return RunStatus(*flags); });
}

}  // namespace herald::cli
