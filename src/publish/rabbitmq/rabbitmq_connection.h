// Copyright (c) Herald authors. Licensed under the Apache License 2.0.
//
// An AMQP 0-9-1 connection made from a RabbitMqConfig with rabbitmq-c, and
// the small conversions every user of rabbitmq-c here needs: the publisher,
// and the example consumers of `herald demo`. Internal to Herald.
#ifndef HERALD_PUBLISH_RABBITMQ_RABBITMQ_CONNECTION_H_
#define HERALD_PUBLISH_RABBITMQ_RABBITMQ_CONNECTION_H_

#include <amqp.h>
#include <sys/time.h>

#include <chrono>
#include <string>
#include <string_view>

#include "publish/common/timeval.h"
#include "publish/rabbitmq/rabbitmq_config.h"

namespace herald::publish {

// A view of `s` for rabbitmq-c (which does not write through it).
amqp_bytes_t Bytes(std::string_view s);
std::string Text(amqp_bytes_t b);

// A broker's close (connection or channel) as "CODE TEXT".
struct Close {
  int code = 0;
  std::string text;
  std::string ToString() const;
};

// What an RPC reply says when it is not normal ("" when it is); `close` is
// set when the broker closed the channel or the connection, and
// `channel_closed` when it was the channel.
std::string DescribeReply(const amqp_rpc_reply_t& reply, Close* close = nullptr,
                          bool* channel_closed = nullptr);

// Connects to the broker of `config` (TCP or TLS with its certificates),
// logs in to its vhost asking for `frame_max` and the config's heartbeat,
// and sets the handshake and RPC timeouts to its connect timeout. The
// connection, or nullptr with one line in `why` ("HOST:PORT: ...").
amqp_connection_state_t OpenAmqpConnection(const RabbitMqConfig& config, int frame_max,
                                           std::string* why);

}  // namespace herald::publish

#endif  // HERALD_PUBLISH_RABBITMQ_RABBITMQ_CONNECTION_H_
