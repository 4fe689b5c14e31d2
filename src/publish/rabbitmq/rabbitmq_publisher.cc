#include "publish/rabbitmq/rabbitmq_publisher.h"

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "core/log.h"
#include "publish/common/cloud_events.h"
#include "publish/rabbitmq/rabbitmq_connection.h"

namespace herald::publish {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr amqp_channel_t kPublishChannel = 1;
// Passive exchange.declare runs here: a 404 closes this channel, not the one
// that holds the messages waiting for confirms.
constexpr amqp_channel_t kCheckChannel = 2;
constexpr int kFrameMax = 131072;
// AMQP 0-9-1 field-table names are short strings; RabbitMQ takes 128 bytes.
constexpr std::size_t kMaxHeaderName = 128;
constexpr std::size_t kMaxShortString = 255;

bool Readable(const std::string& path) {
  std::ifstream in(path);
  return in.good();
}

}  // namespace

struct RabbitMqPublisher::Call {
  std::span<const Event> events;
  DeliveryCallback on_delivery;
};

// Everything the publisher's thread owns: the connection and the messages
// waiting for their confirms. Touched by that thread only.
class RabbitMqPublisher::Worker {
 public:
  explicit Worker(RabbitMqPublisher& owner)
      : owner_(owner),
        config_(owner.config_),
        cloud_events_{.source = config_.source, .subject_from_key = true} {}

  void Run() {
    for (;;) {
      const bool stopping = TakeQueued();
      if (stopping) {
        Shutdown();
        return;
      }
      if (!sending_.empty()) SendSome();
      ExpireTimeouts();
      Wait(WaitTimeout());
      if (conn_ != nullptr) ReadFrames();
    }
  }

 private:
  struct Pending {
    std::shared_ptr<Call> call;
    std::size_t index = 0;
    Clock::time_point deadline;
    std::string exchange;
    std::size_t body_size = 0;
    std::string returned;  // the broker's reason when it returned the message
  };
  struct Sending {
    std::shared_ptr<Call> call;
    std::size_t next = 0;
  };

