// Internal: a duration as the `struct timeval` that C client libraries
// (rabbitmq-c, hiredis) take for their timeouts.
#ifndef HERALD_PUBLISH_COMMON_TIMEVAL_H_
#define HERALD_PUBLISH_COMMON_TIMEVAL_H_

#include <sys/time.h>

#include <chrono>

namespace herald::publish {

inline timeval ToTimeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

}  // namespace herald::publish

#endif  // HERALD_PUBLISH_COMMON_TIMEVAL_H_
