#include "services/redis_reader.h"

#include <hiredis/hiredis.h>

#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "core/macros.h"
#include "publish/redis/redis_connection.h"

namespace herald::examples {
namespace {

using publish::RedisCommand;
using publish::ReplyText;

using ReplyPtr = std::unique_ptr<redisReply, void (*)(void*)>;

ReplyPtr Run(redisContext* c, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  for (const std::string& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  return ReplyPtr(static_cast<redisReply*>(redisCommandArgv(
                      c, static_cast<int>(argv.size()), argv.data(), lens.data())),
                  freeReplyObject);
}

// One stream entry ([id, [field, value, ...]]) as a message.
Result<BusMessage> ToMessage(const std::string& stream, const redisReply* entry) {
  std::optional<EventId> id;
  BusMessage out;
  const redisReply* fields = entry->element[1];
  for (std::size_t i = 0; i + 1 < fields->elements; i += 2) {
    const std::string_view name = ReplyText(fields->element[i]);
    const std::string_view value = ReplyText(fields->element[i + 1]);
    if (name == "ce-id") id = EventId::Parse(value);
    if (name == "ce-subject") out.key = std::string(value);
    if (name == "data") out.payload = std::string(value);
  }
  if (!id) {
    return std::unexpected(InvalidArgument(fmt::format(
        "entry {} of stream '{}' has no valid ce-id field", ReplyText(entry->element[0]), stream)));
  }
  out.id = *id;
  return out;
}

}  // namespace

Status DeleteRedisStream(const publish::RedisConfig& config, const std::string& stream) {
  std::string why;
  redisContext* c = publish::OpenRedisConnection(config, &why);
  if (c == nullptr) return Unavailable("redis: " + why);
  std::unique_ptr<redisContext, void (*)(redisContext*)> owned(c, redisFree);
  std::string cursor = "0";
  do {
    ReplyPtr r = Run(c, {"SCAN", cursor, "MATCH", "herald:dedup:" + stream + ":*", "COUNT", "1000"});
    if (r == nullptr || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
      return Unavailable(fmt::format("redis: SCAN: {}", r ? ReplyText(r.get()) : c->errstr));
    }
    cursor = std::string(ReplyText(r->element[0]));
    std::vector<std::string> del = {"DEL"};
    for (std::size_t i = 0; i < r->element[1]->elements; ++i) {
      del.emplace_back(ReplyText(r->element[1]->element[i]));
    }
    if (del.size() > 1) {
      if (std::string e = RedisCommand(c, del, nullptr); !e.empty()) {
        return Unavailable("redis: DEL: " + e);
      }
    }
  } while (cursor != "0");
  if (std::string e = RedisCommand(c, {"DEL", stream}, nullptr); !e.empty()) {
    return Unavailable("redis: DEL: " + e);
  }
  return OkStatus();
}

Result<std::unique_ptr<RedisStreamReader>> RedisStreamReader::Open(
    const publish::RedisConfig& config, const std::string& stream) {
  std::unique_ptr<RedisStreamReader> reader(new RedisStreamReader(config, stream));
  std::string why;
  reader->ctx_ = publish::OpenRedisConnection(reader->config_, &why);
  if (reader->ctx_ == nullptr) return std::unexpected(Unavailable("redis: " + why));
  return reader;
}

RedisStreamReader::~RedisStreamReader() {
  if (ctx_ != nullptr) redisFree(ctx_);
}

Status RedisStreamReader::Read(std::chrono::milliseconds timeout) {
  if (ctx_ == nullptr) {
    std::string why;
    ctx_ = publish::OpenRedisConnection(config_, &why);
    if (ctx_ == nullptr) {
      std::this_thread::sleep_for(timeout);
      return Unavailable("redis: " + why);
    }
  }
  ReplyPtr r = Run(ctx_, {"XREAD", "COUNT", "500", "BLOCK", std::to_string(timeout.count()),
                          "STREAMS", stream_, last_id_});
  if (r == nullptr) {  // the connection is gone: make a new one next time
    redisFree(ctx_);
    ctx_ = nullptr;
    return Unavailable("redis: lost the connection");
  }
  if (r->type == REDIS_REPLY_NIL) return OkStatus();  // nothing within the timeout
  if (r->type != REDIS_REPLY_ARRAY || r->elements != 1) {
    return Unavailable(fmt::format("redis: XREAD: {}", ReplyText(r.get())));
  }
  const redisReply* entries = r->element[0]->element[1];
  for (std::size_t i = 0; i < entries->elements; ++i) {
    last_id_ = std::string(ReplyText(entries->element[i]->element[0]));
    buffered_.push_back(ToMessage(stream_, entries->element[i]));
  }
  return OkStatus();
}

Result<std::optional<BusMessage>> RedisStreamReader::Poll(std::chrono::milliseconds timeout) {
  if (buffered_.empty()) {
    // Transport errors are ridden out here: the next Poll connects again.
    static_cast<void>(Read(timeout));
    if (buffered_.empty()) return std::optional<BusMessage>();
  }
  Result<BusMessage> next = std::move(buffered_.front());
  buffered_.pop_front();
  if (!next) return std::unexpected(next.error());
  return std::optional<BusMessage>(std::move(*next));
}

}  // namespace herald::examples
