#include "publish/http/http_config.h"

#include <cctype>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <sstream>
#include <system_error>

#include <fmt/format.h>

#include "core/secrets.h"
#include "publish/http/webhook_signature.h"

namespace herald::publish {
namespace {

Status BadUrl(std::string_view url, std::string_view why) {
  return InvalidArgument(fmt::format(
      "publisher URL '{}': {} (expected http[s]://host[:port][/path][?query], "
      "{{topic}} and {{key}} allowed in path and query)",
      MaskSecrets(url), why));
}

// Checks the placeholders of `part`: only {topic} and {key}, braces matched.
Status CheckPlaceholders(std::string_view url, std::string_view part) {
  for (std::size_t i = 0; i < part.size(); ++i) {
    if (part[i] == '}') return BadUrl(url, "a '}' without its '{'");
    if (part[i] != '{') continue;
    const std::size_t close = part.find('}', i);
    if (close == std::string_view::npos) return BadUrl(url, "a '{' without its '}'");
    const std::string_view name = part.substr(i + 1, close - i - 1);
    if (name != "topic" && name != "key") {
      return BadUrl(url, fmt::format("unknown placeholder '{{{}}}' (there are {{topic}} and "
                                     "{{key}})",
                                     name));
    }
    i = close;
  }
  return OkStatus();
}

Status ParseUrl(std::string_view url, HttpConfig& config) {
  std::string_view rest;
  if (url.starts_with("http://")) {
    rest = url.substr(7);
  } else if (url.starts_with("https://")) {
    rest = url.substr(8);
    config.tls = true;
  } else {
    return BadUrl(url, "not an http:// or https:// URL");
  }
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return BadUrl(url, "spaces or control characters");
    }
  }
  if (rest.find('#') != std::string_view::npos) return BadUrl(url, "a fragment ('#')");
  const std::size_t end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, end);
  const std::string_view tail = end == std::string_view::npos ? "" : rest.substr(end);
  if (authority.find_first_of("{}") != std::string_view::npos) {
    return BadUrl(url, "no placeholder may stand in the host");
  }
  if (std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
    if (at == 0) return BadUrl(url, "empty user name");
    authority = authority.substr(at + 1);
  }
  std::string_view host = authority;
  std::string_view port;
  if (host.starts_with('[')) {
    const std::size_t close = host.find(']');
    if (close == std::string_view::npos) return BadUrl(url, "unclosed '[' in the host");
    const std::string_view after = host.substr(close + 1);
    host = host.substr(1, close - 1);
    if (!after.empty()) {
      if (!after.starts_with(':')) return BadUrl(url, "junk after the IPv6 address");
      port = after.substr(1);
      if (port.empty()) return BadUrl(url, "empty port");
    }
  } else if (std::size_t colon = host.rfind(':'); colon != std::string_view::npos) {
    port = host.substr(colon + 1);
    host = host.substr(0, colon);
    if (port.empty()) return BadUrl(url, "empty port");
  }
  if (host.empty()) return BadUrl(url, "no host");
  if (host.find_first_of(",[]@") != std::string_view::npos) return BadUrl(url, "one host only");
  if (!port.empty()) {
    int value = 0;
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || p != port.data() + port.size() || value < 1 || value > 65535) {
      return BadUrl(url, fmt::format("bad port '{}'", port));
    }
  }
  if (Status s = CheckPlaceholders(url, tail); !s.ok()) return s;
  for (std::size_t i = 0; i < tail.size(); ++i) {
    if (tail[i] != '%') continue;
    auto hex = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
    if (i + 2 >= tail.size() || !hex(tail[i + 1]) || !hex(tail[i + 2])) {
      return BadUrl(url, "bad percent escape");
    }
  }
  config.url_template = std::string(url);
  config.display_url = MaskSecrets(url);
  return OkStatus();
}

Status BadOption(std::string_view name, std::string_view value, std::string_view why) {
  return InvalidArgument(fmt::format("http option '{}' = '{}': {}", name, value, why));
}

Result<std::int64_t> ParseInt(std::string_view name, std::string_view value, std::int64_t min) {
  std::int64_t n = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (value.empty() || ec != std::errc() || end != value.data() + value.size() || n < min ||
      n > std::numeric_limits<std::int32_t>::max()) {
    return std::unexpected(BadOption(
        name, value, min == 0 ? "expected a non-negative integer" : "expected a positive integer"));
  }
  return n;
}

Result<bool> ParseBool(std::string_view name, std::string_view value) {
  if (value == "true" || value == "1" || value == "yes" || value == "on") return true;
  if (value == "false" || value == "0" || value == "no" || value == "off") return false;
  return std::unexpected(BadOption(name, value, "expected true or false"));
}

// The options a parse collects before the secret is read.
struct Pending {
  std::string secret_file;
  std::string secret_env;
};

using Apply = std::function<Status(std::string_view name, const std::string& value,
                                   HttpConfig&, Pending&)>;

Apply Text(std::string HttpConfig::*field) {
  return [field](std::string_view name, const std::string& value, HttpConfig& c, Pending&) {
    if (value.empty()) return BadOption(name, value, "must not be empty");
    c.*field = value;
    return OkStatus();
  };
}

Apply Flag(bool HttpConfig::*field) {
  return [field](std::string_view name, const std::string& value, HttpConfig& c, Pending&) {
    Result<bool> b = ParseBool(name, value);
    if (!b) return b.error();
    c.*field = *b;
    return OkStatus();
  };
}

