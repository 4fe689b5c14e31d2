// Copyright (c) Herald authors. Licensed under the Apache License 2.0.
//
// Where Herald's own log lines go (a relay's state changes, a bus or a
// database that went away and came back, a dead-lettered event with its id).
// By default: standard error, from kInfo up, one line each, with passwords in
// URLs and key=value pairs masked. An application that has a logging system
// of its own sets a sink once, at start, before it makes any Herald object;
// `herald` (the CLI) sets one that writes through spdlog.
#ifndef HERALD_LOG_H_
#define HERALD_LOG_H_

#include <functional>
#include <string_view>

namespace herald {

enum class LogLevel { kTrace, kDebug, kInfo, kWarning, kError };

// "trace", "debug", "info", "warning", "error".
std::string_view LogLevelName(LogLevel level);

// Receives each line at or above the level (without a trailing newline),
// from any of Herald's threads, possibly at once: it must be thread-safe.
using LogSink = std::function<void(LogLevel level, std::string_view message)>;

// Replaces the sink; an empty one restores the default. Thread-safe.
void SetLogSink(LogSink sink);

// Lines below `level` are not formatted or passed on. Thread-safe.
void SetLogLevel(LogLevel level);

}  // namespace herald

#endif  // HERALD_LOG_H_
