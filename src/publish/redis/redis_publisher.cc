#include "publish/redis/redis_publisher.h"

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "core/log.h"
#include "publish/common/cloud_events.h"
#include "publish/redis/redis_connection.h"

namespace herald::publish {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// KEYS[1] the stream, KEYS[2] the event id's de-duplication key; ARGV[1]
// the window in milliseconds, ARGV[2] MAXLEN ('0': no trimming), ARGV[3...]
// the entry's fields and values. The lookup comes first and the key is set
// only once XADD has succeeded: an XADD that fails (WRONGTYPE...) leaves no
// key behind that would make a later retry look like a duplicate.
constexpr std::string_view kScript = R"lua(local existing = redis.call('GET', KEYS[2])
if existing then return {0, existing} end
local id
if ARGV[2] ~= '0' then
  id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 3))
else
  id = redis.call('XADD', KEYS[1], '*', unpack(ARGV, 3))
end
redis.call('SET', KEYS[2], id, 'PX', ARGV[1])
return {1, id}
)lua";

constexpr std::string_view kDedupPrefix = "herald:dedup:";
// The payload's field, after the attributes and headers.
constexpr std::string_view kDataField = "data";
// Replies read per turn of the loop before the thread looks at its queue.
constexpr int kMaxReadsPerTurn = 16;

// Error replies that say the server cannot take writes now but may soon.
bool IsTransientError(std::string_view error) {
  for (std::string_view prefix : {"LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN",
                                  "MISCONF", "READONLY", "NOREPLICAS", "NOAUTH"}) {
    if (error.starts_with(prefix) &&
        (error.size() == prefix.size() || error[prefix.size()] == ' ')) {
      return true;
    }
  }
  return false;
}

}  // namespace

std::string_view RedisPublisher::Script() { return kScript; }

struct RedisPublisher::Call {
  std::span<const Event> events;
  DeliveryCallback on_delivery;
};

// Everything the publisher's thread owns: the connection and the commands
// waiting for their replies. Touched by that thread only.
class RedisPublisher::Worker {
 public:
  explicit Worker(RedisPublisher& owner)
      : owner_(owner),
        config_(owner.config_),
        cloud_events_{.source = config_.source, .subject_from_key = true},
        backoff_(config_.reconnect_wait),
        window_arg_(std::to_string(config_.dedup_window.count())),
        maxlen_arg_(std::to_string(config_.maxlen)),
        wait_replicas_arg_(std::to_string(config_.wait_replicas)),
        wait_timeout_arg_(std::to_string(config_.wait_timeout.count())) {}

  void Run() {
    // A write to a connection the server closed must fail with EPIPE, not
    // kill the process: SIGPIPE stays blocked on this thread.
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    for (;;) {
      if (TakeQueued()) {
        Shutdown();
        return;
      }
      if (!sending_.empty()) SendSome();
      MaybeAppendWait();
      Flush();
      ExpireTimeouts();
      Wait(WaitTimeout());
      if (ctx_ != nullptr) ReadReplies();
    }
  }

 private:
  enum class Kind { kEntry, kWait };
  struct Pending {
    std::shared_ptr<Call> call;  // null for a WAIT
    std::size_t index = 0;
    Kind kind = Kind::kEntry;
    Clock::time_point deadline;
    bool eval = false;
  };
  // An entry whose reply came, waiting for the WAIT that follows it.
  struct Held {
    std::shared_ptr<Call> call;
    std::size_t index = 0;
    Delivery delivery;
  };
  struct Sending {
    std::shared_ptr<Call> call;
    std::size_t next = 0;
  };

  static void Report(const std::shared_ptr<Call>& call, std::size_t index, Outcome outcome,
                     std::string error = {}) {
    call->on_delivery(index, Delivery{outcome, std::move(error)});
  }

  bool dedup() const { return config_.dedup_window.count() > 0; }
  std::size_t outstanding() const { return pending_.size() + held_.size(); }

  // Moves queued calls to sending_; true when the publisher is closing.
  bool TakeQueued() {
    std::uint64_t ignored = 0;
    while (::read(owner_.wake_fd_, &ignored, sizeof(ignored)) > 0) {
    }
    std::lock_guard<std::mutex> lock(owner_.mu_);
    while (!owner_.queue_.empty()) {
      sending_.push_back(Sending{std::move(owner_.queue_.front()), 0});
      owner_.queue_.pop_front();
    }
    return owner_.stopping_;
  }

  bool CanSend() const {
    return !sending_.empty() &&
           (ctx_ == nullptr || static_cast<std::int64_t>(outstanding()) < config_.max_pending);
  }