Apply Count(std::int64_t HttpConfig::*field) {
  return [field](std::string_view name, const std::string& value, HttpConfig& c, Pending&) {
    Result<std::int64_t> n = ParseInt(name, value, 1);
    if (!n) return n.error();
    c.*field = *n;
    return OkStatus();
  };
}

Apply Millis(std::chrono::milliseconds HttpConfig::*field) {
  return [field](std::string_view name, const std::string& value, HttpConfig& c, Pending&) {
    Result<std::int64_t> n = ParseInt(name, value, 1);
    if (!n) return n.error();
    c.*field = std::chrono::milliseconds(*n);
    return OkStatus();
  };
}

Apply PendingText(std::string Pending::*field) {
  return [field](std::string_view name, const std::string& value, HttpConfig&, Pending& p) {
    if (value.empty()) return BadOption(name, value, "must not be empty");
    p.*field = value;
    return OkStatus();
  };
}

const std::map<std::string_view, Apply>& Options() {
  static const auto* options = new std::map<std::string_view, Apply>{
      {"herald.batch", Flag(&HttpConfig::batch)},
      {"herald.batch_max_events", Count(&HttpConfig::batch_max_events)},
      {"herald.max_in_flight", Count(&HttpConfig::max_in_flight)},
      {"herald.connect_timeout_ms", Millis(&HttpConfig::connect_timeout)},
      {"herald.request_timeout_ms", Millis(&HttpConfig::request_timeout)},
      {"herald.retry_after_max_ms", Millis(&HttpConfig::retry_after_max)},
      {"herald.ce.source", Text(&HttpConfig::source)},
      {"herald.signing_secret_file", PendingText(&Pending::secret_file)},
      {"herald.signing_secret_env", PendingText(&Pending::secret_env)},
      {"tls.ca", Text(&HttpConfig::tls_ca_file)},
      {"tls.cert", Text(&HttpConfig::tls_cert_file)},
      {"tls.key", Text(&HttpConfig::tls_key_file)},
      {"tls.skip_verify", Flag(&HttpConfig::tls_skip_verify)},
  };
  return *options;
}

Status ReadSecret(const Pending& pending, HttpConfig& config) {
  if (!pending.secret_file.empty() && !pending.secret_env.empty()) {
    return InvalidArgument(
        "http options 'herald.signing_secret_file' and 'herald.signing_secret_env': give one");
  }
  std::string text;
  if (!pending.secret_file.empty()) {
    config.signing_secret_origin = fmt::format("file '{}'", pending.secret_file);
    std::ifstream in(pending.secret_file, std::ios::binary);
    if (!in) {
      return InvalidArgument(fmt::format("http option 'herald.signing_secret_file': cannot read '{}'",
                                         pending.secret_file));
    }
    std::ostringstream all;
    all << in.rdbuf();
    text = all.str();
  } else if (!pending.secret_env.empty()) {
    config.signing_secret_origin = fmt::format("environment variable '{}'", pending.secret_env);
    const char* value = std::getenv(pending.secret_env.c_str());
    if (value == nullptr || *value == '\0') {
      return InvalidArgument(fmt::format(
          "http option 'herald.signing_secret_env': the environment variable '{}' is unset or "
          "empty",
          pending.secret_env));
    }
    text = value;
  } else {
    return OkStatus();
  }
  std::optional<std::string> bytes = DecodeWebhookSecret(text);
  if (!bytes) {
    return InvalidArgument(fmt::format(
        "http signing secret from {}: expected whsec_ followed by base64", config.signing_secret_origin));
  }
  config.signing_secret = std::move(*bytes);
  return OkStatus();
}

}  // namespace

const std::vector<std::string_view>& HttpOptionNames() {
  static const auto* names = [] {
    auto* v = new std::vector<std::string_view>();
    for (const auto& [name, apply] : Options()) v->push_back(name);
    return v;
  }();
  return *names;
}

Result<HttpConfig> ParseHttpConfig(std::string_view url, const PublisherOptions& options) {
  HttpConfig config;
  if (Status s = ParseUrl(url, config); !s.ok()) return std::unexpected(s);
  Pending pending;
  bool tls_option = false;
  for (const auto& [name, value] : options.properties) {
    auto it = Options().find(name);
    if (it == Options().end()) {
      return std::unexpected(InvalidArgument(fmt::format(
          "unknown http option '{}' (options: {})", name, fmt::join(HttpOptionNames(), ", "))));
    }
    if (Status s = it->second(name, value, config, pending); !s.ok()) return std::unexpected(s);
    if (name.starts_with("tls.")) tls_option = true;
  }
  if (tls_option && !config.tls) {
    return std::unexpected(InvalidArgument(
        fmt::format("http options tls.*: the URL '{}' is not https://", config.display_url)));
  }
  if (config.tls_key_file.empty() != config.tls_cert_file.empty()) {
    return std::unexpected(InvalidArgument("http options 'tls.cert' and 'tls.key' go together"));
  }
  if (Status s = ReadSecret(pending, config); !s.ok()) return std::unexpected(s);
  return config;
}

std::string PercentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string ExpandUrl(std::string_view url_template, std::string_view topic,
                      std::string_view key) {
  std::string out;
  out.reserve(url_template.size() + topic.size() + key.size());
  for (std::size_t i = 0; i < url_template.size();) {
    if (url_template.substr(i).starts_with("{topic}")) {
      out += PercentEncode(topic);
      i += 7;
    } else if (url_template.substr(i).starts_with("{key}")) {
      out += PercentEncode(key);
      i += 5;
    } else {
      out.push_back(url_template[i++]);
    }
  }
  return out;
}

}  // namespace herald::publish
