// Copyright (c) Herald authors. Licensed under the Apache License 2.0.
//
// Status is the error type of every Herald call that can fail. Its code says
// what the caller should do next, not only what went wrong:
//
//   kUnavailable       retry the same call later (bus or database unreachable).
//   kDeadlineExceeded  retry later; the call may or may not have taken effect.
//   kAborted           retry the whole enclosing transaction (busy, serialization).
//   kInvalidArgument   fix the input; retrying the same input fails again.
//   kFailedPrecondition fix the environment first (no schema, no open transaction).
//   kNotFound / kAlreadyExists / kResourceExhausted / kInternal / kCancelled
//
// Result<T> carries either a value or a non-OK Status. Both are [[nodiscard]].
#ifndef HERALD_STATUS_H_
#define HERALD_STATUS_H_

#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace herald {

enum class Code {
  kOk = 0,
  kCancelled,
  kInvalidArgument,
  kNotFound,
  kAlreadyExists,
  kFailedPrecondition,
  kResourceExhausted,
  kAborted,
  kUnavailable,
  kDeadlineExceeded,
  kInternal,
};

// The lower-case name of a code, for example "unavailable".
std::string_view CodeName(Code code);

class [[nodiscard]] Status {
 public:
  // An OK status.
  Status() = default;
  Status(Code code, std::string message);

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // True when the same call may succeed if repeated later without changes
  // (kUnavailable, kDeadlineExceeded, kAborted).
  bool retriable() const;

  // "unavailable: connection refused", or "ok".
  std::string ToString() const;

  // Returns a copy whose message is "context: message". OK stays OK.
  Status WithContext(std::string_view context) const;

  friend bool operator==(const Status&, const Status&) = default;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

inline Status OkStatus() { return Status(); }
inline Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
inline Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
inline Status AlreadyExists(std::string m) { return {Code::kAlreadyExists, std::move(m)}; }
inline Status FailedPrecondition(std::string m) { return {Code::kFailedPrecondition, std::move(m)}; }
inline Status ResourceExhausted(std::string m) { return {Code::kResourceExhausted, std::move(m)}; }
inline Status Aborted(std::string m) { return {Code::kAborted, std::move(m)}; }
inline Status Unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
inline Status DeadlineExceeded(std::string m) { return {Code::kDeadlineExceeded, std::move(m)}; }
inline Status Internal(std::string m) { return {Code::kInternal, std::move(m)}; }
inline Status Cancelled(std::string m) { return {Code::kCancelled, std::move(m)}; }

// A value or the Status explaining why there is none. Construct the error
// side with std::unexpected(status).
template <typename T>
using Result = std::expected<T, Status>;

}  // namespace herald

#endif  // HERALD_STATUS_H_
