// Secret masking for everything Herald prints: log lines, error lines and
// URLs shown back to the operator. Internal.
#ifndef HERALD_CORE_SECRETS_H_
#define HERALD_CORE_SECRETS_H_

#include <string>
#include <string_view>

namespace herald {

// What a secret is replaced by.
inline constexpr std::string_view kMaskedSecret = "***";

// `text` with every secret it carries replaced by kMaskedSecret:
//   - the password of a URL's user information: scheme://user:SECRET@host
//     (also in a host list, kafka://u:SECRET@h1,h2, and in any URL inside
//     a longer line);
//   - the value of a key=value pair whose key names a secret: it ends in
//     "password", "passwd", "secret", "token" or "pwd", ignoring case and
//     a leading "sasl." or "ssl." (libpq's `password=SECRET`, URL queries'
//     `?password=SECRET&`, librdkafka's `sasl.password=SECRET`, a NATS
//     `token=SECRET`); a quoted value ('...' or "...") is masked to its
//     closing quote, an unquoted one to the next space, & , ; or quote.
// Text without secrets is returned unchanged. Idempotent.
std::string MaskSecrets(std::string_view text);

}  // namespace herald

#endif  // HERALD_CORE_SECRETS_H_
