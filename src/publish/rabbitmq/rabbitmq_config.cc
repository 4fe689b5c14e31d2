#include "publish/rabbitmq/rabbitmq_config.h"

#include <charconv>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <system_error>

#include <fmt/format.h>

#include "core/secrets.h"

namespace herald::publish {
namespace {

Status BadUrl(std::string_view url, std::string_view why) {
  return InvalidArgument(fmt::format(
      "publisher URL '{}': {} (expected amqp[s]://[user:password@]host[:port][/vhost])",
      MaskSecrets(url), why));
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// `text` percent-decoded; false on a bad escape.
bool PercentDecode(std::string_view text, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size()) return false;
    const int hi = HexDigit(text[i + 1]);
    const int lo = HexDigit(text[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

Status ParseUrl(std::string_view url, RabbitMqConfig& config) {
  std::string_view rest;
  if (url.starts_with("amqp://")) {
    rest = url.substr(7);
  } else if (url.starts_with("amqps://")) {
    rest = url.substr(8);
    config.tls = true;
    config.port = 5671;
  } else {
    return BadUrl(url, "not an amqp:// or amqps:// URL");
  }
  if (rest.find_first_of("?#") != std::string_view::npos) {
    return BadUrl(url, "no query or fragment may follow the vhost");
  }
  std::string_view authority = rest;
  std::string_view path;
  if (std::size_t slash = rest.find('/'); slash != std::string_view::npos) {
    authority = rest.substr(0, slash);
    path = rest.substr(slash + 1);
  }
  if (std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    std::string_view user = userinfo;
    std::string_view password;
    bool has_password = false;
    if (std::size_t colon = userinfo.find(':'); colon != std::string_view::npos) {
      user = userinfo.substr(0, colon);
      password = userinfo.substr(colon + 1);
      has_password = true;
    }
    if (user.empty()) return BadUrl(url, "empty user name");
    if (!PercentDecode(user, config.user)) return BadUrl(url, "bad percent escape in the user");
    if (has_password) {
      if (!PercentDecode(password, config.password)) {
        return BadUrl(url, "bad percent escape in the password");
      }
    } else {
      config.password.clear();
    }
  }
  std::string_view host = authority;
  std::string_view port;
  if (host.starts_with('[')) {  // [IPv6]:port
    std::size_t close = host.find(']');
    if (close == std::string_view::npos) return BadUrl(url, "unclosed '[' in the host");
    std::string_view after = host.substr(close + 1);
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
  if (host.find_first_of(" ,@[]") != std::string_view::npos) {
    return BadUrl(url, "one host only, without spaces");
  }
  config.host = std::string(host);
  if (!port.empty()) {
    int value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value < 1 || value > 65535) {
      return BadUrl(url, fmt::format("bad port '{}'", port));
    }
    config.port = value;
  }
  if (!path.empty()) {  // else the default vhost "/"
    if (path.find('/') != std::string_view::npos) {
      return BadUrl(url, "the vhost is one path segment (write '/' inside it as %2F)");
    }
    if (!PercentDecode(path, config.vhost)) return BadUrl(url, "bad percent escape in the vhost");
  }
  return OkStatus();
}

Status BadOption(std::string_view name, std::string_view value, std::string_view why) {
  return InvalidArgument(fmt::format("amqp option '{}' = '{}': {}", name, value, why));
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

using Apply =
    std::function<Status(std::string_view name, const std::string& value, RabbitMqConfig&)>;

Apply Text(std::string RabbitMqConfig::*field, bool allow_empty) {
  return [field, allow_empty](std::string_view name, const std::string& value,
                              RabbitMqConfig& c) {
    if (value.empty() && !allow_empty) return BadOption(name, value, "must not be empty");
    c.*field = value;
    return OkStatus();
  };
}

Apply Flag(bool RabbitMqConfig::*field) {
  return [field](std::string_view name, const std::string& value, RabbitMqConfig& c) {
    Result<bool> b = ParseBool(name, value);
    if (!b) return b.error();
    c.*field = *b;
    return OkStatus();
  };
}

Apply Millis(std::chrono::milliseconds RabbitMqConfig::*field) {
  return [field](std::string_view name, const std::string& value, RabbitMqConfig& c) {
    Result<std::int64_t> n = ParseInt(name, value, 1);
    if (!n) return n.error();
    c.*field = std::chrono::milliseconds(*n);
    return OkStatus();
  };
}

// Every option, by name.
const std::map<std::string_view, Apply>& Options() {
  static const auto* options = new std::map<std::string_view, Apply>{
      {"exchange", Text(&RabbitMqConfig::exchange, /*allow_empty=*/true)},
      {"confirm_window",
       [](std::string_view name, const std::string& value, RabbitMqConfig& c) {
         Result<std::int64_t> n = ParseInt(name, value, 1);
         if (!n) return n.error();
         c.confirm_window = *n;
         return OkStatus();
       }},
      {"confirm_timeout_ms", Millis(&RabbitMqConfig::confirm_timeout)},
      {"connect_timeout_ms", Millis(&RabbitMqConfig::connect_timeout)},
      {"heartbeat_s",
       [](std::string_view name, const std::string& value, RabbitMqConfig& c) {
         Result<std::int64_t> n = ParseInt(name, value, 0);
         if (!n) return n.error();
         if (*n > 65535) return BadOption(name, value, "at most 65535");
         c.heartbeat_s = static_cast<int>(*n);
         return OkStatus();
       }},
      {"ce.source", Text(&RabbitMqConfig::source, /*allow_empty=*/false)},
      {"tls.ca", Text(&RabbitMqConfig::tls_ca_file, /*allow_empty=*/false)},
      {"tls.cert", Text(&RabbitMqConfig::tls_cert_file, /*allow_empty=*/false)},
      {"tls.key", Text(&RabbitMqConfig::tls_key_file, /*allow_empty=*/false)},
      {"tls.verify_peer", Flag(&RabbitMqConfig::tls_verify_peer)},
      {"tls.verify_hostname", Flag(&RabbitMqConfig::tls_verify_hostname)},
  };
  return *options;
}

}  // namespace

const std::vector<std::string_view>& RabbitMqOptionNames() {
  static const auto* names = [] {
    auto* v = new std::vector<std::string_view>();
    for (const auto& [name, apply] : Options()) v->push_back(name);
    return v;
  }();
  return *names;
}

Result<RabbitMqConfig> ParseRabbitMqConfig(std::string_view url,
                                           const PublisherOptions& options) {
  RabbitMqConfig config;
  if (Status s = ParseUrl(url, config); !s.ok()) return std::unexpected(s);
  bool tls_option = false;
  for (const auto& [name, value] : options.properties) {
    auto it = Options().find(name);
    if (it == Options().end()) {
      return std::unexpected(
          InvalidArgument(fmt::format("unknown amqp option '{}' (options: {})", name,
                                      fmt::join(RabbitMqOptionNames(), ", "))));
    }
    if (Status s = it->second(name, value, config); !s.ok()) return std::unexpected(s);
    if (name.starts_with("tls.")) tls_option = true;
  }
  if (tls_option && !config.tls) {
    return std::unexpected(InvalidArgument(fmt::format(
        "amqp options tls.*: the URL '{}' is not amqps://", MaskSecrets(url))));
  }
  if (config.tls_key_file.empty() != config.tls_cert_file.empty()) {
    return std::unexpected(InvalidArgument("amqp options 'tls.cert' and 'tls.key' go together"));
  }
  return config;
}

RabbitMqRoute RouteOf(std::string_view topic, std::string_view default_exchange) {
  if (std::size_t slash = topic.find('/'); slash != std::string_view::npos) {
    return {topic.substr(0, slash), topic.substr(slash + 1)};
  }
  return {default_exchange, topic};
}

}  // namespace herald::publish
