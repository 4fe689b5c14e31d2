// Copyright (c) Herald authors. Licensed under the Apache License 2.0.
//
// Status is the error type of every Herald call that can fail. Its code says
// what the caller should do next, not only what went wrong (recovery()):
//
//   kUnavailable       retry the same call later (bus or database unreachable);
//                      it had no effect.
//   kDeadlineExceeded  retry the same call later: a wait ran out, nothing changed.
//   kAborted           roll back and retry the whole enclosing transaction
//                      (busy, serialization failure, deadlock).
//   kInDoubt           the call's commit may or may not have happened (the
//                      connection was lost before the database confirmed it):
//                      find out before doing it again, or repeat it only where
//                      repeating is harmless (an event id already stored is
//                      refused). Never simply retriable.
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
  kInDoubt,
};

// What a caller does about a failed call (Status::recovery()).
enum class Recovery {
  kNone,              // OK, or repeating cannot help: fix the input or the environment
  kRetryCall,         // make the same call again later (kUnavailable, kDeadlineExceeded)
  kRetryTransaction,  // roll back, then run the whole transaction again (kAborted)
  kInDoubt,           // it may have taken effect: check before repeating (kInDoubt)
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

  // See Recovery.
  Recovery recovery() const;
  // True when repeating may succeed and cannot do harm: recovery() is
  // kRetryCall or kRetryTransaction. False for kInDoubt.
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
inline Status InDoubt(std::string m) { return {Code::kInDoubt, std::move(m)}; }

// A value or the Status explaining why there is none. Construct the error
// side with std::unexpected(status).
template <typename T>
using Result = std::expected<T, Status>;

}  // namespace herald

#endif  // HERALD_STATUS_H_
