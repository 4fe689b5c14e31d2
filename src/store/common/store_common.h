// What every store backend shares: how event headers are stored (a JSON
// object of strings), which dead-letter selections are valid, and small
// helpers of the stores' own calls. Internal.
#ifndef HERALD_STORE_COMMON_STORE_COMMON_H_
#define HERALD_STORE_COMMON_STORE_COMMON_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <limits>
#include <map>
#include <string>
#include <string_view>

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

// A count as a 64-bit SQL parameter, capped at its largest value.
inline std::int64_t ClampToInt64(std::size_t n) {
  return static_cast<std::int64_t>(
      std::min<std::size_t>(n, static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max())));
}

// `r`, its error (if any) prefixed with `context` as Status::WithContext does.
template <typename T>
Result<T> WithContext(Result<T> r, std::string_view context) {
  if (!r) return std::unexpected(r.error().WithContext(context));
  return r;
}

}  // namespace herald::store_internal

#endif  // HERALD_STORE_COMMON_STORE_COMMON_H_
