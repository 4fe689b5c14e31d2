#include "cli/event_line.h"

#include <functional>
#include <optional>
#include <set>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/base64.h"
#include "core/json_text.h"
#include "core/macros.h"

namespace herald::cli {
namespace {

using Json = nlohmann::json;

constexpr std::string_view kTextContentType = "text/plain; charset=utf-8";

// The fields of a line: the event's, and what the sinks and `dlq list
// --jsonl` print beside them, so that their lines can be enqueued again.
// attempts, error and failed_at (a dead letter's) are read past.
const std::set<std::string, std::less<>> kFields = {
    "topic",      "key",        "type",     "payload", "content_type", "headers", "event_id",
    "created_at", "payload_encoding", "attempts", "error",   "failed_at"};

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

}  // namespace

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

Result<Event> EventFromJsonLine(std::string_view text) {
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
    if (!kFields.contains(field)) {
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
  HERALD_ASSIGN_OR_RETURN(std::string encoding, OptionalString(object, "payload_encoding"));
  std::string bytes;
  if (encoding == "base64") {
    if (!is_text) {
      return std::unexpected(InvalidArgument("a base64 \"payload\" must be a string"));
    }
    std::optional<std::string> decoded = Base64Decode(payload.get<std::string>());
    if (!decoded) return std::unexpected(InvalidArgument("\"payload\" is not valid base64"));
    bytes = std::move(*decoded);
    is_text = false;
  } else if (!encoding.empty()) {
    return std::unexpected(InvalidArgument(
        fmt::format("\"payload_encoding\" must be \"base64\", not \"{}\"", encoding)));
  } else {
    bytes = is_text ? payload.get<std::string>() : CompactJson(payload_text);
  }
  Event event = Event::Make(std::move(topic), std::move(key), std::move(type), std::move(bytes));
  HERALD_ASSIGN_OR_RETURN(std::string id_text, OptionalString(object, "event_id"));
  if (object.contains("event_id")) {
    std::optional<EventId> id = EventId::Parse(id_text);
    if (!id) {
      return std::unexpected(InvalidArgument(
          fmt::format("\"event_id\" is not a UUID: \"{}\"", id_text)));
    }
    event.id = *id;
  }
  HERALD_ASSIGN_OR_RETURN(std::string created_text, OptionalString(object, "created_at"));
  if (object.contains("created_at")) {
    std::optional<TimePoint> created = ParseRfc3339(created_text);
    if (!created) {
      return std::unexpected(InvalidArgument(fmt::format(
          "\"created_at\" is not an RFC 3339 time: \"{}\"", created_text)));
    }
    event.created_at = *created;
  }
  if (!content_type.empty()) {
    event.content_type = std::move(content_type);
  } else if (encoding == "base64") {
    event.content_type = "application/octet-stream";
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

}  // namespace herald::cli
