#include "cli/event_line.h"

#include <set>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/json_text.h"
#include "core/macros.h"

namespace herald::cli {
namespace {

using Json = nlohmann::json;

constexpr std::string_view kTextContentType = "text/plain; charset=utf-8";

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

}  // namespace herald::cli
