// The `redis://` publisher: Redis Streams, on hiredis.
//
// Each event becomes one stream entry, added with XADD to the stream named
// herald.stream.prefix + the event's topic (with MAXLEN ~ herald.maxlen when
// set). Its fields, binary-safe, in this order: the CloudEvents attributes
// ce-id (the event id), ce-type, ce-source, ce-time, ce-specversion,
// ce-subject (the key, when there is one) and content-type; then the event's
// own headers, one field each (a header named like one of those fields, or
// `data`, is left out); then `data` = the payload.
//
// De-duplication (herald.dedup_window_ms > 0, the default): every entry is
// added by a Lua script (EVALSHA, loaded with SCRIPT LOAD on each connection;
// EVAL when the server answers NOSCRIPT) that atomically looks up the key
// herald:dedup:<stream>:<event id>, and only when it is absent runs XADD and
// sets it to the new entry id with PX = the window. A re-publish within the
// window adds nothing and is reported kPublished (counted in duplicates()).
//
// Pipelining: one thread of the publisher's own owns the connection (hiredis
// is not thread-safe): it takes the calls Publish() queues, appends their
// commands to the connection's buffer, writes, and reads the replies in
// order, with at most herald.max_pending entries waiting for their replies.
// With herald.wait set, a WAIT follows each batch of entries and an entry is
// kPublished only when WAIT reports enough replicas.
//
// Outcomes: the entry's id in the reply (new or duplicate) -> kPublished;
// LOADING, BUSY, MASTERDOWN, TRYAGAIN, CLUSTERDOWN, MISCONF, READONLY,
// NOREPLICAS or NOAUTH -> kRetry with the server's answer; any other error
// reply (WRONGTYPE, OOM, NOPERM, a script error...) -> kRejected with the
// server's answer; no connection to be had -> kUnavailable (nothing of the
// event was sent); a connection lost or no reply within
// herald.reply_timeout_ms -> kRetry for every entry whose reply had not come
// (the connection is dropped and made anew, with backoff). See docs/redis.md.
#ifndef HERALD_PUBLISH_REDIS_REDIS_PUBLISHER_H_
#define HERALD_PUBLISH_REDIS_REDIS_PUBLISHER_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <string_view>
#include <thread>

#include "herald/event.h"
#include "herald/publisher.h"
#include "herald/status.h"
#include "publish/redis/redis_config.h"

namespace herald::publish {

class RedisPublisher final : public Publisher {
 public:
  // Parses `url` and `options` (see ParseRedisConfig) and starts the
  // publisher's thread. InvalidArgument for a bad URL or option. It does not
  // connect: the first call does, and a server that cannot be reached then
  // is reported kUnavailable.
  static Result<std::unique_ptr<RedisPublisher>> Open(std::string_view url,
                                                      const PublisherOptions& options);

  // Waits (up to the reply timeout) for outstanding replies, reports every
  // event still outstanding kRetry, closes the connection and joins the
  // publisher's thread. No callback runs after it returns.
  ~RedisPublisher() override;
  RedisPublisher(const RedisPublisher&) = delete;
  RedisPublisher& operator=(const RedisPublisher&) = delete;

  // keeps_key_order: false. Commands of one connection run in order, and a
  // lost connection leaves a prefix of them applied, but an error reply to
  // one entry (LOADING, BUSY, OOM...) does not stop the commands sent after
  // it: a later entry of the same key may land first. The relay then keeps
  // one event per key in flight. deduplicates_by_id: true unless
  // herald.dedup_window_ms is 0.
  Guarantees guarantees() const override;

  // Queues the call for the publisher's thread and returns; never blocks.
  // Deliveries come on that thread.
  // REQUIRES: one caller at a time.
  void Publish(std::span<const Event> events, DeliveryCallback on_delivery) override;

  // How many entries the script found already stored (reported kPublished).
  std::uint64_t duplicates() const { return duplicates_.load(); }
  // How many connections were made (the first and every new one after a
  // loss).
  int connections() const { return connections_.load(); }

  // The Lua script that adds one entry unless its event id is known.
  static std::string_view Script();

 private:
  struct Call;
  class Worker;

  explicit RedisPublisher(RedisConfig config);

  const RedisConfig config_;
  std::mutex mu_;
  std::deque<std::shared_ptr<Call>> queue_;  // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  int wake_fd_ = -1;                         // an eventfd the thread polls with its socket
  std::atomic<std::uint64_t> duplicates_{0};
  std::atomic<int> connections_{0};
  std::unique_ptr<Worker> worker_;
  std::thread thread_;
};

}  // namespace herald::publish

#endif  // HERALD_PUBLISH_REDIS_REDIS_PUBLISHER_H_
