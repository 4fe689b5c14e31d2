// The scheme of the Redis folder: "redis://[[USER]:PASSWORD@]HOST:PORT[/DB]"
// (docs/redis.md). "rediss://" is refused by ParseRedisConfig with the
// reason (hiredis 0.14 has no TLS), so it is registered too: the operator
// learns why rather than "unknown scheme".
#include <array>
#include <span>

#include <hiredis/hiredis.h>

#include <string>

#include <fmt/format.h>

#include "publish/redis/redis_publisher.h"
#include "publish/scheme.h"

namespace herald::publish::redis {
namespace {

std::string Library() {
  return fmt::format("hiredis {}.{}.{}", HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH);
}

constexpr std::array kSchemes = {
    Scheme{"redis", "redis://[[USER]:PASSWORD@]HOST:PORT[/DB]", "docs/redis.md",
           OpenAs<RedisPublisher>, Library},
    Scheme{"rediss", "rediss://... (not supported: hiredis 0.14 has no TLS)", "docs/redis.md",
           OpenAs<RedisPublisher>, Library},
};

}  // namespace

std::span<const Scheme> Schemes() { return kSchemes; }

}  // namespace herald::publish::redis
