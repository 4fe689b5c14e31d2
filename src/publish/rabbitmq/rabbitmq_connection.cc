// Copyright (c) Herald authors. Licensed under the Apache License 2.0.
#include "publish/rabbitmq/rabbitmq_connection.h"

#include <amqp_framing.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>

#include <fstream>

#include <fmt/format.h>

namespace herald::publish {
namespace {

// Debian's bundle of the system's trusted CAs.
constexpr const char* kSystemCaBundle = "/etc/ssl/certs/ca-certificates.crt";

bool Readable(const std::string& path) {
  std::ifstream in(path);
  return in.good();
}


}  // namespace

amqp_bytes_t Bytes(std::string_view s) {
  return amqp_bytes_t{s.size(), const_cast<char*>(s.data())};
}

std::string Text(amqp_bytes_t b) {
  return b.len == 0 ? std::string() : std::string(static_cast<const char*>(b.bytes), b.len);
}

// A broker's close (connection or channel) as "CODE TEXT".
std::string Close::ToString() const { return fmt::format("{} {}", code, text); }

// What an RPC reply says when it is not normal; `close` is set when the
// broker closed the channel or the connection.
std::string DescribeReply(const amqp_rpc_reply_t& reply, Close* close, bool* channel_closed) {
  switch (reply.reply_type) {
    case AMQP_RESPONSE_NORMAL:
      return {};
    case AMQP_RESPONSE_NONE:
      return "no reply from the broker";
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      return amqp_error_string2(reply.library_error);
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      break;
  }
  Close c;
  if (reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
    const auto* m = static_cast<const amqp_connection_close_t*>(reply.reply.decoded);
    c = Close{m->reply_code, Text(m->reply_text)};
  } else if (reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
    const auto* m = static_cast<const amqp_channel_close_t*>(reply.reply.decoded);
    c = Close{m->reply_code, Text(m->reply_text)};
    if (channel_closed != nullptr) *channel_closed = true;
  } else {
    return fmt::format("unexpected broker method 0x{:08x}", reply.reply.id);
  }
  if (close != nullptr) *close = c;
  return c.ToString();
}

amqp_connection_state_t OpenAmqpConnection(const RabbitMqConfig& config, int frame_max,
                                           std::string* why) {
  amqp_connection_state_t conn = amqp_new_connection();
  if (conn == nullptr) {
    *why = "out of memory";
    return nullptr;
  }
  auto fail = [&](std::string reason) {
    *why = std::move(reason);
    amqp_destroy_connection(conn);
    return nullptr;
  };
  amqp_socket_t* socket = nullptr;
  if (config.tls) {
    socket = amqp_ssl_socket_new(conn);
    if (socket != nullptr) {
      // rabbitmq-c trusts no CA by itself: without tls.ca, the system's bundle.
      std::string ca = config.tls_ca_file;
      if (ca.empty() && Readable(kSystemCaBundle)) ca = kSystemCaBundle;
      if (!ca.empty() && amqp_ssl_socket_set_cacert(socket, ca.c_str()) != AMQP_STATUS_OK) {
        return fail(fmt::format("cannot use the CA file '{}'", ca));
      }
      if (!config.tls_cert_file.empty() &&
          amqp_ssl_socket_set_key(socket, config.tls_cert_file.c_str(),
                                  config.tls_key_file.c_str()) != AMQP_STATUS_OK) {
        return fail(fmt::format("cannot use the certificate '{}' and key '{}'",
                                config.tls_cert_file, config.tls_key_file));
      }
      amqp_ssl_socket_set_verify_peer(socket, config.tls_verify_peer ? 1 : 0);
      amqp_ssl_socket_set_verify_hostname(socket, config.tls_verify_hostname ? 1 : 0);
    }
  } else {
    socket = amqp_tcp_socket_new(conn);
  }
  if (socket == nullptr) return fail("cannot make a socket");
  timeval tv = ToTimeval(config.connect_timeout);
  if (int rc = amqp_socket_open_noblock(socket, config.host.c_str(), config.port, &tv);
      rc != AMQP_STATUS_OK) {
    return fail(fmt::format("{}:{}: {}", config.host, config.port, amqp_error_string2(rc)));
  }
  amqp_set_handshake_timeout(conn, &tv);
  amqp_set_rpc_timeout(conn, &tv);
  amqp_rpc_reply_t reply =
      amqp_login(conn, config.vhost.c_str(), 0, frame_max, config.heartbeat_s,
                 AMQP_SASL_METHOD_PLAIN, config.user.c_str(), config.password.c_str());
  if (reply.reply_type != AMQP_RESPONSE_NORMAL) {
    return fail(fmt::format("{}:{}: login to vhost '{}' as '{}': {}", config.host, config.port,
                            config.vhost, config.user, DescribeReply(reply)));
  }
  return conn;
}

}  // namespace herald::publish
