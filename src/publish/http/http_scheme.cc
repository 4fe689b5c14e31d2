// The schemes of the HTTP folder: "http://HOST[:PORT]/PATH" and "https://..."
// (TLS), with {topic} and {key} in the path and query; docs/http.md.
#include <curl/curl.h>

#include <array>
#include <span>
#include <string>

#include "publish/http/http_publisher.h"
#include "publish/scheme.h"

namespace herald::publish::http {
namespace {

std::string Library() { return std::string("libcurl ") + curl_version_info(CURLVERSION_NOW)->version; }

constexpr std::array kSchemes = {
    Scheme{"http", "http://HOST[:PORT]/PATH[?QUERY] ({topic}, {key} allowed)", "docs/http.md",
           OpenAs<HttpPublisher>, Library},
    Scheme{"https", "https://HOST[:PORT]/PATH[?QUERY] ({topic}, {key} allowed)", "docs/http.md",
           OpenAs<HttpPublisher>, Library},
};

}  // namespace

std::span<const Scheme> Schemes() { return kSchemes; }

}  // namespace herald::publish::http
