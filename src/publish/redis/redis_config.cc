#include "publish/redis/redis_config.h"

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

constexpr std::string_view kScheme = "redis://";

Status BadUrl(std::string_view url, std::string_view why) {
  return InvalidArgument(fmt::format(
      "publisher URL '{}': {} (expected redis://[[user]:password@]host[:port][/db])",
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

// A whole decimal integer in [min, max].
bool ParseInt(std::string_view text, std::int64_t min, std::int64_t max, std::int64_t& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return !text.empty() && ec == std::errc() && end == text.data() + text.size() && out >= min &&
         out <= max;
}

Status ParseUrl(std::string_view url, RedisConfig& config) {
  if (url.starts_with("rediss://")) {
    return InvalidArgument(fmt::format(
        "publisher URL '{}': rediss:// (TLS) is not supported: hiredis 0.14 has no TLS; "
        "use redis:// through a TLS tunnel (docs/redis.md)",
        MaskSecrets(url)));
  }
  if (!url.starts_with(kScheme)) return BadUrl(url, "not a redis:// URL");
  std::string_view rest = url.substr(kScheme.size());
  if (rest.find_first_of("?#") != std::string_view::npos) {
    return BadUrl(url, "no query or fragment may follow the host");
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
    std::size_t colon = userinfo.find(':');
    if (colon == std::string_view::npos) {
      return BadUrl(url, "credentials are user:password or :password");
    }
    if (!PercentDecode(userinfo.substr(0, colon), config.user)) {
      return BadUrl(url, "bad percent escape in the user");
    }
    if (!PercentDecode(userinfo.substr(colon + 1), config.password)) {
      return BadUrl(url, "bad percent escape in the password");
    }
    if (config.password.empty()) return BadUrl(url, "empty password");
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
    std::int64_t value = 0;
    if (!ParseInt(port, 1, 65535, value)) return BadUrl(url, fmt::format("bad port '{}'", port));
    config.port = static_cast<int>(value);
  }
  if (!path.empty()) {
    std::int64_t db = 0;
    if (!ParseInt(path, 0, std::numeric_limits<std::int32_t>::max(), db)) {
      return BadUrl(url, fmt::format("the path is a database number, not '{}'", path));
    }
    config.db = static_cast<int>(db);
  }
  config.display = MaskSecrets(url);
  return OkStatus();
}

Status BadOption(std::string_view name, std::string_view value, std::string_view why) {
  return InvalidArgument(fmt::format("redis option '{}' = '{}': {}", name,
                                     name == "password" ? std::string_view("***") : value, why));
}

Result<std::int64_t> ParseNumber(std::string_view name, std::string_view value, std::int64_t min) {
  std::int64_t n = 0;
  if (!ParseInt(value, min, std::numeric_limits<std::int32_t>::max(), n)) {
    return std::unexpected(BadOption(
        name, value, min == 0 ? "expected a non-negative integer" : "expected a positive integer"));
  }
  return n;
}

using Apply = std::function<Status(std::string_view name, const std::string& value, RedisConfig&)>;

Apply Text(std::string RedisConfig::*field, bool allow_empty) {
  return [field, allow_empty](std::string_view name, const std::string& value, RedisConfig& c) {
    if (value.empty() && !allow_empty) return BadOption(name, value, "must not be empty");
    c.*field = value;
    return OkStatus();
  };
}

Apply Millis(std::chrono::milliseconds RedisConfig::*field, std::int64_t min) {
  return [field, min](std::string_view name, const std::string& value, RedisConfig& c) {
    Result<std::int64_t> n = ParseNumber(name, value, min);
    if (!n) return n.error();
    c.*field = std::chrono::milliseconds(*n);
    return OkStatus();
  };
}

Apply Count(std::int64_t RedisConfig::*field, std::int64_t min) {
  return [field, min](std::string_view name, const std::string& value, RedisConfig& c) {
    Result<std::int64_t> n = ParseNumber(name, value, min);
    if (!n) return n.error();
    c.*field = *n;
    return OkStatus();
  };
}

// "N" or "N,TIMEOUT_MS".
Status ParseWait(std::string_view name, const std::string& value, RedisConfig& c) {
  std::string_view text = value;
  std::string_view timeout;
  if (std::size_t comma = text.find(','); comma != std::string_view::npos) {
    timeout = text.substr(comma + 1);
    text = text.substr(0, comma);
  }
  std::int64_t replicas = 0;
  if (!ParseInt(text, 0, 1000, replicas)) {
    return BadOption(name, value, "expected REPLICAS[,TIMEOUT_MS], REPLICAS in [0, 1000]");
  }
  c.wait_replicas = static_cast<int>(replicas);
  if (!timeout.empty() || value.find(',') != std::string::npos) {
    std::int64_t ms = 0;
    if (!ParseInt(timeout, 1, std::numeric_limits<std::int32_t>::max(), ms)) {
      return BadOption(name, value, "expected REPLICAS[,TIMEOUT_MS], TIMEOUT_MS positive");
    }
    c.wait_timeout = std::chrono::milliseconds(ms);
  }
  return OkStatus();
}

// Every option, by name.
const std::map<std::string_view, Apply>& Options() {
  static const auto* options = new std::map<std::string_view, Apply>{
      {"user", Text(&RedisConfig::user, /*allow_empty=*/false)},
      {"password", Text(&RedisConfig::password, /*allow_empty=*/false)},
      {"connect_timeout_ms", Millis(&RedisConfig::connect_timeout, 1)},
      {"reconnect_wait_ms", Millis(&RedisConfig::reconnect_wait, 1)},
      {"reconnect_wait_max_ms", Millis(&RedisConfig::reconnect_wait_max, 1)},
      {"herald.reply_timeout_ms", Millis(&RedisConfig::reply_timeout, 1)},
      {"herald.stream.prefix", Text(&RedisConfig::stream_prefix, /*allow_empty=*/true)},
      {"herald.maxlen", Count(&RedisConfig::maxlen, 0)},
      {"herald.dedup_window_ms", Millis(&RedisConfig::dedup_window, 0)},
      {"herald.max_pending", Count(&RedisConfig::max_pending, 1)},
      {"herald.wait", ParseWait},
      {"herald.ce.source", Text(&RedisConfig::source, /*allow_empty=*/false)},
  };
  return *options;
}

}  // namespace

const std::vector<std::string_view>& RedisOptionNames() {
  static const auto* names = [] {
    auto* v = new std::vector<std::string_view>();
    for (const auto& [name, apply] : Options()) v->push_back(name);
    return v;
  }();
  return *names;
}

Result<RedisConfig> ParseRedisConfig(std::string_view url, const PublisherOptions& options) {
  RedisConfig config;
  if (Status s = ParseUrl(url, config); !s.ok()) return std::unexpected(s);
  const bool url_credentials = !config.password.empty();
  for (const auto& [name, value] : options.properties) {
    auto it = Options().find(name);
    if (it == Options().end()) {
      return std::unexpected(InvalidArgument(fmt::format(
          "unknown redis option '{}' (options: {})", name, fmt::join(RedisOptionNames(), ", "))));
    }
    if (url_credentials && (name == "user" || name == "password")) {
      return std::unexpected(InvalidArgument(fmt::format(
          "redis option '{}': the URL '{}' already carries credentials", name, config.display)));
    }
    if (Status s = it->second(name, value, config); !s.ok()) return std::unexpected(s);
  }
  if (!config.user.empty() && config.password.empty()) {
    return std::unexpected(InvalidArgument("redis option 'user' needs 'password'"));
  }
  if (config.reconnect_wait_max < config.reconnect_wait) {
    return std::unexpected(InvalidArgument(
        "redis option 'reconnect_wait_max_ms' must be at least 'reconnect_wait_ms'"));
  }
  return config;
}

}  // namespace herald::publish
