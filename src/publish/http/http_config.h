// Configuration of the HTTP webhook publisher: the `http://` / `https://` URL
// template and the options of PublisherOptions (see docs/http.md).
#ifndef HERALD_PUBLISH_HTTP_HTTP_CONFIG_H_
#define HERALD_PUBLISH_HTTP_HTTP_CONFIG_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "herald/publisher.h"
#include "herald/status.h"

namespace herald::publish {

struct HttpConfig {
  // The URL as given, with `{topic}` and `{key}` where the event's topic and
  // key go (percent-encoded); see ExpandUrl.
  std::string url_template;
  // What is shown of the URL: its secrets masked.
  std::string display_url;
  bool tls = false;  // https://

  // One request per event (false), or one request of
  // application/cloudevents-batch+json per URL for the events of a call
  // (true), at most `batch_max_events` in one request.
  bool batch = false;
  std::int64_t batch_max_events = 500;
  // Requests in flight at once, across every call.
  std::int64_t max_in_flight = 64;
  std::chrono::milliseconds connect_timeout{2000};
  // A whole request, connect to the last byte of the response.
  std::chrono::milliseconds request_timeout{10000};
  // The longest Retry-After the publisher honours by holding its next
  // requests back.
  std::chrono::milliseconds retry_after_max{60000};
  // CloudEvents `source` attribute (header ce-source).
  std::string source = "herald";

  // The bytes of the Standard Webhooks signing secret; empty: unsigned.
  // Read from herald.signing_secret_file or herald.signing_secret_env.
  std::string signing_secret;
  // Where the secret came from, for messages ("file '/etc/x'", "environment
  // variable 'X'").
  std::string signing_secret_origin;

  // TLS (https:// only).
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  bool tls_skip_verify = false;
};

// Parses `url` and `options`, and reads the signing secret. InvalidArgument,
// in one line naming the URL (its secrets masked) or the option, for a
// malformed URL (another scheme, no host, a bad port, userinfo without a
// host, a fragment, a placeholder other than {topic} and {key}, a
// placeholder in the host, an unmatched brace), an unknown option, a bad
// number or boolean, TLS options on an http:// URL, a TLS key without a
// certificate, both or a missing secret source, and a secret that is not
// "whsec_<base64>". The secret itself never appears in a message.
Result<HttpConfig> ParseHttpConfig(std::string_view url, const PublisherOptions& options);

// The names of every option ParseHttpConfig takes.
const std::vector<std::string_view>& HttpOptionNames();

// `url_template` with `{topic}` and `{key}` replaced by `topic` and `key`,
// percent-encoded (everything but A-Z a-z 0-9 - . _ ~).
std::string ExpandUrl(std::string_view url_template, std::string_view topic,
                      std::string_view key);

// `text` percent-encoded as ExpandUrl encodes a placeholder.
std::string PercentEncode(std::string_view text);

}  // namespace herald::publish

#endif  // HERALD_PUBLISH_HTTP_HTTP_CONFIG_H_
