// Configuration of the RabbitMQ publisher: the `amqp://` / `amqps://` URL and
// the options of PublisherOptions (see docs/rabbitmq.md).
#ifndef HERALD_PUBLISH_RABBITMQ_RABBITMQ_CONFIG_H_
#define HERALD_PUBLISH_RABBITMQ_RABBITMQ_CONFIG_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "herald/publisher.h"
#include "herald/status.h"

namespace herald::publish {

struct RabbitMqConfig {
  // Connection, from the URL.
  bool tls = false;  // amqps://
  std::string host;
  int port = 5672;   // 5671 for amqps://
  std::string user = "guest";
  std::string password = "guest";
  std::string vhost = "/";

  // TLS (amqps:// only).
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  bool tls_verify_peer = true;
  bool tls_verify_hostname = true;

  std::chrono::milliseconds connect_timeout{2000};
  // AMQP heartbeat the client asks for; 0: none.
  int heartbeat_s = 10;

  // Publishing.
  // The exchange of an event whose topic has no '/'.
  std::string exchange;
  // How many messages may wait for their confirm at once; the publisher's
  // thread sends no more while that many do (Publish() itself only queues).
  std::int64_t confirm_window = 1000;
  // How long a message may wait for its confirm before it is reported kRetry.
  std::chrono::milliseconds confirm_timeout{5000};
  // CloudEvents `source` attribute (application property cloudEvents:source).
  std::string source = "herald";
};

// Parses "amqp[s]://[user[:password]@]host[:port][/vhost]" and `options`.
// The vhost is percent-decoded ("%2F" is "/"); none, or a bare "/", is the
// default vhost "/". InvalidArgument, in one line naming the URL (its
// password masked) or the option, for a malformed URL (another scheme, no
// host, a bad port, a query or fragment, a bad percent escape), an unknown
// option, a bad number or boolean, and TLS options on an amqp:// URL or a
// TLS key without a certificate.
Result<RabbitMqConfig> ParseRabbitMqConfig(std::string_view url,
                                           const PublisherOptions& options);

// The names of every option ParseRabbitMqConfig takes.
const std::vector<std::string_view>& RabbitMqOptionNames();

// Where an event of `topic` goes: "exchange/routing.key" (split at the first
// '/') goes to that exchange with that routing key; a topic without '/' goes
// to `default_exchange` with the whole topic as its routing key.
struct RabbitMqRoute {
  std::string_view exchange;
  std::string_view routing_key;
};
RabbitMqRoute RouteOf(std::string_view topic, std::string_view default_exchange);

}  // namespace herald::publish

#endif  // HERALD_PUBLISH_RABBITMQ_RABBITMQ_CONFIG_H_
