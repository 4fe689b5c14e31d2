// Copyright (c) Herald authors. Licensed under the Apache License 2.0.
//
// An Event is one fact to proclaim: where it goes (topic), what orders it
// (key), what it is (type) and its bytes (payload). Its EventId, a UUIDv7, is
// its identity everywhere: in the outbox, on the bus (de-duplication fields,
// CloudEvents `id`), in consumers' inboxes and in logs.
#ifndef HERALD_EVENT_H_
#define HERALD_EVENT_H_

#include <array>
#include <chrono>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "herald/status.h"

namespace herald {

// A 128-bit UUID. Default-constructed ids are nil (all zero).
class EventId {
 public:
  EventId() = default;
  explicit EventId(const std::array<std::uint8_t, 16>& bytes) : bytes_(bytes) {}

  // A new UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then a 12-bit counter
  // that keeps ids made by this process strictly increasing, then 62 random
  // bits. Thread-safe.
  static EventId Generate();

  // Parses the canonical 36-character form, case-insensitively. nullopt when
  // `text` is anything else.
  static std::optional<EventId> Parse(std::string_view text);

  // The canonical lower-case form, "0190b7a4-5e1c-7d2a-8f00-3b1c2d3e4f50".
  std::string ToString() const;

  bool IsNil() const;
  // The UUID version nibble (7 for ids made by Generate()).
  int version() const { return bytes_[6] >> 4; }
  // For UUIDv7: the embedded creation time.
  std::chrono::system_clock::time_point timestamp() const;
  const std::array<std::uint8_t, 16>& bytes() const { return bytes_; }

  friend auto operator<=>(const EventId&, const EventId&) = default;

 private:
  std::array<std::uint8_t, 16> bytes_{};
};

using Headers = std::map<std::string, std::string>;
using TimePoint = std::chrono::system_clock::time_point;

inline constexpr std::string_view kJsonContentType = "application/json";

// Payloads larger than this are refused at enqueue unless a caller sets its
// own limit. Most buses refuse messages over 1 MiB by default.
inline constexpr std::size_t kDefaultMaxPayloadBytes = 1024 * 1024;
// Topics, keys and types are identifiers, not data.
inline constexpr std::size_t kMaxNameBytes = 255;

struct Event {
  EventId id;
  std::string topic;
  std::string key;   // empty: no ordering with any other event
  std::string type;
  std::string payload;
  std::string content_type{kJsonContentType};
  Headers headers;
  TimePoint created_at{};

  // An event with a fresh UUIDv7 id and created_at = now.
  static Event Make(std::string topic, std::string key, std::string type, std::string payload);
};

// OK if `event` can be enqueued: a non-nil id; a non-empty topic and content
// type; topic, key, type and content type of at most kMaxNameBytes of UTF-8
// without control characters; header names non-empty and printable, names
// and values UTF-8; a payload (any bytes) of at most `max_payload_bytes`.
// InvalidArgument naming the field otherwise.
Status Validate(const Event& event, std::size_t max_payload_bytes = kDefaultMaxPayloadBytes);

// True for application/json and any "+json" type such as
// application/cloudevents+json (parameters like "; charset=utf-8" ignored).
bool IsJsonContentType(std::string_view content_type);

// Milliseconds since the Unix epoch, the unit of every time stored by Herald.
std::int64_t ToUnixMillis(TimePoint t);
TimePoint FromUnixMillis(std::int64_t ms);
// RFC 3339 in UTC with milliseconds, "2026-11-29T18:17:24.123Z".
std::string FormatRfc3339(TimePoint t);
// An RFC 3339 date-time, "2026-11-29T18:17:24.123Z" or with an offset
// ("...+02:00"), any number of fraction digits (cut to milliseconds), 't'
// and 'z' in either case. nullopt for anything else (a date alone, a leap
// second, a day the month does not have).
std::optional<TimePoint> ParseRfc3339(std::string_view text);

}  // namespace herald

#endif  // HERALD_EVENT_H_
