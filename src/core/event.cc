#include "herald/event.h"

#include "core/json_text.h"

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <ctime>
#include <mutex>
#include <random>

namespace herald {
namespace {

// State of UUIDv7 generation: the last millisecond used and a 12-bit counter
// within it (RFC 9562, section 6.2, method 1), so ids from one process are
// strictly increasing even within one millisecond.
struct V7State {
  std::mutex mu;
  std::uint64_t last_ms = 0;
  std::uint16_t counter = 0;
  std::mt19937_64 rng{std::random_device{}()};
};

V7State& State() {
  static V7State* state = new V7State;
  return *state;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool HasControlChars(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

Status CheckName(std::string_view field, std::string_view value) {
  if (value.size() > kMaxNameBytes) {
    return InvalidArgument(fmt::format("event {} is {} bytes; the limit is {}", field,
                                       value.size(), kMaxNameBytes));
  }
  if (HasControlChars(value)) {
    return InvalidArgument(fmt::format("event {} contains control characters", field));
  }
  if (!IsUtf8(value)) return InvalidArgument(fmt::format("event {} is not valid UTF-8", field));
  return OkStatus();
}

}  // namespace

EventId EventId::Generate() {
  V7State& st = State();
  std::uint64_t ms;
  std::uint16_t counter;
  std::uint64_t random_bits;
  {
    std::lock_guard<std::mutex> lock(st.mu);
    auto now = static_cast<std::uint64_t>(ToUnixMillis(std::chrono::system_clock::now()));
    if (now > st.last_ms) {
      st.last_ms = now;
      // Start low in the counter space so that many ids fit in one millisecond.
      st.counter = static_cast<std::uint16_t>(st.rng() & 0x1ff);
    } else if (st.counter < 0xfff) {
      ++st.counter;
    } else {
      // Counter exhausted (or the clock went back): borrow the next millisecond.
      ++st.last_ms;
      st.counter = 0;
    }
    ms = st.last_ms;
    counter = st.counter;
    random_bits = st.rng();
  }
  std::array<std::uint8_t, 16> b{};
  for (int i = 0; i < 6; ++i) b[i] = static_cast<std::uint8_t>(ms >> (8 * (5 - i)));
  b[6] = static_cast<std::uint8_t>(0x70 | ((counter >> 8) & 0x0f));
  b[7] = static_cast<std::uint8_t>(counter & 0xff);
  for (int i = 8; i < 16; ++i) b[i] = static_cast<std::uint8_t>(random_bits >> (8 * (15 - i)));
  b[8] = static_cast<std::uint8_t>(0x80 | (b[8] & 0x3f));  // RFC 9562 variant
  return EventId(b);
}

std::optional<EventId> EventId::Parse(std::string_view text) {
  if (text.size() != 36) return std::nullopt;
  std::array<std::uint8_t, 16> b{};
  std::size_t bi = 0;
  for (std::size_t i = 0; i < text.size();) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (text[i] != '-') return std::nullopt;
      ++i;
      continue;
    }
    int hi = HexValue(text[i]);
    int lo = HexValue(text[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    b[bi++] = static_cast<std::uint8_t>(hi * 16 + lo);
    i += 2;
  }
  return EventId(b);
}

std::string EventId::ToString() const {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (std::size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[bytes_[i] >> 4]);
    out.push_back(kHex[bytes_[i] & 0x0f]);
  }
  return out;
}

bool EventId::IsNil() const {
  for (auto byte : bytes_) {
    if (byte != 0) return false;
  }
  return true;
}

TimePoint EventId::timestamp() const {
  std::int64_t ms = 0;
  for (int i = 0; i < 6; ++i) ms = (ms << 8) | bytes_[i];
  return FromUnixMillis(ms);
}

Event Event::Make(std::string topic, std::string key, std::string type, std::string payload) {
  Event e;
  e.id = EventId::Generate();
  e.topic = std::move(topic);
  e.key = std::move(key);
  e.type = std::move(type);
  e.payload = std::move(payload);
  e.created_at = e.id.timestamp();
  return e;
}

Status Validate(const Event& event, std::size_t max_payload_bytes) {
  if (event.id.IsNil()) return InvalidArgument("event id is nil; use EventId::Generate()");
  if (event.topic.empty()) return InvalidArgument("event topic is empty");
  if (Status s = CheckName("topic", event.topic); !s.ok()) return s;
  if (Status s = CheckName("key", event.key); !s.ok()) return s;
  if (Status s = CheckName("type", event.type); !s.ok()) return s;
  if (event.content_type.empty()) return InvalidArgument("event content type is empty");
  if (Status s = CheckName("content type", event.content_type); !s.ok()) return s;
  if (event.payload.size() > max_payload_bytes) {
    return InvalidArgument(fmt::format("event payload is {} bytes; the limit is {}",
                                       event.payload.size(), max_payload_bytes));
  }
  for (const auto& [name, value] : event.headers) {
    if (name.empty() || HasControlChars(name)) {
      return InvalidArgument(fmt::format("event header name '{}' is empty or not printable", name));
    }
    if (!IsUtf8(name) || !IsUtf8(value)) {
      return InvalidArgument(fmt::format("event header '{}' is not valid UTF-8", name));
    }
  }
  return OkStatus();
}

bool IsJsonContentType(std::string_view ct) {
  if (auto semi = ct.find(';'); semi != std::string_view::npos) ct = ct.substr(0, semi);
  while (!ct.empty() && ct.back() == ' ') ct.remove_suffix(1);
  auto lower_equals = [](std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      char c = a[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (c != b[i]) return false;
    }
    return true;
  };
  if (lower_equals(ct, kJsonContentType)) return true;
  return ct.size() > 5 && lower_equals(ct.substr(ct.size() - 5), "+json");
}

std::int64_t ToUnixMillis(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

TimePoint FromUnixMillis(std::int64_t ms) {
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::milliseconds(ms)));
}

std::string FormatRfc3339(TimePoint t) {
  std::int64_t ms = ToUnixMillis(t);
  std::time_t secs = static_cast<std::time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  int millis = static_cast<int>(ms - static_cast<std::int64_t>(secs) * 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
}

std::optional<TimePoint> ParseRfc3339(std::string_view text) {
  std::size_t pos = 0;
  auto number = [&](std::size_t digits, int& out) {
    if (pos + digits > text.size()) return false;
    out = 0;
    for (std::size_t i = 0; i < digits; ++i) {
      const char c = text[pos + i];
      if (c < '0' || c > '9') return false;
      out = out * 10 + (c - '0');
    }
    pos += digits;
    return true;
  };
  auto literal = [&](char a, char b = '\0') {
    if (pos >= text.size() || (text[pos] != a && (b == '\0' || text[pos] != b))) return false;
    ++pos;
    return true;
  };
  int year, month, day, hour, minute, second;
  if (!number(4, year) || !literal('-') || !number(2, month) || !literal('-') ||
      !number(2, day) || !literal('T', 't') || !number(2, hour) || !literal(':') ||
      !number(2, minute) || !literal(':') || !number(2, second)) {
    return std::nullopt;
  }
  int millis = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    const std::size_t start = pos;
    int scale = 100;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      millis += (text[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start) return std::nullopt;
  }
  int offset_minutes = 0;
  if (literal('Z', 'z')) {
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    const int sign = text[pos] == '+' ? 1 : -1;
    ++pos;
    int oh, om;
    if (!number(2, oh) || !literal(':') || !number(2, om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset_minutes = sign * (oh * 60 + om);
  } else {
    return std::nullopt;
  }
  if (pos != text.size()) return std::nullopt;
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (month < 1 || month > 12 || day < 1 ||
      day > kDays[month - 1] + (month == 2 && leap ? 1 : 0) || hour > 23 || minute > 59 ||
      second > 59) {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  const std::int64_t secs = static_cast<std::int64_t>(timegm(&tm)) - offset_minutes * 60LL;
  return FromUnixMillis(secs * 1000 + millis);
}

}  // namespace herald
