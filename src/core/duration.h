// Durations as an operator writes them, for every place Herald reads one:
// command-line flags, environment variables, TOML values and the parameters
// of database and bus URLs (`?lease=`). Internal.
#ifndef HERALD_CORE_DURATION_H_
#define HERALD_CORE_DURATION_H_

#include <chrono>
#include <string>
#include <string_view>

#include "herald/status.h"

namespace herald {

// One or more number-unit pairs, each unit at most once and from the
// largest down: "250ms", "5s", "1.5s", "1m30s", "2h", "1h2m3s4ms". Units:
// h, m, s, ms. A number is whole or has a decimal fraction ("1.5s",
// "0.25h"); the total must be a whole number of milliseconds. A bare whole
// number is milliseconds, everywhere ("1500" is 1.5 s). No sign, space or
// exponent. InvalidArgument "'TEXT' is not a duration (...)" otherwise,
// and for a value beyond what milliseconds in 64 bits hold.
Result<std::chrono::milliseconds> ParseDuration(std::string_view text);

// The shortest text ParseDuration reads back as `d`: "1m30s", "250ms",
// "0ms". `d` must not be negative.
std::string FormatDuration(std::chrono::milliseconds d);

}  // namespace herald

#endif  // HERALD_CORE_DURATION_H_
