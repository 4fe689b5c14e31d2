// Redis Streams for the example consumers: a reader (bus_reader.h) of a
// stream from its first entry with XREAD (no consumer group, nothing
// acknowledged), the event id from the entry's `ce-id` field, the key from
// `ce-subject` and the payload from `data` (docs/redis.md); and the removal
// of a run's stream and of the publisher's de-duplication keys for it.
#ifndef HERALD_EXAMPLES_SERVICES_REDIS_READER_H_
#define HERALD_EXAMPLES_SERVICES_REDIS_READER_H_

#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "herald/status.h"
#include "publish/redis/redis_config.h"
#include "services/bus_reader.h"

typedef struct redisContext redisContext;

namespace herald::examples {

// Deletes the stream `stream` and the publisher's de-duplication keys of
// its entries; what is not there is no error.
Status DeleteRedisStream(const publish::RedisConfig& config, const std::string& stream);

class RedisStreamReader final : public BusReader {
 public:
  static Result<std::unique_ptr<RedisStreamReader>> Open(const publish::RedisConfig& config,
                                                         const std::string& stream);
  ~RedisStreamReader() override;
  RedisStreamReader(const RedisStreamReader&) = delete;
  RedisStreamReader& operator=(const RedisStreamReader&) = delete;

  // After a lost connection, connects again and goes on after the last
  // entry it returned.
  Result<std::optional<BusMessage>> Poll(std::chrono::milliseconds timeout) override;

 private:
  RedisStreamReader(publish::RedisConfig config, std::string stream)
      : config_(std::move(config)), stream_(std::move(stream)) {}
  // Reads the next entries after last_id_ into buffered_, waiting up to
  // `timeout` for one.
  Status Read(std::chrono::milliseconds timeout);

  publish::RedisConfig config_;
  std::string stream_;
  redisContext* ctx_ = nullptr;
  std::string last_id_ = "0";
  std::deque<Result<BusMessage>> buffered_;
};

}  // namespace herald::examples

#endif  // HERALD_EXAMPLES_SERVICES_REDIS_READER_H_
