// An Event as one JSON object, written as text: shared by the file sink and
// the command line. Internal.
#ifndef HERALD_PUBLISH_FILE_EVENT_JSON_H_
#define HERALD_PUBLISH_FILE_EVENT_JSON_H_

#include <string>
#include <string_view>

#include "herald/event.h"

namespace herald::publish {

// Appends {"event_id", "topic", "key", "type", "payload"[, "payload_encoding"],
// "content_type", "headers", "created_at"[, extra_members]} in this order, on
// one line without spaces. The payload is:
//   - its own bytes, with the whitespace between tokens removed, when the
//     content type is a JSON type (IsJsonContentType) and it is JSON (any
//     depth: nothing here recurses);
//   - a JSON string when it is UTF-8 text;
//   - otherwise a base64 string (RFC 4648, padded), with
//     "payload_encoding":"base64" after it.
// So every payload survives byte for byte. Topic, key, type, content type
// and headers are strings; bytes in them that are not UTF-8 become U+FFFD.
// created_at is RFC 3339 (FormatRfc3339). `extra_members` is inserted before
// the closing brace as it is: empty, or members each preceded by a comma.
// Never fails.
void AppendEventJson(const Event& event, std::string& out, std::string_view extra_members = {});

}  // namespace herald::publish

#endif  // HERALD_PUBLISH_FILE_EVENT_JSON_H_
