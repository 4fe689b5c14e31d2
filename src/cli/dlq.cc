// herald dlq list|retry|purge: inspect and act on dead letters.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/commands.h"
#include "core/json_text.h"
#include "herald/clock.h"
#include "herald/store.h"
#include "publish/file/event_json.h"

namespace herald::cli {
namespace {

constexpr std::size_t kDefaultListLimit = 100;

struct DlqFlags {
  CommandLine line;
  std::vector<std::string> ids;
  std::string topic;
  bool topic_given = false;
  bool all = false;
  std::size_t limit = kDefaultListLimit;
  bool json = false;
  bool jsonl = false;
};

// The filter the selector flags describe. With none given: everything when
// `none_means_all`, an error otherwise. More than one is an error.
Result<DeadLetterFilter> Filter(const DlqFlags& flags, bool none_means_all) {
  int given = (flags.ids.empty() ? 0 : 1) + (flags.topic_given ? 1 : 0) + (flags.all ? 1 : 0);
  if (given > 1) {
    return std::unexpected(InvalidArgument("give only one of --id, --topic and --all"));
  }
  DeadLetterFilter filter;
  if (given == 0) {
    if (!none_means_all) {
      return std::unexpected(
          InvalidArgument("say which dead letters: --id ID (repeatable), --topic T or --all"));
    }
    filter.all = true;
    return filter;
  }
  for (const std::string& text : flags.ids) {
    std::optional<EventId> id = EventId::Parse(text);
    if (!id) {
      return std::unexpected(
          InvalidArgument(fmt::format("--id: '{}' is not an event id (a UUID)", text)));
    }
    filter.ids.push_back(*id);
  }
  if (flags.topic_given) filter.topic = flags.topic;
  filter.all = flags.all;
  return filter;
}

// Everything an action needs before touching the database: the filter, then
// the configuration and the store. Returns the exit code on failure.
struct Prepared {
  DeadLetterFilter filter;
  std::unique_ptr<Store> store;
};

std::expected<Prepared, int> Prepare(const DlqFlags& flags, bool none_means_all, Access access) {
  Result<DeadLetterFilter> filter = Filter(flags, none_means_all);
  if (!filter) return std::unexpected(FailSetup(filter.error()));
  Result<Config> config = ResolveConfig(flags.line);
  if (!config) return std::unexpected(FailSetup(config.error()));
  Result<std::unique_ptr<Store>> store = OpenExistingStore(*config, access);
  if (!store) return std::unexpected(FailSetup(store.error()));
  return Prepared{std::move(*filter), std::move(*store)};
}

std::string OneLine(std::string text) {
  std::replace_if(
      text.begin(), text.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  return text;
}

// One dead letter as the file sink writes its event, with attempts, error
// and failed_at added.
void AppendDeadLetterJson(const DeadLetter& d, std::string& out) {
  std::string extra = fmt::format(",\"attempts\":{},\"error\":", d.attempts);
  AppendJsonString(d.error, extra);
  extra += ",\"failed_at\":";
  AppendJsonString(FormatRfc3339(d.failed_at), extra);
  publish::AppendEventJson(d.event, out, extra);
}

// --json: one array; --jsonl: one object a line (what enqueue --jsonl takes).
void PrintJson(const std::vector<DeadLetter>& letters, bool lines) {
  std::string out = lines ? "" : "[";
  for (const DeadLetter& d : letters) {
    if (!lines && out.size() > 1) out.push_back(',');
    AppendDeadLetterJson(d, out);
    if (lines) out.push_back('\n');
  }
  if (!lines) out += "]\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
}

void PrintText(const std::vector<DeadLetter>& letters) {
  for (const DeadLetter& d : letters) {
    fmt::print("{}  topic={}  key={}  type={}  attempts={}  failed_at={}  error={}\n",
               d.event.id.ToString(), d.event.topic, d.event.key, d.event.type, d.attempts,
               FormatRfc3339(d.failed_at), OneLine(d.error));
  }
}

int RunList(const DlqFlags& flags) {
  auto prepared = Prepare(flags, /*none_means_all=*/true, Access::kRead);
  if (!prepared) return prepared.error();
  Result<std::vector<DeadLetter>> letters =
      prepared->store->ListDeadLetters(prepared->filter, flags.limit);
  if (!letters) return Fail(letters.error(), kExitFailure);
  if (flags.json || flags.jsonl) {
    PrintJson(*letters, flags.jsonl);
  } else {
    PrintText(*letters);
  }
  return kExitOk;
}

// With --id: NotFound naming the ids no dead letter has, before anything
// is changed (then nothing is); OK otherwise.
Status CheckIdsExist(Prepared& prepared, std::string_view action) {
  if (prepared.filter.ids.empty()) return OkStatus();
  Result<std::vector<DeadLetter>> found =
      prepared.store->ListDeadLetters(prepared.filter, prepared.filter.ids.size());
  if (!found) return found.error();
  std::vector<std::string> missing;
  for (const EventId& id : prepared.filter.ids) {
    if (std::none_of(found->begin(), found->end(),
                     [&](const DeadLetter& d) { return d.event.id == id; })) {
      missing.push_back(id.ToString());
    }
  }
  if (missing.empty()) return OkStatus();
  return NotFound(fmt::format("no dead letter has id {} (nothing {})", fmt::join(missing, ", "),
                              action));
}

int RunRetry(const DlqFlags& flags) {
  auto prepared = Prepare(flags, /*none_means_all=*/false, Access::kWrite);
  if (!prepared) return prepared.error();
  if (Status s = CheckIdsExist(*prepared, "retried"); !s.ok()) return Fail(s, kExitFailure);
  Result<std::int64_t> n = prepared->store->RetryDeadLetters(prepared->filter, Clock::Real().Now());
  if (!n) return Fail(n.error(), kExitFailure);
  fmt::print("retried {} dead letter{}\n", *n, *n == 1 ? "" : "s");
  return kExitOk;
}

int RunPurge(const DlqFlags& flags) {
  auto prepared = Prepare(flags, /*none_means_all=*/false, Access::kWrite);
  if (!prepared) return prepared.error();
  if (Status s = CheckIdsExist(*prepared, "purged"); !s.ok()) return Fail(s, kExitFailure);
  Result<std::int64_t> n = prepared->store->PurgeDeadLetters(prepared->filter);
  if (!n) return Fail(n.error(), kExitFailure);
  fmt::print("purged {} dead letter{}\n", *n, *n == 1 ? "" : "s");
  return kExitOk;
}

void AddSelectors(CLI::App* cmd, DlqFlags* flags) {
  cmd->add_option("--id", flags->ids, "a dead letter's event id (repeatable)")->type_name("ID");
  cmd->add_option_function<std::string>(
         "--topic",
         [flags](const std::string& t) {
           flags->topic = t;
           flags->topic_given = true;
         },
         "every dead letter of this topic")
      ->type_name("TOPIC");
  cmd->add_flag("--all", flags->all, "every dead letter");
}

using Runner = int (*)(const DlqFlags&);

CLI::App* AddAction(CLI::App* dlq, Action* chosen, const char* name, const char* description,
                    Runner run, std::shared_ptr<DlqFlags> flags) {
  CLI::App* cmd = dlq->add_subcommand(name, description);
  AddCommonOptions(cmd, &flags->line);
  AddSelectors(cmd, flags.get());
  OnChosen(cmd, chosen, [flags, run] { return run(*flags); });
  return cmd;
}

}  // namespace

void AddDlqCommand(CLI::App& app, Action* chosen) {
  CLI::App* dlq = app.add_subcommand("dlq", "List, retry or purge dead letters");
  // Runs with or without a chosen subcommand; a subcommand's action wins.
  dlq->callback([chosen] {
    if (*chosen) return;
    *chosen = [] {
      return Fail(
          InvalidArgument("missing dlq command (list, retry or purge); see herald dlq --help"),
          kExitUsage);
    };
  });

  auto list_flags = std::make_shared<DlqFlags>();
  CLI::App* list =
      AddAction(dlq, chosen, "list",
                "List dead letters, oldest first (all of them unless a selector is given)", RunList,
                list_flags);
  list->add_option("--limit", list_flags->limit,
                   fmt::format("list at most N (default {})", kDefaultListLimit))
      ->type_name("N")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1000000}));
  CLI::Option* json = list->add_flag("--json", list_flags->json, "print one JSON array");
  list->add_flag("--jsonl", list_flags->jsonl,
                 "print one JSON object a line, as `herald enqueue --jsonl` takes them back")
      ->excludes(json);

  AddAction(dlq, chosen, "retry",
            "Move dead letters back into the outbox as pending events (same event ids)", RunRetry,
            std::make_shared<DlqFlags>());
  AddAction(dlq, chosen, "purge", "Delete dead letters for good", RunPurge,
            std::make_shared<DlqFlags>());
}

}  // namespace herald::cli
