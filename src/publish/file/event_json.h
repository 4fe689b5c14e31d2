// An Event as a JSON object, shared by the file sink and the command line.
// Internal.
#ifndef HERALD_PUBLISH_FILE_EVENT_JSON_H_
#define HERALD_PUBLISH_FILE_EVENT_JSON_H_

#include <string>

#include <nlohmann/json.hpp>

#include "herald/event.h"

namespace herald::publish {

// {"event_id", "topic", "key", "type", "payload", "content_type", "headers",
// "created_at"} in this order. The payload is embedded as JSON when the
// content type is a JSON type (IsJsonContentType) and it parses as JSON;
// otherwise it is a string. created_at is RFC 3339 (FormatRfc3339).
nlohmann::ordered_json EventJson(const Event& event);

// `value` on one line, without spaces; bytes that are not UTF-8 become
// U+FFFD. Never throws.
std::string DumpJsonLine(const nlohmann::ordered_json& value);

}  // namespace herald::publish

#endif  // HERALD_PUBLISH_FILE_EVENT_JSON_H_
