// Copyright (c) Herald authors. Licensed under the Apache License 2.0.
//
// Clock is how Herald reads time and sleeps, so that tests can replace both.
#ifndef HERALD_CLOCK_H_
#define HERALD_CLOCK_H_

#include <chrono>
#include <stop_token>

#include "herald/event.h"

namespace herald {

class Clock {
 public:
  virtual ~Clock() = default;

  // Wall-clock time, the scale of every stored timestamp.
  virtual TimePoint Now() = 0;

  // Sleeps for `d`, or less if `stop` is requested. Returns false if it was
  // cut short by `stop`. Thread-safe.
  virtual bool SleepFor(std::chrono::nanoseconds d, std::stop_token stop) = 0;

  // The process-wide system clock.
  static Clock& Real();
};

}  // namespace herald

#endif  // HERALD_CLOCK_H_
