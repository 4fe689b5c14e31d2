#include "publish/nats/nats_config.h"

#include <charconv>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <system_error>

#include <fmt/format.h>

namespace herald::publish {
namespace {

constexpr std::string_view kScheme = "nats://";

Status BadUrl(std::string_view url, std::string_view why) {
  return InvalidArgument(fmt::format(
      "publisher URL '{}': {} (expected nats://[user:password@]host:port[,host:port...])", url,
      why));
}

Status CheckServer(std::string_view url, std::string_view server) {
  std::size_t colon = server.rfind(':');
  if (server.empty() || colon == std::string_view::npos) {
    return BadUrl(url, fmt::format("server '{}' has no port", server));
  }
  std::string_view host = server.substr(0, colon);
  std::string_view port = server.substr(colon + 1);
  if (host.empty()) return BadUrl(url, fmt::format("server '{}' has no host", server));
  int value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value < 1 ||
      value > 65535) {
    return BadUrl(url, fmt::format("server '{}' has a bad port", server));
  }
  return OkStatus();
}

Status ParseUrl(std::string_view url, NatsConfig& config) {
  if (!url.starts_with(kScheme)) return BadUrl(url, "not a nats:// URL");
  std::string_view rest = url.substr(kScheme.size());
  if (rest.ends_with('/')) rest.remove_suffix(1);
  if (std::size_t at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    if (userinfo.empty() || userinfo.find(',') != std::string_view::npos) {
      return BadUrl(url, "credentials go before the first server only");
    }
    if (std::size_t colon = userinfo.find(':'); colon != std::string_view::npos) {
      config.user = std::string(userinfo.substr(0, colon));
      config.password = std::string(userinfo.substr(colon + 1));
      if (config.user.empty()) return BadUrl(url, "empty user name");
    } else {
      config.token = std::string(userinfo);
    }
  }
  if (rest.empty()) return BadUrl(url, "no servers");
  if (rest.find_first_of("/?#@ ") != std::string_view::npos) {
    return BadUrl(url, "only a server list may follow nats://");
  }
  std::size_t start = 0;
  while (true) {
    std::size_t comma = rest.find(',', start);
    std::string_view server = rest.substr(start, comma - start);
    if (Status s = CheckServer(url, server); !s.ok()) return s;
    config.servers.push_back(fmt::format("nats://{}", server));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return OkStatus();
}

Status BadOption(std::string_view name, std::string_view value, std::string_view why) {
  return InvalidArgument(fmt::format("nats option '{}' = '{}': {}", name, value, why));
}

Result<std::int64_t> ParsePositive(std::string_view name, std::string_view value) {
  std::int64_t n = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (value.empty() || ec != std::errc() || end != value.data() + value.size() || n < 1 ||
      n > std::numeric_limits<std::int32_t>::max()) {
    return std::unexpected(BadOption(name, value, "expected a positive integer"));
  }
  return n;
}

Result<bool> ParseBool(std::string_view name, std::string_view value) {
  if (value == "true" || value == "1" || value == "yes" || value == "on") return true;
  if (value == "false" || value == "0" || value == "no" || value == "off") return false;
  return std::unexpected(BadOption(name, value, "expected true or false"));
}

std::vector<std::string> SplitList(std::string_view value) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= value.size()) {
    std::size_t comma = value.find(',', start);
    std::string_view item = value.substr(start, comma - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

using Apply = std::function<Status(std::string_view name, const std::string& value, NatsConfig&)>;

Apply Text(std::string NatsConfig::*field, bool allow_empty = false) {
  return [field, allow_empty](std::string_view name, const std::string& value, NatsConfig& c) {
    if (value.empty() && !allow_empty) return BadOption(name, value, "must not be empty");
    c.*field = value;
    return OkStatus();
  };
}

Apply Flag(bool NatsConfig::*field) {
  return [field](std::string_view name, const std::string& value, NatsConfig& c) {
    Result<bool> b = ParseBool(name, value);
    if (!b) return b.error();
    c.*field = *b;
    return OkStatus();
  };
}

Apply Millis(std::chrono::milliseconds NatsConfig::*field) {
  return [field](std::string_view name, const std::string& value, NatsConfig& c) {
    Result<std::int64_t> n = ParsePositive(name, value);
    if (!n) return n.error();
    c.*field = std::chrono::milliseconds(*n);
    return OkStatus();
  };
}

// Every option, by name.
const std::map<std::string_view, Apply>& Options() {
  static const auto* options = new std::map<std::string_view, Apply>{
      {"name", Text(&NatsConfig::name)},
      {"user", Text(&NatsConfig::user)},
      {"password", Text(&NatsConfig::password, /*allow_empty=*/true)},
      {"token", Text(&NatsConfig::token)},
      {"creds", Text(&NatsConfig::creds_file)},
      {"tls", Flag(&NatsConfig::tls)},
      {"tls.ca", Text(&NatsConfig::tls_ca_file)},
      {"tls.cert", Text(&NatsConfig::tls_cert_file)},
      {"tls.key", Text(&NatsConfig::tls_key_file)},
      {"tls.hostname", Text(&NatsConfig::tls_hostname)},
      {"tls.skip_verify", Flag(&NatsConfig::tls_skip_verify)},
      {"connect_timeout_ms", Millis(&NatsConfig::connect_timeout)},
      {"reconnect_wait_ms", Millis(&NatsConfig::reconnect_wait)},
      {"ping_interval_ms", Millis(&NatsConfig::ping_interval)},
      {"herald.subject.prefix", Text(&NatsConfig::subject_prefix)},
      {"herald.ce.source", Text(&NatsConfig::source)},
      {"herald.max_pending",
       [](std::string_view name, const std::string& value, NatsConfig& c) {
         Result<std::int64_t> n = ParsePositive(name, value);
         if (!n) return n.error();
         c.max_pending = *n;
         return OkStatus();
       }},
      {"herald.ack_timeout_ms", Millis(&NatsConfig::ack_timeout)},
      {"herald.stream.create", Text(&NatsConfig::create_stream)},
      {"herald.stream.subjects",
       [](std::string_view name, const std::string& value, NatsConfig& c) {
         c.create_stream_subjects = SplitList(value);
         if (c.create_stream_subjects.empty()) {
           return BadOption(name, value, "expected a comma-separated list of subjects");
         }
         return OkStatus();
       }},
  };
  return *options;
}

}  // namespace

const std::vector<std::string_view>& NatsOptionNames() {
  static const auto* names = [] {
    auto* v = new std::vector<std::string_view>();
    for (const auto& [name, apply] : Options()) v->push_back(name);
    return v;
  }();
  return *names;
}

Result<NatsConfig> ParseNatsConfig(std::string_view url, const PublisherOptions& options) {
  NatsConfig config;
  if (Status s = ParseUrl(url, config); !s.ok()) return std::unexpected(s);
  const bool url_credentials = !config.user.empty() || !config.token.empty();
  for (const auto& [name, value] : options.properties) {
    auto it = Options().find(name);
    if (it == Options().end()) {
      return std::unexpected(InvalidArgument(fmt::format(
          "unknown nats option '{}' (options: {})", name, fmt::join(NatsOptionNames(), ", "))));
    }
    if (url_credentials && (name == "user" || name == "password" || name == "token")) {
      return std::unexpected(InvalidArgument(fmt::format(
          "nats option '{}': the URL '{}' already carries credentials", name, url)));
    }
    if (Status s = it->second(name, value, config); !s.ok()) return std::unexpected(s);
  }
  const int kinds = (!config.user.empty() ? 1 : 0) + (!config.token.empty() ? 1 : 0) +
                    (!config.creds_file.empty() ? 1 : 0);
  if (kinds > 1) {
    return std::unexpected(InvalidArgument(
        "nats options: give one of user/password, token and creds, not several"));
  }
  if (!config.password.empty() && config.user.empty()) {
    return std::unexpected(InvalidArgument("nats option 'password' needs 'user'"));
  }
  if (config.tls_key_file.empty() != config.tls_cert_file.empty()) {
    return std::unexpected(
        InvalidArgument("nats options 'tls.cert' and 'tls.key' go together"));
  }
  if (!config.tls_ca_file.empty() || !config.tls_cert_file.empty() ||
      !config.tls_hostname.empty() || config.tls_skip_verify) {
    config.tls = true;
  }
  if (!config.create_stream.empty() && config.create_stream_subjects.empty()) {
    return std::unexpected(InvalidArgument(
        "nats option 'herald.stream.create' needs 'herald.stream.subjects'"));
  }
  if (config.create_stream.empty() && !config.create_stream_subjects.empty()) {
    return std::unexpected(InvalidArgument(
        "nats option 'herald.stream.subjects' needs 'herald.stream.create'"));
  }
  for (const std::string& subject : config.create_stream_subjects) {
    if (subject.find_first_of(" \t\r\n") != std::string::npos) {
      return std::unexpected(
          BadOption("herald.stream.subjects", subject, "a subject has no whitespace"));
    }
  }
  return config;
}

bool IsValidPublishSubject(std::string_view subject) {
  if (subject.empty()) return false;
  std::size_t start = 0;
  while (true) {
    std::size_t dot = subject.find('.', start);
    std::string_view token = subject.substr(start, dot - start);
    if (token.empty() || token == "*" || token == ">") return false;
    for (char c : token) {
      const auto u = static_cast<unsigned char>(c);
      if (u <= 0x20 || u == 0x7f) return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

}  // namespace herald::publish