  int WaitTimeout() const {
    if (CanSend()) return 0;
    milliseconds timeout(ctx_ == nullptr ? 60000 : 1000);
    if (!pending_.empty()) {
      auto left = std::chrono::duration_cast<milliseconds>(pending_.front().deadline -
                                                           Clock::now()) +
                  milliseconds(1);
      timeout = std::clamp(left, milliseconds(0), timeout);
    }
    return static_cast<int>(timeout.count());
  }

  void Wait(int timeout_ms) {
    pollfd fds[2] = {{owner_.wake_fd_, POLLIN, 0}, {-1, POLLIN, 0}};
    nfds_t n = 1;
    if (ctx_ != nullptr) {
      fds[1].fd = ctx_->fd;
      if (write_pending_) fds[1].events |= POLLOUT;
      n = 2;
    }
    if (::poll(fds, n, timeout_ms) < 0 && errno != EINTR) {
      LogWarning("redis: poll: {}", std::strerror(errno));
    }
  }

  // Connects when there is no connection, then appends entries from
  // sending_ while the window has room.
  void SendSome() {
    if (ctx_ == nullptr) {
      std::string why;
      if (!Connect(&why)) {
        FailSending(Outcome::kUnavailable, why);
        return;
      }
    }
    while (ctx_ != nullptr && !sending_.empty() &&
           static_cast<std::int64_t>(outstanding()) < config_.max_pending) {
      Sending& s = sending_.front();
      std::shared_ptr<Call> call = s.call;
      const std::size_t index = s.next++;
      if (s.next == call->events.size()) sending_.pop_front();
      AppendEntry(call, index, use_eval_);
    }
  }

  void FailSending(Outcome outcome, const std::string& why) {
    std::deque<Sending> failing;
    failing.swap(sending_);
    for (Sending& s : failing) {
      for (std::size_t i = s.next; i < s.call->events.size(); ++i) Report(s.call, i, outcome, why);
    }
  }

