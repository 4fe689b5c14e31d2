// Configuration of the NATS JetStream publisher: the `nats://` URL and the
// options of PublisherOptions (see docs/nats.md).
#ifndef HERALD_PUBLISH_NATS_NATS_CONFIG_H_
#define HERALD_PUBLISH_NATS_NATS_CONFIG_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "herald/publisher.h"
#include "herald/status.h"

namespace herald::publish {

struct NatsConfig {
  // One "nats://[userinfo@]host:port" per server of the URL, in order.
  std::vector<std::string> servers;

  // Connection (cnats natsOptions).
  std::string name = "herald";
  std::string user;
  std::string password;
  std::string token;
  std::string creds_file;  // a .creds file: JWT and NKey seed
  bool tls = false;
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_hostname;
  bool tls_skip_verify = false;
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds reconnect_wait{250};
  std::chrono::milliseconds ping_interval{5000};

  // Publishing.
  // The subject of an event: prefix + the event's topic.
  std::string subject_prefix;
  // CloudEvents `source` attribute (header ce-source).
  std::string source = "herald";
  // How many messages may wait for their JetStream ack at once; Publish()
  // blocks while that many do.
  std::int64_t max_pending = 8192;
  // How long a message may wait for its ack before it is reported failed.
  std::chrono::milliseconds ack_timeout{5000};

  // A stream created when it does not exist (empty: never create one).
  std::string create_stream;
  // Its subjects (required with create_stream).
  std::vector<std::string> create_stream_subjects;
};

// Parses "nats://[user:pass@|token@]host:port[,host:port...]" (a trailing
// '/' allowed) and `options`. InvalidArgument, in one line naming the URL
// or the option, for a malformed URL (no host, missing or bad port, a path
// or query), an unknown option, a bad number or boolean, and inconsistent
// options (credentials given twice, a TLS key without a certificate, a
// stream to create without subjects).
Result<NatsConfig> ParseNatsConfig(std::string_view url, const PublisherOptions& options);

// The names of every option ParseNatsConfig takes, for messages and docs.
const std::vector<std::string_view>& NatsOptionNames();

// True if `subject` is a literal NATS subject one may publish to: not
// empty, tokens separated by single dots with none empty, no wildcard token
// ('*' or '>'), no whitespace or control characters.
bool IsValidPublishSubject(std::string_view subject);

}  // namespace herald::publish

#endif  // HERALD_PUBLISH_NATS_NATS_CONFIG_H_
