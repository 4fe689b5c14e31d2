// herald enqueue: put events into the outbox from the command line, in one
// transaction of the store's own.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/event_line.h"
#include "core/macros.h"
#include "herald/event.h"
#include "herald/store.h"

namespace herald::cli {
namespace {


struct EnqueueFlags {
  CommandLine line;
  std::string topic;
  std::string key;
  std::string type;
  std::string payload;
  std::string content_type{kJsonContentType};
  std::vector<std::string> headers;  // each "name=value"
  std::optional<std::string> jsonl;  // a file, or "-" for standard input
};

// ---- one event from flags --------------------------------------------------

Result<Event> EventFromFlags(const EnqueueFlags& flags) {
  Event event = Event::Make(flags.topic, flags.key, flags.type, flags.payload);
  event.content_type = flags.content_type;
  for (const std::string& pair : flags.headers) {
    std::size_t eq = pair.find('=');
    if (eq == std::string::npos || eq == 0) {
      return std::unexpected(
          InvalidArgument(fmt::format("--header: '{}' is not of the form name=value", pair)));
    }
    event.headers[pair.substr(0, eq)] = pair.substr(eq + 1);
  }
  if (Status s = CheckEvent(event); !s.ok()) return std::unexpected(s);
  return event;
}

// ---- many events from JSON lines -------------------------------------------

// Every event of the file, or the first problem as "FILE:LINE: ...". Blank
// lines are skipped.
Result<std::vector<Event>> EventsFromJsonLines(const std::string& path) {
  bool from_stdin = path == "-";
  std::FILE* file = from_stdin ? stdin : std::fopen(path.c_str(), "re");
  if (file == nullptr) {
    return std::unexpected(
        InvalidArgument(fmt::format("cannot read '{}': {}", path, std::strerror(errno))));
  }
  std::vector<Event> events;
  Status status;
  char* buffer = nullptr;
  std::size_t capacity = 0;
  ssize_t length;
  std::size_t line_number = 0;
  errno = 0;
  while (status.ok() && (length = ::getline(&buffer, &capacity, file)) >= 0) {
    ++line_number;
    std::string line(buffer, static_cast<std::size_t>(length));
    if (line.find_first_not_of(" \t\r\n") == std::string::npos) continue;
    Result<Event> event = EventFromJsonLine(line);
    if (event) {
      events.push_back(std::move(*event));
    } else {
      status = event.error().WithContext(fmt::format("{}:{}", path, line_number));
    }
  }
  if (status.ok() && std::ferror(file)) {
    status = InvalidArgument(fmt::format("cannot read '{}': {}", path, std::strerror(errno)));
  }
  std::free(buffer);
  if (!from_stdin) std::fclose(file);
  if (!status.ok()) return std::unexpected(status);
  return events;
}

// ---- the command -----------------------------------------------------------

int RunEnqueue(const EnqueueFlags& flags) {
  std::vector<Event> events;
  if (flags.jsonl) {
    Result<std::vector<Event>> read = EventsFromJsonLines(*flags.jsonl);
    if (!read) return FailSetup(read.error());
    events = std::move(*read);
  } else {
    Result<Event> event = EventFromFlags(flags);
    if (!event) return FailSetup(event.error());
    events.push_back(std::move(*event));
  }
  Result<Config> config = ResolveConfig(flags.line);
  if (!config) return FailSetup(config.error());
  Result<std::unique_ptr<Store>> store = OpenExistingStore(*config, Access::kWrite);
  if (!store) return FailSetup(store.error());
  if (!events.empty()) {
    if (Status s = (*store)->Enqueue(events); !s.ok()) return Fail(s, kExitFailure);
  }
  if (flags.jsonl) {
    fmt::print("enqueued {} event{}\n", events.size(), events.size() == 1 ? "" : "s");
  } else {
    fmt::print("{}\n", events.front().id.ToString());
  }
  return kExitOk;
}

}  // namespace

void AddEnqueueCommand(CLI::App& app, Action* chosen) {
  CLI::App* cmd = app.add_subcommand(
      "enqueue", "Add events to the outbox: one from flags, or many from a JSON-lines file");
  auto flags = std::make_shared<EnqueueFlags>();
  AddCommonOptions(cmd, &flags->line);
  CLI::Option* topic =
      cmd->add_option("--topic", flags->topic, "the event's topic")->type_name("TOPIC");
  std::vector<CLI::Option*> single = {
      topic,
      cmd->add_option("--key", flags->key, "ordering key (default: none)")->type_name("KEY"),
      cmd->add_option("--type", flags->type, "event type")->type_name("TYPE"),
      cmd->add_option("--payload", flags->payload, "payload (default: empty)")->type_name("TEXT"),
      cmd->add_option("--content-type", flags->content_type,
                      "payload content type (default application/json; then the payload must be "
                      "JSON or empty)")
          ->type_name("TYPE"),
      cmd->add_option("--header", flags->headers, "a header, repeatable")->type_name("NAME=VALUE"),
  };
  CLI::Option* jsonl =
      cmd->add_option_function<std::string>(
             "--jsonl", [flags](const std::string& path) { flags->jsonl = path; },
             "enqueue one event per line of FILE (- for standard input), all in one transaction")
          ->type_name("FILE");
  for (CLI::Option* option : single) jsonl->excludes(option);
  OnChosen(cmd, chosen, [flags, topic] {
    if (!flags->jsonl && topic->count() == 0) {
      return Fail(InvalidArgument("give --topic (and the event's other flags) or --jsonl FILE"),
                  kExitUsage);
    }
    return RunEnqueue(*flags);
  });
}

}  // namespace herald::cli
