// Internal: runs an inbox handler, turning a thrown exception into a Status
// so that nothing is thrown across Herald's API.
#ifndef HERALD_INBOX_HANDLER_CALL_H_
#define HERALD_INBOX_HANDLER_CALL_H_

#include <exception>
#include <functional>
#include <string>

#include "herald/status.h"

namespace herald::inbox_internal {

template <typename Conn>
Status CallHandler(const std::function<Status(Conn*)>& handler, Conn* conn) {
  if (!handler) return InvalidArgument("inbox: no handler");
  try {
    return handler(conn);
  } catch (const std::exception& e) {
    return Internal(std::string("inbox handler threw: ") + e.what());
  } catch (...) {
    return Internal("inbox handler threw a non-standard exception");
  }
}

}  // namespace herald::inbox_internal

#endif  // HERALD_INBOX_HANDLER_CALL_H_
