// Copyright (c) Herald authors. Licensed under the Apache License 2.0.
#include "publish/redis/redis_connection.h"

#include <fmt/format.h>

namespace herald::publish {

std::string_view ReplyText(const redisReply* r) {
  return r->str != nullptr ? std::string_view(r->str, r->len) : std::string_view();
}

// A one-command round trip on a blocking context; the error, or "".
std::string RedisCommand(redisContext* c, const std::vector<std::string>& args, std::string* out) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  for (const std::string& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* reply = static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
  if (reply == nullptr) return c->errstr[0] != '\0' ? c->errstr : "no reply";
  std::string error;
  if (reply->type == REDIS_REPLY_ERROR) {
    error = std::string(ReplyText(reply));
  } else if (out != nullptr) {
    *out = std::string(ReplyText(reply));
  }
  freeReplyObject(reply);
  return error;
}

redisContext* OpenRedisConnection(const RedisConfig& config, std::string* why) {
  redisContext* c = redisConnectWithTimeout(config.host.c_str(), config.port,
                                            ToTimeval(config.connect_timeout));
  if (c == nullptr) {
    *why = "cannot allocate a connection";
    return nullptr;
  }
  std::string error;
  if (c->err != 0) {
    error = c->errstr;
  } else {
    redisSetTimeout(c, ToTimeval(config.reply_timeout));
    redisEnableKeepAlive(c);
    if (!config.password.empty()) {
      std::vector<std::string> auth = {"AUTH"};
      if (!config.user.empty()) auth.push_back(config.user);
      auth.push_back(config.password);
      if (std::string e = RedisCommand(c, auth, nullptr); !e.empty()) error = "AUTH: " + e;
    }
    if (error.empty() && config.db != 0) {
      if (std::string e = RedisCommand(c, {"SELECT", std::to_string(config.db)}, nullptr);
          !e.empty()) {
        error = fmt::format("SELECT {}: {}", config.db, e);
      }
    }
  }
  if (!error.empty()) {
    redisFree(c);
    *why = error;
    return nullptr;
  }
  return c;
}

}  // namespace herald::publish
