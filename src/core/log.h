// Herald's internal logging calls: LogInfo("relay started: {}", n) formats
// only when the level is on, and passes the line to the sink of herald/log.h.
#ifndef HERALD_CORE_LOG_H_
#define HERALD_CORE_LOG_H_

#include <string>
#include <utility>

#include <fmt/format.h>

#include "herald/log.h"

namespace herald {
namespace log_internal {
bool Enabled(LogLevel level);
void Write(LogLevel level, std::string message);

template <typename... Args>
void Log(LogLevel level, fmt::format_string<Args...> format, Args&&... args) {
  if (Enabled(level)) Write(level, fmt::format(format, std::forward<Args>(args)...));
}
}  // namespace log_internal

template <typename... Args>
void LogTrace(fmt::format_string<Args...> format, Args&&... args) {
  log_internal::Log(LogLevel::kTrace, format, std::forward<Args>(args)...);
}
template <typename... Args>
void LogDebug(fmt::format_string<Args...> format, Args&&... args) {
  log_internal::Log(LogLevel::kDebug, format, std::forward<Args>(args)...);
}
template <typename... Args>
void LogInfo(fmt::format_string<Args...> format, Args&&... args) {
  log_internal::Log(LogLevel::kInfo, format, std::forward<Args>(args)...);
}
template <typename... Args>
void LogWarning(fmt::format_string<Args...> format, Args&&... args) {
  log_internal::Log(LogLevel::kWarning, format, std::forward<Args>(args)...);
}
template <typename... Args>
void LogError(fmt::format_string<Args...> format, Args&&... args) {
  log_internal::Log(LogLevel::kError, format, std::forward<Args>(args)...);
}

}  // namespace herald

#endif  // HERALD_CORE_LOG_H_
