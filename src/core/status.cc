#include "herald/status.h"

namespace herald {

std::string_view CodeName(Code code) {
  switch (code) {
    case Code::kOk: return "ok";
    case Code::kCancelled: return "cancelled";
    case Code::kInvalidArgument: return "invalid argument";
    case Code::kNotFound: return "not found";
    case Code::kAlreadyExists: return "already exists";
    case Code::kFailedPrecondition: return "failed precondition";
    case Code::kResourceExhausted: return "resource exhausted";
    case Code::kAborted: return "aborted";
    case Code::kUnavailable: return "unavailable";
    case Code::kDeadlineExceeded: return "deadline exceeded";
    case Code::kInternal: return "internal";
    case Code::kInDoubt: return "in doubt";
  }
  return "unknown";
}

Status::Status(Code code, std::string message) : code_(code), message_(std::move(message)) {
  if (code_ == Code::kOk) message_.clear();
}

Recovery Status::recovery() const {
  switch (code_) {
    case Code::kUnavailable:
    case Code::kDeadlineExceeded:
      return Recovery::kRetryCall;
    case Code::kAborted:
      return Recovery::kRetryTransaction;
    case Code::kInDoubt:
      return Recovery::kInDoubt;
    default:
      return Recovery::kNone;
  }
}

bool Status::retriable() const {
  const Recovery r = recovery();
  return r == Recovery::kRetryCall || r == Recovery::kRetryTransaction;
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  std::string out(CodeName(code_));
  if (!message_.empty()) {
    out += ": ";
    out += message_;
  }
  return out;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  std::string m(context);
  m += ": ";
  m += message_;
  return Status(code_, std::move(m));
}

}  // namespace herald
