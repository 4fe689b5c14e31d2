// One event as `herald enqueue` takes it: from flags, checked, or from one
// line of JSON (--jsonl). Internal to the program.
//
// A JSON line is an object with "topic" and "payload" (required), "key",
// "type", "content_type" (strings) and "headers" (an object of strings); no
// other field, and none twice. A string payload is text (content type
// text/plain; charset=utf-8 unless given); any other payload is JSON, kept
// as written without its whitespace (application/json unless given).
#ifndef HERALD_CLI_EVENT_LINE_H_
#define HERALD_CLI_EVENT_LINE_H_

#include <string_view>

#include "herald/event.h"
#include "herald/status.h"

namespace herald::cli {

// What Validate() checks, and that a JSON content type has a JSON payload
// (or none) nested at most kMaxJsonDepth deep. InvalidArgument otherwise.
Status CheckEvent(const Event& event);

// The event of one JSON line, checked with CheckEvent; InvalidArgument with
// one line saying what is wrong. Never recurses into the line: any input is
// safe.
Result<Event> EventFromJsonLine(std::string_view text);

}  // namespace herald::cli

#endif  // HERALD_CLI_EVENT_LINE_H_
