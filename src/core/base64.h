// Standard base64 (RFC 4648, the + and / alphabet, with padding), for every
// place Herald writes or reads bytes as text: the file sink's binary
// payloads, webhook secrets and signatures, re-imported events. Internal.
#ifndef HERALD_CORE_BASE64_H_
#define HERALD_CORE_BASE64_H_

#include <optional>
#include <string>
#include <string_view>

namespace herald {

void AppendBase64(std::string_view bytes, std::string& out);
std::string Base64Encode(std::string_view bytes);
// The bytes of `text`, or nullopt unless it is standard base64 with correct
// padding and nothing else (no spaces, no line breaks, no bits left over).
std::optional<std::string> Base64Decode(std::string_view text);

}  // namespace herald

#endif  // HERALD_CORE_BASE64_H_