  bool Connect(std::string* why) {
    const auto now = Clock::now();
    if (now < next_connect_) {
      *why = fmt::format("no connection to {}: {} (next attempt in {} ms)", config_.display,
                         last_error_,
                         std::chrono::duration_cast<milliseconds>(next_connect_ - now).count());
      return false;
    }
    std::string error;
    redisContext* c = OpenRedisConnection(config_, &error);
    if (c != nullptr) error = LoadScript(c);
    if (error.empty()) {
      // From now on the thread never waits on the socket but in poll().
      const int flags = ::fcntl(c->fd, F_GETFL, 0);
      if (flags < 0 || ::fcntl(c->fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        error = fmt::format("fcntl: {}", std::strerror(errno));
      }
      c->flags &= ~REDIS_BLOCK;
    }
    if (!error.empty()) {
      if (c != nullptr) redisFree(c);
      last_error_ = error;
      next_connect_ = now + backoff_;
      backoff_ = std::min(backoff_ * 2, config_.reconnect_wait_max);
      *why = fmt::format("no connection to {}: {}", config_.display, error);
      if (!reported_down_) LogWarning("redis: {}", *why);
      reported_down_ = true;
      return false;
    }
    ctx_ = c;
    write_pending_ = false;
    backoff_ = config_.reconnect_wait;
    reported_down_ = false;
    const int n = ++owner_.connections_;
    if (n > 1) {
      LogInfo("redis: connected again to {} (connection {})", config_.display, n);
    } else {
      LogInfo("redis: connected to {}", config_.display);
    }
    return true;
  }

  // SCRIPT LOAD on a fresh, still blocking, connection.
  std::string LoadScript(redisContext* c) {
    if (dedup()) {
      std::string sha;
      if (std::string e = RedisCommand(c, {"SCRIPT", "LOAD", std::string(kScript)}, &sha);
          !e.empty()) {
        return "SCRIPT LOAD: " + e;
      }
      sha_ = std::move(sha);
      use_eval_ = false;
    }
    return {};
  }

  void AppendEntry(const std::shared_ptr<Call>& call, std::size_t index, bool eval) {
    const Event& event = call->events[index];
    const std::string stream = config_.stream_prefix + event.topic;
    const CloudEventsHeaders ce(event, cloud_events_, CloudEventsBinding::kRedis);
    std::vector<std::string_view> args;
    args.reserve(16 + 2 * event.headers.size());
    std::string dedup_key;
    if (dedup()) {
      dedup_key = fmt::format("{}{}:{}", kDedupPrefix, stream, ce.begin()->value);
      if (eval) {
        args.insert(args.end(), {"EVAL", kScript});
      } else {
        args.insert(args.end(), {"EVALSHA", sha_});
      }
      args.insert(args.end(), {"2", stream, dedup_key, window_arg_, maxlen_arg_});
    } else {
      args.insert(args.end(), {"XADD", stream});
      if (config_.maxlen > 0) args.insert(args.end(), {"MAXLEN", "~", maxlen_arg_});
      args.push_back("*");
    }
    for (const CloudEventsHeader& h : ce) args.insert(args.end(), {h.name, h.value});
    for (const auto& [name, value] : event.headers) {
      const bool taken = name == kDataField ||
                         std::any_of(ce.begin(), ce.end(),
                                     [&](const CloudEventsHeader& h) { return h.name == name; });
      if (!taken) args.insert(args.end(), {name, value});
    }
    args.insert(args.end(), {kDataField, event.payload});

    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    argv.reserve(args.size());
    lens.reserve(args.size());
    for (std::string_view a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    if (redisAppendCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data()) !=
        REDIS_OK) {
      Report(call, index, Outcome::kRetry, "redis: cannot buffer the command (out of memory)");
      return;
    }
    pending_.push_back(
        Pending{call, index, Kind::kEntry, Clock::now() + config_.reply_timeout, eval});
    write_pending_ = true;
    entries_since_wait_ = true;
  }

  // With herald.wait: a WAIT after the entries appended since the last one.
  void MaybeAppendWait() {
    if (config_.wait_replicas <= 0 || ctx_ == nullptr || !entries_since_wait_) return;
    if (redisAppendCommand(ctx_, "WAIT %s %s", wait_replicas_arg_.c_str(),
                           wait_timeout_arg_.c_str()) != REDIS_OK) {
      return;
    }
    pending_.push_back(Pending{nullptr, 0, Kind::kWait,
                               Clock::now() + config_.reply_timeout + config_.wait_timeout});
    write_pending_ = true;
    entries_since_wait_ = false;
  }

  void Flush() {
    if (ctx_ == nullptr || !write_pending_) return;
    int done = 0;
    if (redisBufferWrite(ctx_, &done) != REDIS_OK) {
      LoseConnection(ctx_->errstr);
      return;
    }
    write_pending_ = done == 0;
  }

  void ReadReplies() {
    for (int turn = 0; turn < kMaxReadsPerTurn && ctx_ != nullptr; ++turn) {
      const std::size_t before = ctx_->reader->len - ctx_->reader->pos;
      if (redisBufferRead(ctx_) != REDIS_OK) {
        LoseConnection(ctx_->errstr);
        return;
      }
      const bool got_bytes = ctx_->reader->len - ctx_->reader->pos > before;
      for (;;) {
        void* r = nullptr;
        if (redisGetReplyFromReader(ctx_, &r) != REDIS_OK) {
          LoseConnection(ctx_->errstr);
          return;
        }
        if (r == nullptr) break;
        auto* reply = static_cast<redisReply*>(r);
        HandleReply(*reply);
        freeReplyObject(reply);
        if (ctx_ == nullptr) return;
      }
      if (!got_bytes) return;
      // Room in the window: keep the pipeline full while replies come.
      if (CanSend()) SendSome();
      MaybeAppendWait();
      Flush();
    }
  }

  void HandleReply(const redisReply& reply) {
    if (pending_.empty()) {
      LoseConnection("a reply for no command");
      return;
    }
    Pending p = std::move(pending_.front());
    pending_.pop_front();
    if (p.kind == Kind::kWait) {
      HandleWait(reply);
      return;
    }
    Delivery d;
    if (reply.type == REDIS_REPLY_ARRAY && reply.elements == 2 &&
        reply.element[0]->type == REDIS_REPLY_INTEGER) {
      if (reply.element[0]->integer == 0) owner_.duplicates_.fetch_add(1);
      if (p.eval) use_eval_ = false;  // the server knows the script again
    } else if (reply.type == REDIS_REPLY_STRING) {
      // XADD's entry id.
    } else if (reply.type == REDIS_REPLY_ERROR) {
      const std::string_view error = ReplyText(&reply);
      if (error.starts_with("NOSCRIPT") && !p.eval) {
        // The script cache was flushed: send the script itself (which
        // caches it again) for this entry and the next ones.
        use_eval_ = true;
        AppendEntry(p.call, p.index, /*eval=*/true);
        return;
      }
      const Event& event = p.call->events[p.index];
      d = Delivery{IsTransientError(error) ? Outcome::kRetry : Outcome::kRejected,
                   fmt::format("redis: {} (stream '{}{}')", error, config_.stream_prefix,
                               event.topic)};
    } else {
      d = Delivery{Outcome::kRetry, fmt::format("redis: unexpected reply of type {}", reply.type)};
    }
    if (config_.wait_replicas > 0) {
      held_.push_back(Held{std::move(p.call), p.index, std::move(d)});
    } else {
      p.call->on_delivery(p.index, std::move(d));
    }
  }

  void HandleWait(const redisReply& reply) {
    std::string shortfall;
    if (reply.type == REDIS_REPLY_INTEGER) {
      if (reply.integer < config_.wait_replicas) {
        shortfall = fmt::format(
            "redis: WAIT: {} of {} replicas acknowledged the entry within {} ms (it is stored "
            "on the primary; a re-publish is de-duplicated)",
            reply.integer, config_.wait_replicas, config_.wait_timeout.count());
      }
    } else {
      shortfall = fmt::format("redis: WAIT: {}", reply.type == REDIS_REPLY_ERROR
                                                     ? ReplyText(&reply)
                                                     : std::string_view("unexpected reply"));
    }
    std::vector<Held> held;
    held.swap(held_);
    for (Held& h : held) {
      if (h.delivery.outcome == Outcome::kPublished && !shortfall.empty()) {
        h.delivery = Delivery{Outcome::kRetry, shortfall};
      }
      h.call->on_delivery(h.index, std::move(h.delivery));
    }
  }

  void ExpireTimeouts() {
    if (ctx_ == nullptr || pending_.empty() || pending_.front().deadline > Clock::now()) return;
    LoseConnection(fmt::format("no reply within {} ms", config_.reply_timeout.count()));
  }

  // Drops the connection: every entry whose reply did not come, and every
  // one still waiting for its WAIT, is kRetry.
  void LoseConnection(const std::string& why) {
    if (!closing_) LogWarning("redis: connection to {} lost: {}", config_.display, why);
    redisFree(ctx_);
    ctx_ = nullptr;
    write_pending_ = false;
    entries_since_wait_ = false;
    last_error_ = why;
    std::deque<Pending> pending;
    pending.swap(pending_);
    std::vector<Held> held;
    held.swap(held_);
    const std::string error =
        fmt::format("redis: connection lost before the reply came: {}", why);
    for (Held& h : held) {
      if (h.delivery.outcome == Outcome::kPublished) h.delivery = Delivery{Outcome::kRetry, error};
      h.call->on_delivery(h.index, std::move(h.delivery));
    }
    for (Pending& p : pending) {
      if (p.kind == Kind::kEntry) Report(p.call, p.index, Outcome::kRetry, error);
    }
  }

  // Closing: what was never sent is kRetry; the replies of what was are
  // waited for up to the reply timeout; what is left is kRetry.
  void Shutdown() {
    closing_ = true;
    FailSending(Outcome::kRetry, "redis: the publisher was closed before the entry was sent");
    MaybeAppendWait();
    while (ctx_ != nullptr && !pending_.empty()) {
      Flush();
      ExpireTimeouts();
      if (ctx_ == nullptr) break;
      Wait(WaitTimeout());
      if (ctx_ != nullptr) ReadReplies();
    }
    if (ctx_ != nullptr) LoseConnection("the publisher was closed");
  }

  RedisPublisher& owner_;
  const RedisConfig& config_;
  const CloudEventsOptions cloud_events_;
  redisContext* ctx_ = nullptr;
  bool write_pending_ = false;
  bool entries_since_wait_ = false;
  bool use_eval_ = false;
  bool closing_ = false;
  bool reported_down_ = false;
  std::string sha_;
  std::string last_error_ = "not connected yet";
  Clock::time_point next_connect_{};
  milliseconds backoff_;
  const std::string window_arg_;
  const std::string maxlen_arg_;
  const std::string wait_replicas_arg_;
  const std::string wait_timeout_arg_;
  std::deque<Pending> pending_;  // in the order of the connection's replies
  std::vector<Held> held_;
  std::deque<Sending> sending_;
};

Result<std::unique_ptr<RedisPublisher>> RedisPublisher::Open(std::string_view url,
                                                             const PublisherOptions& options) {
  Result<RedisConfig> config = ParseRedisConfig(url, options);
  if (!config) return std::unexpected(config.error());
  std::unique_ptr<RedisPublisher> publisher(new RedisPublisher(std::move(*config)));
  publisher->wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (publisher->wake_fd_ < 0) {
    return std::unexpected(Internal(fmt::format("redis: eventfd: {}", std::strerror(errno))));
  }
  publisher->worker_ = std::make_unique<Worker>(*publisher);
  publisher->thread_ = std::thread([p = publisher.get()] { p->worker_->Run(); });
  return publisher;
}

RedisPublisher::RedisPublisher(RedisConfig config) : config_(std::move(config)) {}

RedisPublisher::~RedisPublisher() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  if (wake_fd_ >= 0) {
    const std::uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof(one));
  }
  if (thread_.joinable()) thread_.join();
  worker_.reset();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

Guarantees RedisPublisher::guarantees() const {
  return Guarantees{.keeps_key_order = false,
                    .deduplicates_by_id = config_.dedup_window.count() > 0};
}

void RedisPublisher::Publish(std::span<const Event> events, DeliveryCallback on_delivery) {
  if (events.empty()) return;
  auto call = std::make_shared<Call>(Call{events, std::move(on_delivery)});
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(call));
  }
  const std::uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof(one));
}

}  // namespace herald::publish
