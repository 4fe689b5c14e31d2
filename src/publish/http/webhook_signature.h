// Internal: Standard Webhooks signing (https://www.standardwebhooks.com) and
// the base64 it is written in, on OpenSSL (HMAC-SHA256, EVP base64).
//
// A message is signed by HMAC-SHA256 over "{webhook-id}.{webhook-timestamp}.{body}"
// with the secret's bytes; the header `webhook-signature` carries
// "v1,<base64 of the MAC>". A secret is written "whsec_<base64 of its bytes>".
#ifndef HERALD_PUBLISH_HTTP_WEBHOOK_SIGNATURE_H_
#define HERALD_PUBLISH_HTTP_WEBHOOK_SIGNATURE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace herald::publish {


// The bytes of a secret "whsec_<base64>"; the prefix may be left out.
// Surrounding white space is ignored. nullopt for bad base64 or no bytes.
std::optional<std::string> DecodeWebhookSecret(std::string_view text);

// "v1,<base64 HMAC-SHA256(secret, id + "." + timestamp + "." + body)>".
std::string WebhookSignature(std::string_view secret, std::string_view id,
                             std::int64_t timestamp, std::string_view body);

// Lower-case hex SHA-256 of `bytes`.
std::string Sha256Hex(std::string_view bytes);

}  // namespace herald::publish

#endif  // HERALD_PUBLISH_HTTP_WEBHOOK_SIGNATURE_H_
