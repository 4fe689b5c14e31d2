// What every store backend shares: how event headers are stored (a JSON
// object of strings) and which dead-letter selections are valid. Internal.
#ifndef HERALD_STORE_COMMON_STORE_COMMON_H_
#define HERALD_STORE_COMMON_STORE_COMMON_H_

#include <map>
#include <string>

#include "herald/event.h"
#include "herald/status.h"
#include "herald/store.h"

namespace herald::store_internal {

// Headers as the JSON object text stored in the outbox ("{}" when empty).
// InvalidArgument when a name or value is not valid UTF-8.
Result<std::string> EncodeHeaders(const Headers& headers);

// The inverse. Values other than strings (written by hand) are kept as their
// JSON text. Internal when `text` is not a JSON object.
Result<Headers> DecodeHeaders(const std::string& text);

// Overall figures from per-topic ones: sums, the oldest pending event, and
// the topics sorted by name.
OutboxStats SumTopics(std::map<std::string, TopicStats> topics);

// OK when `filter` selects by exactly one of: event ids, a topic, all.
Status CheckDeadLetterFilter(const DeadLetterFilter& filter);

}  // namespace herald::store_internal

#endif  // HERALD_STORE_COMMON_STORE_COMMON_H_