  static void Report(const std::shared_ptr<Call>& call, std::size_t index, Outcome outcome,
                     std::string error = {}) {
    call->on_delivery(index, Delivery{outcome, std::move(error)});
  }

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
           (conn_ == nullptr ||
            static_cast<std::int64_t>(unconfirmed_.size()) < config_.confirm_window);
  }

  int WaitTimeout() const {
    if (conn_ != nullptr && (amqp_frames_enqueued(conn_) || amqp_data_in_buffer(conn_))) {
      return 0;
    }
    if (CanSend()) return 0;
    milliseconds timeout(conn_ == nullptr ? 60000 : 1000);
    if (config_.tls && conn_ != nullptr) timeout = milliseconds(50);  // TLS may buffer a record
    if (!unconfirmed_.empty()) {
      auto left = std::chrono::duration_cast<milliseconds>(
                      unconfirmed_.begin()->second.deadline - Clock::now()) +
                  milliseconds(1);
      timeout = std::clamp(left, milliseconds(0), timeout);
    }
    return static_cast<int>(timeout.count());
  }

  void Wait(int timeout_ms) {
    pollfd fds[2] = {{owner_.wake_fd_, POLLIN, 0}, {-1, POLLIN, 0}};
    nfds_t n = 1;
    if (conn_ != nullptr) {
      fds[1].fd = amqp_get_sockfd(conn_);
      n = fds[1].fd >= 0 ? 2 : 1;
    }
    if (::poll(fds, n, timeout_ms) < 0 && errno != EINTR) {
      LogWarning("amqp: poll: {}", std::strerror(errno));
    }
  }

  // Connects, opens the publishing channel and publishes from sending_
  // while the confirm window has room.
  void SendSome() {
    if (conn_ == nullptr) {
      std::string why;
      if (!Connect(&why)) {
        FailSending(Outcome::kUnavailable, fmt::format("no connection to the broker: {}", why));
        return;
      }
    }
    if (!channel_open_) {
      std::string why;
      if (!OpenPublishChannel(&why)) {
        if (conn_ != nullptr) LoseConnection(why);
        FailSending(Outcome::kUnavailable, fmt::format("no channel on the broker: {}", why));
        return;
      }
    }
    int since_read = 0;
    while (conn_ != nullptr && channel_open_ && !sending_.empty() &&
           static_cast<std::int64_t>(unconfirmed_.size()) < config_.confirm_window) {
      Sending& s = sending_.front();
      std::shared_ptr<Call> call = s.call;
      const std::size_t index = s.next++;
      if (s.next == call->events.size()) sending_.pop_front();
      PublishOne(call, index);
      if (++since_read == 256) {  // take in the confirms that came meanwhile
        since_read = 0;
        if (conn_ != nullptr) ReadFrames();
      }
    }
  }

  void FailSending(Outcome outcome, const std::string& why) {
    std::deque<Sending> failing;
    failing.swap(sending_);
    for (Sending& s : failing) {
      for (std::size_t i = s.next; i < s.call->events.size(); ++i) {
        Report(s.call, i, outcome, why);
      }
    }
  }

  bool Connect(std::string* why) {
    conn_ = OpenAmqpConnection(config_, kFrameMax, why);
    if (conn_ == nullptr) return false;
    const int n = ++owner_.connections_;
    if (n > 1) {
      LogInfo("amqp: connected again to {}:{} (connection {})", config_.host, config_.port,
                   n);
    } else {
      LogInfo("amqp: connected to {}:{}", config_.host, config_.port);
    }
    return true;
  }

  bool OpenPublishChannel(std::string* why) {
    amqp_channel_open(conn_, kPublishChannel);
    amqp_rpc_reply_t reply = amqp_get_rpc_reply(conn_);
    if (reply.reply_type == AMQP_RESPONSE_NORMAL) {
      amqp_confirm_select(conn_, kPublishChannel);
      reply = amqp_get_rpc_reply(conn_);
    }
    if (reply.reply_type != AMQP_RESPONSE_NORMAL) {
      *why = DescribeReply(reply);
      return false;
    }
    channel_open_ = true;
    next_tag_ = 1;
    return true;
  }

  // Destroys the connection without a word to the broker.
  void Destroy() {
    if (conn_ != nullptr) amqp_destroy_connection(conn_);
    conn_ = nullptr;
    channel_open_ = false;
    check_channel_open_ = false;
    return_state_ = ReturnState::kNone;
  }

  // The connection is gone: every message waiting for its confirm is kRetry
  // (it may or may not have been stored). The next call connects anew.
  void LoseConnection(const std::string& why) {
    if (!closing_) LogWarning("amqp: connection lost: {}", why);
    Destroy();
    FailUnconfirmed([&](const Pending&) {
      return std::pair{Outcome::kRetry, fmt::format("connection to the broker lost before the "
                                                    "confirm: {}",
                                                    why)};
    });
  }

  template <typename Judge>
  void FailUnconfirmed(Judge judge) {
    std::map<std::uint64_t, Pending> failing;
    failing.swap(unconfirmed_);
    for (auto& [tag, p] : failing) {
      auto [outcome, error] = judge(p);
      Report(p.call, p.index, outcome, std::move(error));
    }
  }

  // Passive exchange.declare on the check channel. OkStatus when it exists
  // (or is the default exchange); NotFound with the broker's reason when the
  // broker says 404 or 403; Aborted for another channel error; Unavailable
  // when the connection went.
  Status CheckExchange(const std::string& exchange) {
    if (exchange.empty() || known_exchanges_.contains(exchange)) return OkStatus();
    if (!check_channel_open_) {
      amqp_channel_open(conn_, kCheckChannel);
      amqp_rpc_reply_t reply = amqp_get_rpc_reply(conn_);
      if (reply.reply_type != AMQP_RESPONSE_NORMAL) {
        std::string why = DescribeReply(reply);
        LoseConnection(why);
        return Unavailable(why);
      }
      check_channel_open_ = true;
    }
    amqp_exchange_declare(conn_, kCheckChannel, Bytes(exchange), amqp_cstring_bytes("direct"),
                          /*passive=*/1, 0, 0, 0, amqp_empty_table);
    amqp_rpc_reply_t reply = amqp_get_rpc_reply(conn_);
    if (reply.reply_type == AMQP_RESPONSE_NORMAL) {
      known_exchanges_.insert(exchange);
      return OkStatus();
    }
    Close close;
    bool channel_closed = false;
    std::string why = DescribeReply(reply, &close, &channel_closed);
    if (channel_closed) {
      amqp_channel_close_ok_t ok{};
      check_channel_open_ = false;
      if (amqp_send_method(conn_, kCheckChannel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok) !=
          AMQP_STATUS_OK) {
        LoseConnection("cannot answer the broker's channel.close");
        return Unavailable(why);
      }
      if (close.code == AMQP_NOT_FOUND || close.code == AMQP_ACCESS_REFUSED) {
        return NotFound(why);
      }
      return Aborted(why);
    }
    if (close.code != 0) {
      amqp_connection_close_ok_t ok{};
      amqp_send_method(conn_, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
    }
    LoseConnection(why);
    return Unavailable(why);
  }

  void PublishOne(const std::shared_ptr<Call>& call, std::size_t index) {
    const Event& event = call->events[index];
    const RabbitMqRoute route = RouteOf(event.topic, config_.exchange);
    if (route.exchange.size() > kMaxShortString || route.routing_key.size() > kMaxShortString) {
      Report(call, index, Outcome::kRejected,
             "exchange or routing key longer than 255 bytes");
      return;
    }
    for (const auto& [name, value] : event.headers) {
      if (name.empty() || name.size() > kMaxHeaderName) {
        Report(call, index, Outcome::kRejected,
               fmt::format("header name '{}' is empty or longer than {} bytes", name,
                           kMaxHeaderName));
        return;
      }
    }
    std::string exchange(route.exchange);
    if (Status s = CheckExchange(exchange); !s.ok()) {
      if (s.code() == Code::kNotFound) {
        Report(call, index, Outcome::kRejected, s.message());
      } else {
        Report(call, index, Outcome::kRetry, fmt::format("cannot check exchange '{}': {}",
                                                         exchange, s.message()));
      }
      return;
    }
    if (conn_ == nullptr || !channel_open_) {
      Report(call, index, Outcome::kRetry, "connection to the broker lost");
      return;
    }

    CloudEventsHeaders ce(event, cloud_events_, CloudEventsBinding::kAmqp);
    std::vector<amqp_table_entry_t> entries;
    entries.reserve(ce.size() + event.headers.size());
    auto add = [&entries](std::string_view name, std::string_view value) {
      amqp_table_entry_t e{};
      e.key = Bytes(name);
      e.value.kind = AMQP_FIELD_KIND_UTF8;
      e.value.value.bytes = Bytes(value);
      entries.push_back(e);
    };
    for (const CloudEventsHeader& h : ce) {
      // datacontenttype is the message's content_type property.
      if (h.attribute == CloudEventsAttribute::kDataContentType) continue;
      add(h.name, h.value);
    }
    for (const auto& [name, value] : event.headers) {
      const bool taken = std::any_of(entries.begin(), entries.end(), [&](const auto& e) {
        return Text(e.key) == name;
      });
      if (!taken) add(name, value);
    }
    const std::string id = event.id.ToString();
    amqp_basic_properties_t props{};
    props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG |
                   AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_TYPE_FLAG |
                   AMQP_BASIC_TIMESTAMP_FLAG | AMQP_BASIC_HEADERS_FLAG | AMQP_BASIC_APP_ID_FLAG;
    props.content_type = Bytes(event.content_type);
    props.delivery_mode = AMQP_DELIVERY_PERSISTENT;
    props.message_id = Bytes(id);
    props.type = Bytes(event.type);
    props.timestamp = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::seconds>(event.created_at.time_since_epoch())
            .count());
    props.app_id = amqp_cstring_bytes("herald");
    props.headers.num_entries = static_cast<int>(entries.size());
    props.headers.entries = entries.data();

    const std::uint64_t tag = next_tag_++;
    unconfirmed_.emplace(tag, Pending{call, index, Clock::now() + config_.confirm_timeout,
                                      exchange, event.payload.size(), {}});
    const int rc = amqp_basic_publish(conn_, kPublishChannel, Bytes(exchange),
                                      Bytes(route.routing_key), /*mandatory=*/1,
                                      /*immediate=*/0, &props, Bytes(event.payload));
    if (rc != AMQP_STATUS_OK) {
      // The message may be half sent: the connection cannot be trusted.
      if (rc == AMQP_STATUS_TABLE_TOO_BIG || rc == AMQP_STATUS_INVALID_PARAMETER) {
        unconfirmed_.erase(tag);
        Report(call, index, Outcome::kRejected,
               fmt::format("cannot encode the message: {}", amqp_error_string2(rc)));
      }
      LoseConnection(amqp_error_string2(rc));
    }
  }

  void ReadFrames() {
    for (;;) {
      if (conn_ == nullptr) return;
      amqp_frame_t frame{};
      timeval zero{0, 0};
      const int rc = amqp_simple_wait_frame_noblock(conn_, &frame, &zero);
      if (rc == AMQP_STATUS_TIMEOUT) break;
      if (rc != AMQP_STATUS_OK) {
        LoseConnection(amqp_error_string2(rc));
        return;
      }
      HandleFrame(frame);
    }
    if (conn_ != nullptr) amqp_maybe_release_buffers(conn_);
  }

  void HandleFrame(const amqp_frame_t& frame) {
    if (frame.frame_type == AMQP_FRAME_METHOD) {
      const amqp_method_t& m = frame.payload.method;
      if (frame.channel == 0) {
        if (m.id == AMQP_CONNECTION_CLOSE_METHOD) {
          const auto* close = static_cast<const amqp_connection_close_t*>(m.decoded);
          std::string why = Close{close->reply_code, Text(close->reply_text)}.ToString();
          amqp_connection_close_ok_t ok{};
          amqp_send_method(conn_, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
          LoseConnection(fmt::format("the broker closed the connection: {}", why));
        } else if (m.id == AMQP_CONNECTION_BLOCKED_METHOD) {
          const auto* blocked = static_cast<const amqp_connection_blocked_t*>(m.decoded);
          LogWarning("amqp: the broker blocks publishing: {}", Text(blocked->reason));
        } else if (m.id == AMQP_CONNECTION_UNBLOCKED_METHOD) {
          LogInfo("amqp: the broker publishes again");
        }
        return;
      }
      if (frame.channel != kPublishChannel) return;
      switch (m.id) {
        case AMQP_BASIC_ACK_METHOD: {
          const auto* ack = static_cast<const amqp_basic_ack_t*>(m.decoded);
          Confirm(ack->delivery_tag, ack->multiple != 0, /*ack=*/true);
          return;
        }
        case AMQP_BASIC_NACK_METHOD: {
          const auto* nack = static_cast<const amqp_basic_nack_t*>(m.decoded);
          Confirm(nack->delivery_tag, nack->multiple != 0, /*ack=*/false);
          return;
        }
        case AMQP_BASIC_RETURN_METHOD: {
          const auto* ret = static_cast<const amqp_basic_return_t*>(m.decoded);
          return_reason_ = fmt::format("{} {} (exchange '{}', routing key '{}')",
                                       ret->reply_code, Text(ret->reply_text),
                                       Text(ret->exchange), Text(ret->routing_key));
          return_state_ = ReturnState::kHeader;
          return;
        }
        case AMQP_CHANNEL_CLOSE_METHOD: {
          const auto* close = static_cast<const amqp_channel_close_t*>(m.decoded);
          ChannelClosed(Close{close->reply_code, Text(close->reply_text)});
          return;
        }
        default:
          return;
      }
    }
    if (frame.channel != kPublishChannel) return;
    if (frame.frame_type == AMQP_FRAME_HEADER && return_state_ == ReturnState::kHeader) {
      const auto* props =
          static_cast<const amqp_basic_properties_t*>(frame.payload.properties.decoded);
      return_message_id_ = (props->_flags & AMQP_BASIC_MESSAGE_ID_FLAG) != 0
                               ? Text(props->message_id)
                               : std::string();
      return_body_left_ = frame.payload.properties.body_size;
      return_state_ = ReturnState::kBody;
      if (return_body_left_ == 0) Returned();
    } else if (frame.frame_type == AMQP_FRAME_BODY && return_state_ == ReturnState::kBody) {
      const std::uint64_t len = frame.payload.body_fragment.len;
      return_body_left_ -= std::min(len, return_body_left_);
      if (return_body_left_ == 0) Returned();
    }
  }

  // The returned message is whole: its ack, which follows, reports it
  // rejected.
  void Returned() {
    return_state_ = ReturnState::kNone;
    for (auto& [tag, p] : unconfirmed_) {
      if (p.returned.empty() && p.call->events[p.index].id.ToString() == return_message_id_) {
        p.returned = return_reason_;
        return;
      }
    }
  }

  void Confirm(std::uint64_t tag, bool multiple, bool ack) {
    auto first = multiple ? unconfirmed_.begin() : unconfirmed_.find(tag);
    auto last = multiple ? unconfirmed_.upper_bound(tag) : first;
    if (!multiple && first != unconfirmed_.end()) last = std::next(first);
    std::vector<Pending> done;
    for (auto it = first; it != last; ++it) done.push_back(std::move(it->second));
    unconfirmed_.erase(first, last);
    for (Pending& p : done) {
      if (!ack) {
        Report(p.call, p.index, Outcome::kRetry, "the broker did not take the message (nack)");
      } else if (!p.returned.empty()) {
        Report(p.call, p.index, Outcome::kRejected,
               fmt::format("unroutable, returned by the broker: {}", p.returned));
      } else {
        Report(p.call, p.index, Outcome::kPublished);
      }
    }
  }

  // The broker closed the publishing channel: the message that caused it is
  // kRejected when it can be told (an exchange the reason names, a message
  // of the size it names), every other unconfirmed one kRetry.
  void ChannelClosed(const Close& close) {
    const std::string why = close.ToString();
    LogWarning("amqp: the broker closed the channel: {}", why);
    channel_open_ = false;
    return_state_ = ReturnState::kNone;
    amqp_channel_close_ok_t ok{};
    const int rc = amqp_send_method(conn_, kPublishChannel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
    std::size_t size = 0;
    bool has_size = false;
    if (std::size_t at = close.text.find("message size "); at != std::string::npos) {
      const char* begin = close.text.data() + at + 13;
      auto [end, ec] = std::from_chars(begin, close.text.data() + close.text.size(), size);
      has_size = ec == std::errc() && end != begin;
    }
    FailUnconfirmed([&](const Pending& p) {
      const bool names_exchange =
          (close.code == AMQP_NOT_FOUND || close.code == AMQP_ACCESS_REFUSED) &&
          !p.exchange.empty() &&
          close.text.find(fmt::format("exchange '{}'", p.exchange)) != std::string::npos;
      if (names_exchange || (has_size && p.body_size == size)) {
        return std::pair{Outcome::kRejected, why};
      }
      return std::pair{Outcome::kRetry,
                       fmt::format("the broker closed the channel before the confirm: {}", why)};
    });
    if (close.code == AMQP_NOT_FOUND || close.code == AMQP_ACCESS_REFUSED) {
      known_exchanges_.clear();
    }
    if (rc != AMQP_STATUS_OK) LoseConnection(amqp_error_string2(rc));
  }

  void ExpireTimeouts() {
    const auto now = Clock::now();
    while (!unconfirmed_.empty() && unconfirmed_.begin()->second.deadline <= now) {
      Pending p = std::move(unconfirmed_.begin()->second);
      unconfirmed_.erase(unconfirmed_.begin());
      Report(p.call, p.index, Outcome::kRetry,
             fmt::format("no confirm from the broker within {} ms",
                         config_.confirm_timeout.count()));
    }
  }

  // Closing: what was never sent is kRetry; the confirms of what was are
  // waited for up to the confirm timeout; what is left is kRetry.
  void Shutdown() {
    closing_ = true;
    FailSending(Outcome::kRetry, "the publisher was closed before the message was sent");
    while (conn_ != nullptr && !unconfirmed_.empty()) {
      ExpireTimeouts();
      if (unconfirmed_.empty()) break;
      Wait(WaitTimeout());
      ReadFrames();
    }
    FailUnconfirmed([](const Pending&) {
      return std::pair{Outcome::kRetry, std::string("the publisher was closed before the confirm")};
    });
    if (conn_ != nullptr) {
      if (channel_open_) amqp_channel_close(conn_, kPublishChannel, AMQP_REPLY_SUCCESS);
      if (conn_ != nullptr) amqp_connection_close(conn_, AMQP_REPLY_SUCCESS);
      Destroy();
    }
  }

  enum class ReturnState { kNone, kHeader, kBody };

  RabbitMqPublisher& owner_;
  const RabbitMqConfig& config_;
  const CloudEventsOptions cloud_events_;
  amqp_connection_state_t conn_ = nullptr;
  bool channel_open_ = false;
  bool check_channel_open_ = false;
  bool closing_ = false;
  std::uint64_t next_tag_ = 1;
  std::map<std::uint64_t, Pending> unconfirmed_;  // by delivery tag
  std::deque<Sending> sending_;
  std::set<std::string> known_exchanges_;
  ReturnState return_state_ = ReturnState::kNone;
  std::string return_reason_;
  std::string return_message_id_;
  std::uint64_t return_body_left_ = 0;
};

Result<std::unique_ptr<RabbitMqPublisher>> RabbitMqPublisher::Open(
    std::string_view url, const PublisherOptions& options) {
  Result<RabbitMqConfig> config = ParseRabbitMqConfig(url, options);
  if (!config) return std::unexpected(config.error());
  for (const auto& [option, path] : {std::pair{"tls.ca", config->tls_ca_file},
                                     std::pair{"tls.cert", config->tls_cert_file},
                                     std::pair{"tls.key", config->tls_key_file}}) {
    if (!path.empty() && !Readable(path)) {
      return std::unexpected(
          InvalidArgument(fmt::format("amqp option '{}': cannot read '{}'", option, path)));
    }
  }
  std::unique_ptr<RabbitMqPublisher> publisher(new RabbitMqPublisher(std::move(*config)));
  publisher->wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (publisher->wake_fd_ < 0) {
    return std::unexpected(Internal(fmt::format("amqp: eventfd: {}", std::strerror(errno))));
  }
  publisher->worker_ = std::make_unique<Worker>(*publisher);
  publisher->thread_ = std::thread([p = publisher.get()] { p->worker_->Run(); });
  return publisher;
}

RabbitMqPublisher::RabbitMqPublisher(RabbitMqConfig config) : config_(std::move(config)) {}

RabbitMqPublisher::~RabbitMqPublisher() {
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

Guarantees RabbitMqPublisher::guarantees() const {
  return Guarantees{.keeps_key_order = false, .deduplicates_by_id = false};
}

void RabbitMqPublisher::Publish(std::span<const Event> events, DeliveryCallback on_delivery) {
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
