// The sink and level of herald/log.h.
#include "core/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>

#include <fmt/chrono.h>

#include "core/secrets.h"

namespace herald {
namespace {

std::atomic<int> min_level{static_cast<int>(LogLevel::kInfo)};

std::mutex& SinkMutex() {
  static std::mutex mu;
  return mu;
}

// Guarded by SinkMutex(); null: the default.
std::shared_ptr<const LogSink>& CurrentSink() {
  static std::shared_ptr<const LogSink> sink;
  return sink;
}

void WriteToStderr(LogLevel level, std::string_view message) {
  const auto now = std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
  const std::string masked = MaskSecrets(message);
  const std::string line =
      fmt::format("{:%Y-%m-%dT%H:%M:%S}Z herald {}: {}\n", now, LogLevelName(level), masked);
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace

std::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kTrace: return "trace";
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarning: return "warning";
    case LogLevel::kError: return "error";
  }
  return "unknown";
}

void SetLogSink(LogSink sink) {
  std::shared_ptr<const LogSink> next;
  if (sink) next = std::make_shared<const LogSink>(std::move(sink));
  std::lock_guard<std::mutex> lock(SinkMutex());
  CurrentSink() = std::move(next);
}

void SetLogLevel(LogLevel level) { min_level.store(static_cast<int>(level)); }

namespace log_internal {

bool Enabled(LogLevel level) { return static_cast<int>(level) >= min_level.load(); }

void Write(LogLevel level, std::string message) {
  std::shared_ptr<const LogSink> sink;
  {
    std::lock_guard<std::mutex> lock(SinkMutex());
    sink = CurrentSink();
  }
  if (sink != nullptr) {
    (*sink)(level, message);
  } else {
    WriteToStderr(level, message);
  }
}

}  // namespace log_internal
}  // namespace herald
