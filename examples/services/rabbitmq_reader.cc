#include "services/rabbitmq_reader.h"

#include <amqp.h>
#include <amqp_framing.h>

#include <thread>
#include <utility>

#include <fmt/format.h>

#include "core/macros.h"
#include "publish/rabbitmq/rabbitmq_connection.h"

namespace herald::examples {
namespace {

using publish::Bytes;
using publish::DescribeReply;
using publish::Text;

constexpr amqp_channel_t kChannel = 1;
constexpr int kFrameMax = 131072;

// A logged-in connection with channel 1 open, closed on destruction.
class Session {
 public:
  ~Session() {
    if (conn_ == nullptr) return;
    amqp_channel_close(conn_, kChannel, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn_, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn_);
  }
  Status Open(const publish::RabbitMqConfig& config) {
    std::string why;
    conn_ = publish::OpenAmqpConnection(config, kFrameMax, &why);
    if (conn_ == nullptr) return Unavailable("amqp: " + why);
    amqp_channel_open(conn_, kChannel);
    return Check("channel.open");
  }
  // The last RPC's outcome.
  Status Check(std::string_view what) {
    amqp_rpc_reply_t reply = amqp_get_rpc_reply(conn_);
    if (reply.reply_type == AMQP_RESPONSE_NORMAL) return OkStatus();
    return Unavailable(fmt::format("amqp {}: {}", what, DescribeReply(reply)));
  }
  amqp_connection_state_t conn() const { return conn_; }
  amqp_connection_state_t Release() { return std::exchange(conn_, nullptr); }

 private:
  amqp_connection_state_t conn_ = nullptr;
};

}  // namespace

Status DeclareRabbitMqFanout(const publish::RabbitMqConfig& config, const std::string& exchange,
                             const std::vector<std::string>& queues) {
  Session s;
  HERALD_RETURN_IF_ERROR(s.Open(config));
  amqp_exchange_declare(s.conn(), kChannel, Bytes(exchange), amqp_cstring_bytes("fanout"),
                        /*passive=*/0, /*durable=*/1, /*auto_delete=*/0, /*internal=*/0,
                        amqp_empty_table);
  HERALD_RETURN_IF_ERROR(s.Check("exchange.declare " + exchange));
  for (const std::string& q : queues) {
    amqp_queue_declare(s.conn(), kChannel, Bytes(q), /*passive=*/0, /*durable=*/1,
                       /*exclusive=*/0, /*auto_delete=*/0, amqp_empty_table);
    HERALD_RETURN_IF_ERROR(s.Check("queue.declare " + q));
    amqp_queue_bind(s.conn(), kChannel, Bytes(q), Bytes(exchange), amqp_empty_bytes,
                    amqp_empty_table);
    HERALD_RETURN_IF_ERROR(s.Check("queue.bind " + q));
  }
  return OkStatus();
}

Status DeleteRabbitMqFanout(const publish::RabbitMqConfig& config, const std::string& exchange,
                            const std::vector<std::string>& queues) {
  Session s;
  HERALD_RETURN_IF_ERROR(s.Open(config));
  for (const std::string& q : queues) {
    amqp_queue_delete(s.conn(), kChannel, Bytes(q), /*if_unused=*/0, /*if_empty=*/0);
    HERALD_RETURN_IF_ERROR(s.Check("queue.delete " + q));
  }
  amqp_exchange_delete(s.conn(), kChannel, Bytes(exchange), /*if_unused=*/0);
  return s.Check("exchange.delete " + exchange);
}

Result<std::unique_ptr<RabbitMqReader>> RabbitMqReader::Open(const publish::RabbitMqConfig& config,
                                                             const std::string& queue) {
  std::unique_ptr<RabbitMqReader> reader(new RabbitMqReader(config, queue));
  HERALD_RETURN_IF_ERROR(reader->Consume());
  return reader;
}

RabbitMqReader::~RabbitMqReader() { Close(); }

Status RabbitMqReader::Consume() {
  Session s;
  HERALD_RETURN_IF_ERROR(s.Open(config_));
  amqp_basic_consume(s.conn(), kChannel, Bytes(queue_), amqp_empty_bytes, /*no_local=*/0,
                     /*no_ack=*/0, /*exclusive=*/0, amqp_empty_table);
  HERALD_RETURN_IF_ERROR(s.Check("basic.consume " + queue_));
  conn_ = s.Release();
  return OkStatus();
}

// Without a word to the broker: it takes back every unacknowledged message.
void RabbitMqReader::Close() {
  if (conn_ != nullptr) amqp_destroy_connection(conn_);
  conn_ = nullptr;
}

Result<std::optional<BusMessage>> RabbitMqReader::Poll(std::chrono::milliseconds timeout) {
  if (conn_ == nullptr) {
    if (Status s = Consume(); !s.ok()) {
      std::this_thread::sleep_for(timeout);
      return std::optional<BusMessage>();
    }
  }
  amqp_maybe_release_buffers(conn_);
  amqp_envelope_t envelope;
  timeval tv = publish::ToTimeval(timeout);
  amqp_rpc_reply_t reply = amqp_consume_message(conn_, &envelope, &tv, 0);
  if (reply.reply_type != AMQP_RESPONSE_NORMAL) {
    if (reply.reply_type != AMQP_RESPONSE_LIBRARY_EXCEPTION ||
        reply.library_error != AMQP_STATUS_TIMEOUT) {
      Close();  // a lost connection or a closed channel: consume again
    }
    return std::optional<BusMessage>();
  }
  std::unique_ptr<amqp_envelope_t, void (*)(amqp_envelope_t*)> owned(&envelope,
                                                                       amqp_destroy_envelope);
  const amqp_basic_properties_t& props = envelope.message.properties;
  std::optional<EventId> id;
  if ((props._flags & AMQP_BASIC_MESSAGE_ID_FLAG) != 0) id = EventId::Parse(Text(props.message_id));
  if (!id) {
    return std::unexpected(InvalidArgument(fmt::format(
        "message {} of queue '{}' has no valid message_id", envelope.delivery_tag, queue_)));
  }
  BusMessage out;
  out.id = *id;
  if ((props._flags & AMQP_BASIC_HEADERS_FLAG) != 0) {
    for (int i = 0; i < props.headers.num_entries; ++i) {
      const amqp_table_entry_t& e = props.headers.entries[i];
      if (Text(e.key) == "cloudEvents:subject" && e.value.kind == AMQP_FIELD_KIND_UTF8) {
        out.key = Text(e.value.value.bytes);
      }
    }
  }
  out.payload = Text(envelope.message.body);
  return std::optional<BusMessage>(std::move(out));
}

}  // namespace herald::examples
