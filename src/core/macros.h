// Internal helpers that keep call sites flat. Not part of the public API.
#ifndef HERALD_CORE_MACROS_H_
#define HERALD_CORE_MACROS_H_

#include "herald/status.h"

#define HERALD_CONCAT_INNER_(a, b) a##b
#define HERALD_CONCAT_(a, b) HERALD_CONCAT_INNER_(a, b)

// Returns the Status from the enclosing function if `expr` is not OK.
#define HERALD_RETURN_IF_ERROR(expr)                 \
  do {                                               \
    ::herald::Status herald_status_ = (expr);        \
    if (!herald_status_.ok())                        \
      return ::herald::internal::Propagated{std::move(herald_status_)}; \
  } while (0)

// Evaluates `rexpr` (a Result<T>); on error returns its Status, else moves the
// value into `lhs`, which may be a declaration.
#define HERALD_ASSIGN_OR_RETURN(lhs, rexpr) \
  HERALD_ASSIGN_OR_RETURN_IMPL_(HERALD_CONCAT_(herald_result_, __LINE__), lhs, rexpr)
#define HERALD_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, rexpr)                         \
  auto tmp = (rexpr);                                                          \
  if (!tmp.has_value()) return ::herald::internal::Propagated{std::move(tmp).error()}; \
  lhs = std::move(tmp).value()

namespace herald::internal {
// Converts to whatever the enclosing function returns: Status or Result<T>.
struct Propagated {
  Status status;
  operator Status() && { return std::move(status); }  // NOLINT
  template <typename T>
  operator Result<T>() && {  // NOLINT
    return std::unexpected(std::move(status));
  }
};
}  // namespace herald::internal

#endif  // HERALD_CORE_MACROS_H_
