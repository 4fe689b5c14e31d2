// Configuration of the Redis Streams publisher: the `redis://` URL and the
// options of PublisherOptions (see docs/redis.md).
#ifndef HERALD_PUBLISH_REDIS_REDIS_CONFIG_H_
#define HERALD_PUBLISH_REDIS_REDIS_CONFIG_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "herald/publisher.h"
#include "herald/status.h"

namespace herald::publish {

struct RedisConfig {
  // Connection, from the URL (user and password also as options).
  std::string host;
  int port = 6379;
  std::string user;      // empty: AUTH with the password alone (the default user)
  std::string password;  // empty: no AUTH
  int db = 0;            // SELECTed after connecting
  // The URL as given, its password masked: for logs and errors.
  std::string display;

  std::chrono::milliseconds connect_timeout{2000};
  // How long the oldest command may wait for its reply; past it the
  // connection is dropped and what it still owed is reported kRetry.
  std::chrono::milliseconds reply_timeout{5000};
  // The pause before the first reconnection attempt after a failure,
  // doubling up to reconnect_wait_max.
  std::chrono::milliseconds reconnect_wait{100};
  std::chrono::milliseconds reconnect_wait_max{5000};

  // Publishing.
  // The stream of an event: prefix + the event's topic.
  std::string stream_prefix;
  // > 0: XADD ... MAXLEN ~ maxlen (approximate trimming); 0: no trimming.
  std::int64_t maxlen = 0;
  // How long an event id is remembered (one key per event) so that a
  // re-publish adds no second entry; 0: no de-duplication (plain XADD).
  std::chrono::milliseconds dedup_window{std::chrono::minutes(10)};
  // How many entries may wait for their reply at once; the publisher's
  // thread sends no more while that many do (Publish() itself only queues).
  std::int64_t max_pending = 10000;
  // > 0: WAIT wait_replicas wait_timeout after each batch of entries, which
  // are kPublished only when that many replicas acknowledged them.
  int wait_replicas = 0;
  std::chrono::milliseconds wait_timeout{1000};
  // CloudEvents `source` attribute (field ce-source).
  std::string source = "herald";
};

// Parses "redis://[[user]:password@]host[:port][/db]" (port 6379 and db 0
// by default; user and password percent-decoded; an IPv6 host in
// brackets) and `options`. InvalidArgument, in one line naming the URL (its
// password masked) or the option, for a malformed URL (another scheme, no
// host, a bad port or db, a query or fragment, a bad percent escape),
// "rediss://" (hiredis 0.14 has no TLS), an unknown option, a bad number,
// and credentials given both in the URL and as options.
Result<RedisConfig> ParseRedisConfig(std::string_view url, const PublisherOptions& options);

// The names of every option ParseRedisConfig takes.
const std::vector<std::string_view>& RedisOptionNames();

}  // namespace herald::publish

#endif  // HERALD_PUBLISH_REDIS_REDIS_CONFIG_H_
