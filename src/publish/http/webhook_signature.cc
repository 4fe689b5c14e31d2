#include "publish/http/webhook_signature.h"

#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/sha.h>

#include <cctype>
#include <string>

#include <fmt/format.h>

#include "core/base64.h"

namespace herald::publish {

std::optional<std::string> DecodeWebhookSecret(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  if (text.starts_with("whsec_")) text.remove_prefix(6);
  std::optional<std::string> bytes = Base64Decode(text);
  if (!bytes || bytes->empty()) return std::nullopt;
  return bytes;
}

std::string WebhookSignature(std::string_view secret, std::string_view id,
                             std::int64_t timestamp, std::string_view body) {
  const std::string prefix = fmt::format("{}.{}.", id, timestamp);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  // One-shot over the two parts without copying the body.
  EVP_MAC* hmac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  EVP_MAC_CTX* mctx = hmac != nullptr ? EVP_MAC_CTX_new(hmac) : nullptr;
  bool ok = false;
  if (mctx != nullptr) {
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0),
                           OSSL_PARAM_construct_end()};
    std::size_t out_len = 0;
    ok = EVP_MAC_init(mctx, reinterpret_cast<const unsigned char*>(secret.data()), secret.size(),
                      params) == 1 &&
         EVP_MAC_update(mctx, reinterpret_cast<const unsigned char*>(prefix.data()),
                        prefix.size()) == 1 &&
         EVP_MAC_update(mctx, reinterpret_cast<const unsigned char*>(body.data()),
                        body.size()) == 1 &&
         EVP_MAC_final(mctx, mac, &out_len, sizeof(mac)) == 1;
    mac_len = static_cast<unsigned int>(out_len);
  }
  EVP_MAC_CTX_free(mctx);
  EVP_MAC_free(hmac);
  if (!ok) return {};
  return "v1," + Base64Encode(std::string_view(reinterpret_cast<const char*>(mac), mac_len));
}

std::string Sha256Hex(std::string_view bytes) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &len, EVP_sha256(), nullptr);
  std::string out;
  out.reserve(2 * len);
  for (unsigned int i = 0; i < len; ++i) fmt::format_to(std::back_inserter(out), "{:02x}", digest[i]);
  return out;
}

}  // namespace herald::publish
