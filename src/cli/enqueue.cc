// herald enqueue: put events into the outbox from the command line, in one
// transaction of the store's own.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/json_text.h"
#include "core/macros.h"
#include "herald/event.h"
#include "herald/store.h"

namespace herald::cli {
namespace {

using Json = nlohmann::json;

constexpr std::string_view kTextContentType = "text/plain; charset=utf-8";

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

// Checks what Validate() checks, and that a JSON content type has a JSON
// payload (or none) nested at most kMaxJsonDepth deep.
Status CheckEvent(const Event& event) {
  HERALD_RETURN_IF_ERROR(Validate(event));
  if (!event.payload.empty() && IsJsonContentType(event.content_type) &&
      !IsJson(event.payload)) {
    return InvalidArgument(
        fmt::format("payload is not valid JSON but the content type is '{}'", event.content_type));
  }
  if (IsJsonContentType(event.content_type) && JsonDepth(event.payload) > kMaxJsonDepth) {
    return InvalidArgument(
        fmt::format("the payload is nested deeper than {} levels", kMaxJsonDepth));
  }
  return OkStatus();
}

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

std::string CompactJson(std::string_view json) {
  std::string out;
  AppendCompactJson(json, out);
  return out;
}

Result<std::string> OptionalString(const Json& object, const char* field) {
  auto it = object.find(field);
  if (it == object.end()) return std::string();
  if (!it->is_string()) {
    return std::unexpected(InvalidArgument(fmt::format("\"{}\" must be a string", field)));
  }
  return it->get<std::string>();
}

Result<Event> EventFromJson(const std::string& text) {
  // The parser does not recurse, but printing a value does: refuse depth
  // before anything else looks at the line.
  if (JsonDepth(text) > kMaxJsonDepth + 1) {
    return std::unexpected(InvalidArgument(
        fmt::format("the payload is nested deeper than {} levels", kMaxJsonDepth)));
  }
  if (!IsJson(text)) return std::unexpected(InvalidArgument("not valid JSON"));
  Json object = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!object.is_object()) return std::unexpected(InvalidArgument("not a JSON object"));
  // The parser keeps the last of two equal keys without a word; a line that
  // says two things is refused. The payload is taken as written, not
  // printed again, so its numbers and key order are the writer's.
  std::string_view payload_text;
  std::set<std::string> seen;
  for (const auto& [key_literal, value] : ObjectMembers(text)) {
    std::string field = Json::parse(key_literal).get<std::string>();
    if (!seen.insert(field).second) {
      return std::unexpected(InvalidArgument(fmt::format("field \"{}\" is given twice", field)));
    }
    if (field == "payload") payload_text = value;
  }
  for (const auto& [field, value] : object.items()) {
    if (field != "topic" && field != "key" && field != "type" && field != "payload" &&
        field != "content_type" && field != "headers") {
      return std::unexpected(InvalidArgument(fmt::format("unknown field \"{}\"", field)));
    }
  }
  if (!object.contains("topic")) return std::unexpected(InvalidArgument("\"topic\" is missing"));
  if (!object.contains("payload")) {
    return std::unexpected(InvalidArgument("\"payload\" is missing"));
  }
  HERALD_ASSIGN_OR_RETURN(std::string topic, OptionalString(object, "topic"));
  HERALD_ASSIGN_OR_RETURN(std::string key, OptionalString(object, "key"));
  HERALD_ASSIGN_OR_RETURN(std::string type, OptionalString(object, "type"));
  HERALD_ASSIGN_OR_RETURN(std::string content_type, OptionalString(object, "content_type"));

  const Json& payload = object["payload"];
  bool is_text = payload.is_string();
  Event event = Event::Make(std::move(topic), std::move(key), std::move(type),
                            is_text ? payload.get<std::string>() : CompactJson(payload_text));
  if (!content_type.empty()) {
    event.content_type = std::move(content_type);
  } else {
    event.content_type = is_text ? kTextContentType : kJsonContentType;
  }
  if (auto headers = object.find("headers"); headers != object.end()) {
    if (!headers->is_object()) {
      return std::unexpected(InvalidArgument("\"headers\" must be an object of strings"));
    }
    for (const auto& [name, value] : headers->items()) {
      if (!value.is_string()) {
        return std::unexpected(
            InvalidArgument(fmt::format("header \"{}\" must be a string", name)));
      }
      event.headers[name] = value.get<std::string>();
    }
  }
  if (Status s = CheckEvent(event); !s.ok()) return std::unexpected(s);
  return event;
}

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
    Result<Event> event = EventFromJson(line);
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
