#include "core/duration.h"

#include <array>
#include <cstdint>
#include <limits>
#include <optional>

#include <fmt/format.h>

namespace herald {
namespace {

struct Unit {
  std::string_view name;
  std::int64_t ms;
};
// Largest first; "ms" before "m" so that a longest match wins.
constexpr std::array<Unit, 4> kUnits = {{{"h", 3'600'000}, {"ms", 1}, {"m", 60'000}, {"s", 1'000}}};
// The order units must come in.
int Rank(std::string_view unit) {
  if (unit == "h") return 0;
  if (unit == "m") return 1;
  if (unit == "s") return 2;
  return 3;  // ms
}

constexpr std::int64_t kMaxMs = std::numeric_limits<std::int64_t>::max();
// Below 10^9, a fraction times an hour's milliseconds fits in 64 bits.
constexpr std::size_t kMaxDecimals = 9;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

Status NotADuration(std::string_view text, std::string_view why) {
  return InvalidArgument(fmt::format("'{}' is not a duration ({})", text, why));
}

// Adds digits to `n`; false on overflow.
bool Accumulate(std::int64_t& n, char digit) {
  const int d = digit - '0';
  if (n > (kMaxMs - d) / 10) return false;
  n = n * 10 + d;
  return true;
}

}  // namespace

Result<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  constexpr std::string_view kForm = "e.g. 250ms, 1.5s, 1m30s, 2h";
  if (text.empty()) return std::unexpected(NotADuration(text, kForm));
  // A bare whole number: milliseconds.
  std::size_t digits = 0;
  while (digits < text.size() && IsDigit(text[digits])) ++digits;
  if (digits == text.size()) {
    std::int64_t n = 0;
    for (char c : text) {
      if (!Accumulate(n, c)) return std::unexpected(NotADuration(text, "too long"));
    }
    return std::chrono::milliseconds(n);
  }

  std::int64_t total = 0;
  int last_rank = -1;
  std::size_t i = 0;
  while (i < text.size()) {
    // The number: whole part, then an optional fraction.
    std::int64_t whole = 0;
    std::size_t start = i;
    while (i < text.size() && IsDigit(text[i])) {
      if (!Accumulate(whole, text[i])) return std::unexpected(NotADuration(text, "too long"));
      ++i;
    }
    const bool has_whole = i > start;
    std::int64_t fraction = 0, fraction_scale = 1;
    if (i < text.size() && text[i] == '.') {
      ++i;
      const std::size_t fstart = i;
      while (i < text.size() && IsDigit(text[i])) {
        if (i - fstart == kMaxDecimals) {
          return std::unexpected(NotADuration(text, "too many decimals"));
        }
        fraction = fraction * 10 + (text[i] - '0');
        fraction_scale *= 10;
        ++i;
      }
      if (i == fstart) return std::unexpected(NotADuration(text, kForm));
    }
    if (!has_whole && fraction_scale == 1) return std::unexpected(NotADuration(text, kForm));
    // The unit.
    const Unit* unit = nullptr;
    for (const Unit& u : kUnits) {
      if (text.substr(i).starts_with(u.name)) {
        unit = &u;
        break;
      }
    }
    if (unit == nullptr) return std::unexpected(NotADuration(text, "units are h, m, s, ms"));
    i += unit->name.size();
    const int rank = Rank(unit->name);
    if (rank <= last_rank) {
      return std::unexpected(NotADuration(text, "each unit once, from the largest down"));
    }
    last_rank = rank;
    // whole * ms + fraction * ms / scale, exactly.
    if (whole > kMaxMs / unit->ms) return std::unexpected(NotADuration(text, "too long"));
    std::int64_t part = whole * unit->ms;
    const std::int64_t scaled = fraction * unit->ms;  // < 10^9 * 3.6 * 10^6
    if (scaled % fraction_scale != 0) {
      return std::unexpected(NotADuration(text, "finer than a millisecond"));
    }
    part += scaled / fraction_scale;
    if (part > kMaxMs - total) return std::unexpected(NotADuration(text, "too long"));
    total += part;
  }
  return std::chrono::milliseconds(total);
}

std::string FormatDuration(std::chrono::milliseconds d) {
  std::int64_t ms = d.count();
  if (ms == 0) return "0ms";
  std::string out;
  for (const auto& [name, scale] : {std::pair{"h", 3'600'000LL}, std::pair{"m", 60'000LL},
                                    std::pair{"s", 1'000LL}, std::pair{"ms", 1LL}}) {
    if (ms >= scale) {
      out += fmt::format("{}{}", ms / scale, name);
      ms %= scale;
    }
  }
  return out;
}

}  // namespace herald
