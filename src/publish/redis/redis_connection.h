// Copyright (c) Herald authors. Licensed under the Apache License 2.0.
//
// A blocking hiredis connection made from a RedisConfig (connect timeout,
// reply timeout, keep-alive, AUTH, SELECT), and one-command round trips on
// it: for the publisher's set-up and for other clients of the same URL (the
// example consumers of `herald demo`). Internal to Herald.
#ifndef HERALD_PUBLISH_REDIS_REDIS_CONNECTION_H_
#define HERALD_PUBLISH_REDIS_REDIS_CONNECTION_H_

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "publish/common/timeval.h"
#include "publish/redis/redis_config.h"

namespace herald::publish {

// The text of a string, status or error reply.
std::string_view ReplyText(const redisReply* r);

// A one-command round trip on a blocking context; the error, or "". The
// reply's text goes to `out` when given.
std::string RedisCommand(redisContext* c, const std::vector<std::string>& args, std::string* out);

// Connects to the server of `config`, authenticates and selects its
// database. The blocking connection (replies wait up to the config's reply
// timeout), or nullptr with the reason in `why`.
redisContext* OpenRedisConnection(const RedisConfig& config, std::string* why);

}  // namespace herald::publish

#endif  // HERALD_PUBLISH_REDIS_REDIS_CONNECTION_H_
