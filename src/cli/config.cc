#include "cli/config.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "core/macros.h"

namespace herald::cli {
namespace {

constexpr std::uint64_t kMaxBatchSize = 100000;
constexpr std::uint64_t kMaxInFlightEvents = 10000000;
constexpr std::uint64_t kMaxInFlightBytes = std::uint64_t{1} << 40;
constexpr std::uint64_t kMaxAttempts = 1000000;
// Durations: long enough for any deployment, short enough that adding one
// to a clock reading can never overflow it.
constexpr std::chrono::milliseconds kMinDuration{1};
constexpr std::chrono::milliseconds kMaxPollInterval = std::chrono::hours(1);
constexpr std::chrono::milliseconds kMaxBackoff = std::chrono::hours(24);

// How a setting's value is written in TOML, and so which TOML types it takes.
enum class Kind { kText, kWhole, kDuration, kBool, kLogLevel, kOptions };

// Parses `text` into `config`; `origin` names where it came from.
using Setter = Status (*)(Config& config, std::string_view text, std::string_view origin);

struct Setting {
  std::string_view key;
  Kind kind;
  Setter set;
};

Status BadValue(std::string_view origin, std::string_view text, std::string_view expected) {
  return InvalidArgument(fmt::format("{}: '{}' is not {}", origin, text, expected));
}

std::optional<std::uint64_t> ParseWhole(std::string_view text) {
  if (text.empty() ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

Result<std::uint64_t> ParseInRange(std::string_view text, std::string_view origin,
                                   std::uint64_t min, std::uint64_t max) {
  std::optional<std::uint64_t> value = ParseWhole(text);
  if (!value || *value < min || *value > max) {
    return std::unexpected(
        BadValue(origin, text, fmt::format("a whole number from {} to {}", min, max)));
  }
  return *value;
}

// "250ms", "5s", "1m" or "2h": the largest unit that divides `d`.
std::string DurationText(std::chrono::milliseconds d) {
  const long long ms = d.count();
  if (ms % 3600000 == 0) return fmt::format("{}h", ms / 3600000);
  if (ms % 60000 == 0) return fmt::format("{}m", ms / 60000);
  if (ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
  return fmt::format("{}ms", ms);
}

Result<std::chrono::milliseconds> ParseDurationAt(std::string_view text, std::string_view origin,
                                                  std::chrono::milliseconds min,
                                                  std::chrono::milliseconds max) {
  auto d = ParseDuration(text);
  if (!d || *d < min || *d > max) {
    return std::unexpected(BadValue(
        origin, text,
        fmt::format("a duration from {} to {} (e.g. 250ms, 5s, 1m)", DurationText(min),
                    DurationText(max))));
  }
  return *d;
}

Result<bool> ParseBool(std::string_view text, std::string_view origin) {
  for (std::string_view yes : {"true", "1", "yes", "on"}) {
    if (text == yes) return true;
  }
  for (std::string_view no : {"false", "0", "no", "off"}) {
    if (text == no) return false;
  }
  return std::unexpected(BadValue(origin, text, "a boolean (true or false)"));
}

Status SetPublisherOption(Config& config, std::string_view pair, std::string_view origin) {
  std::size_t eq = pair.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    return BadValue(origin, pair, "a publisher option of the form key=value");
  }
  config.publisher_options.properties[std::string(pair.substr(0, eq))] =
      std::string(pair.substr(eq + 1));
  return OkStatus();
}

// "k=v,k=v" (the environment's form).
Status SetPublisherOptionList(Config& config, std::string_view list, std::string_view origin) {
  while (!list.empty()) {
    std::size_t comma = list.find(',');
    HERALD_RETURN_IF_ERROR(SetPublisherOption(config, list.substr(0, comma), origin));
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
  }
  return OkStatus();
}

template <typename T, typename Parse, typename Assign>
Status SetWith(std::string_view text, std::string_view origin, Parse parse, Assign assign) {
  Result<T> value = parse(text, origin);
  if (!value) return value.error();
  assign(*value);
  return OkStatus();
}

Status SetDuration(std::chrono::milliseconds& out, std::string_view text, std::string_view origin,
                   std::chrono::milliseconds max) {
  return SetWith<std::chrono::milliseconds>(
      text, origin,
      [max](auto t, auto o) { return ParseDurationAt(t, o, kMinDuration, max); },
      [&](auto v) { out = v; });
}

Status SetBool(bool& out, std::string_view text, std::string_view origin) {
  return SetWith<bool>(text, origin, ParseBool, [&](bool v) { out = v; });
}

// herald/log.h's names; "warn" is "warning" too.
Status SetLogLevelSetting(Config& c, std::string_view text, std::string_view origin) {
  if (text == "warn") text = "warning";
  for (LogLevel level : {LogLevel::kTrace, LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarning,
                         LogLevel::kError}) {
    if (text == LogLevelName(level)) {
      c.log_level = level;
      return OkStatus();
    }
  }
  return BadValue(origin, text, "a log level (trace, debug, info, warning or warn, error)");
}

// The one table of settings: name, TOML kind and how a text value is applied.
const std::array<Setting, 19> kSettings = {{
    {"db", Kind::kText,
     [](Config& c, std::string_view t, std::string_view) {
       c.db = t;
       return OkStatus();
     }},
    {"publisher", Kind::kText,
     [](Config& c, std::string_view t, std::string_view) {
       c.publisher = t;
       return OkStatus();
     }},
    {"publisher_options", Kind::kOptions, SetPublisherOptionList},
    {"batch_size", Kind::kWhole,
     [](Config& c, std::string_view t, std::string_view o) {
       return SetWith<std::uint64_t>(
           t, o,
           [](auto text, auto origin) { return ParseInRange(text, origin, 1, kMaxBatchSize); },
           [&](std::uint64_t v) { c.relay.batch_size = static_cast<std::size_t>(v); });
     }},
    {"max_in_flight_events", Kind::kWhole,
     [](Config& c, std::string_view t, std::string_view o) {
       return SetWith<std::uint64_t>(
           t, o,
           [](auto text, auto origin) { return ParseInRange(text, origin, 1, kMaxInFlightEvents); },
           [&](std::uint64_t v) { c.relay.max_in_flight_events = static_cast<std::size_t>(v); });
     }},
    {"max_in_flight_bytes", Kind::kWhole,
     [](Config& c, std::string_view t, std::string_view o) {
       return SetWith<std::uint64_t>(
           t, o,
           [](auto text, auto origin) { return ParseInRange(text, origin, 1, kMaxInFlightBytes); },
           [&](std::uint64_t v) { c.relay.max_in_flight_bytes = static_cast<std::size_t>(v); });
     }},
    {"max_attempts", Kind::kWhole,
     [](Config& c, std::string_view t, std::string_view o) {
       return SetWith<std::uint64_t>(
           t, o, [](auto text, auto origin) { return ParseInRange(text, origin, 0, kMaxAttempts); },
           [&](std::uint64_t v) { c.relay.max_attempts = static_cast<int>(v); });
     }},
    {"backoff_initial", Kind::kDuration,
     [](Config& c, std::string_view t, std::string_view o) {
       return SetDuration(c.relay.backoff_initial, t, o, kMaxBackoff);
     }},
    {"backoff_max", Kind::kDuration,
     [](Config& c, std::string_view t, std::string_view o) {
       return SetDuration(c.relay.backoff_max, t, o, kMaxBackoff);
     }},
    {"poll_interval", Kind::kDuration,
     [](Config& c, std::string_view t, std::string_view o) {
       return SetDuration(c.relay.poll_interval, t, o, kMaxPollInterval);
     }},
    {"log_level", Kind::kLogLevel, SetLogLevelSetting},
    {"log_format", Kind::kText,
     [](Config& c, std::string_view t, std::string_view o) {
       if (t != "text" && t != "json") return BadValue(o, t, "a log format (text or json)");
       c.log_json = t == "json";
       return OkStatus();
     }},
    {"standby", Kind::kBool,
     [](Config& c, std::string_view t, std::string_view o) {
       return SetBool(c.relay.standby, t, o);
     }},
    {"exit_when_drained", Kind::kBool,
     [](Config& c, std::string_view t, std::string_view o) {
       return SetBool(c.relay.exit_when_drained, t, o);
     }},
    {"fail_fast", Kind::kBool,
     [](Config& c, std::string_view t, std::string_view o) { return SetBool(c.fail_fast, t, o); }},
    {"progress_interval", Kind::kDuration,
     [](Config& c, std::string_view t, std::string_view o) {
       return SetDuration(c.progress_interval, t, o, kMaxBackoff);
     }},
    {"shutdown_timeout", Kind::kDuration,
     [](Config& c, std::string_view t, std::string_view o) {
       return SetDuration(c.relay.shutdown_timeout, t, o, kMaxBackoff);
     }},
    {"metrics_address", Kind::kText,
     [](Config& c, std::string_view t, std::string_view) {
       c.metrics_address = t;
       return OkStatus();
     }},
    {"ready_max_age", Kind::kDuration,
     [](Config& c, std::string_view t, std::string_view o) {
       return SetDuration(c.ready_max_age, t, o, kMaxBackoff);
     }},
}};

const Setting* FindSetting(std::string_view key) {
  for (const Setting& s : kSettings) {
    if (s.key == key) return &s;
  }
  return nullptr;
}

std::string EnvName(std::string_view key) {
  std::string name = "HERALD_";
  for (char c : key) name.push_back(static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c));
  return name;
}

// ---- the TOML layer ------------------------------------------------------

Result<std::string> ReadFile(const std::string& path) {
  auto failure = [&](int err) {
    return std::unexpected(
        InvalidArgument(fmt::format("cannot read config file '{}': {}", path, std::strerror(err))));
  };
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return failure(errno);
  std::string text;
  char buffer[8192];
  for (;;) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n > 0) {
      text.append(buffer, static_cast<std::size_t>(n));
    } else if (n == 0) {
      break;
    } else if (errno != EINTR) {
      int err = errno;
      ::close(fd);
      return failure(err);
    }
  }
  ::close(fd);
  return text;
}

std::string_view TypeName(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    default:
      return "a date or time";
  }
}

Status WrongType(std::string_view origin, std::string_view expected, const toml::node& node) {
  return InvalidArgument(fmt::format("{} must be {}, not {}", origin, expected, TypeName(node)));
}

// The text a TOML value stands for, after checking its type against `kind`.
Result<std::string> TomlText(const toml::node& node, Kind kind, std::string_view origin) {
  switch (kind) {
    case Kind::kText:
    case Kind::kLogLevel:
      if (node.is_string()) return node.as_string()->get();
      return std::unexpected(WrongType(origin, "a string", node));
    case Kind::kWhole:
      if (node.is_integer()) return fmt::format("{}", node.as_integer()->get());
      return std::unexpected(WrongType(origin, "an integer", node));
    case Kind::kDuration:
      if (node.is_integer()) return fmt::format("{}", node.as_integer()->get());
      if (node.is_string()) return node.as_string()->get();
      return std::unexpected(
          WrongType(origin, "a duration string such as \"5s\" or milliseconds", node));
    case Kind::kBool:
      if (node.is_boolean()) return std::string(node.as_boolean()->get() ? "true" : "false");
      return std::unexpected(WrongType(origin, "a boolean", node));
    case Kind::kOptions:
      break;
  }
  return std::unexpected(Internal("publisher options are not a single value"));
}

// Flattens nested tables with dots, so that an unquoted
// `bootstrap.servers = "x"` means the option "bootstrap.servers".
Status ApplyTomlOptions(Config& config, const toml::table& table, const std::string& prefix,
                        const std::string& path) {
  for (auto&& [key, node] : table) {
    std::string name =
        prefix.empty() ? std::string(key.str()) : prefix + "." + std::string(key.str());
    std::string origin =
        fmt::format("{}:{}: publisher option '{}'", path, key.source().begin.line, name);
    if (const toml::table* nested = node.as_table()) {
      HERALD_RETURN_IF_ERROR(ApplyTomlOptions(config, *nested, name, path));
    } else if (node.is_string()) {
      config.publisher_options.properties[name] = node.as_string()->get();
    } else if (node.is_integer()) {
      config.publisher_options.properties[name] = fmt::format("{}", node.as_integer()->get());
    } else if (node.is_floating_point()) {
      config.publisher_options.properties[name] =
          fmt::format("{}", node.as_floating_point()->get());
    } else if (node.is_boolean()) {
      config.publisher_options.properties[name] = node.as_boolean()->get() ? "true" : "false";
    } else {
      return WrongType(origin, "a string, number or boolean", node);
    }
  }
  return OkStatus();
}

// The most parts a dotted TOML key may have (`a.b.c` has 3). toml++ builds
// and frees the tables of a dotted key recursively, so a key of many
// thousand parts would overflow the stack; no configuration needs more than
// a few.
constexpr std::size_t kMaxTomlKeyParts = 64;

// Refuses a key with more than kMaxTomlKeyParts parts, before toml++ sees
// the text. Counts the dots outside strings and comments between two of the
// characters that end a key or a value (= , { } [ ] and newlines): a value
// has at most a dot or two there, so this bounds every key's parts without
// parsing TOML.
Status CheckTomlKeyParts(std::string_view text, std::string_view path) {
  std::size_t line = 1;
  std::size_t dots = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '"' || c == '\'') {
      const bool multi = text.substr(i, 3) == std::string(3, c);
      const std::string_view close = multi ? text.substr(i, 3) : text.substr(i, 1);
      std::size_t j = i + close.size();
      while (j < text.size() && text.substr(j, close.size()) != close) {
        if (text[j] == '\n') {
          if (!multi) break;  // an unterminated string: toml++ reports it
          ++line;
        }
        if (c == '"' && text[j] == '\\') ++j;  // an escape in a basic string
        ++j;
      }
      i = std::min(text.size(), j + close.size()) - 1;
      if (j < text.size() && text[j] == '\n') i = j - 1;
      continue;
    }
    if (c == '#') {
      while (i + 1 < text.size() && text[i + 1] != '\n') ++i;
      continue;
    }
    if (c == '.') {
      if (++dots >= kMaxTomlKeyParts) {
        return InvalidArgument(fmt::format("{}:{}: a key has more than {} dotted parts", path,
                                           line, kMaxTomlKeyParts));
      }
      continue;
    }
    if (std::string_view("=,{}[]\n").find(c) != std::string_view::npos) dots = 0;
    if (c == '\n') ++line;
  }
  return OkStatus();
}

Status ApplyTomlFile(Config& config, const std::string& path) {
  HERALD_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  HERALD_RETURN_IF_ERROR(CheckTomlKeyParts(text, path));
  toml::table table;
  try {
    table = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    return InvalidArgument(fmt::format("{}:{}:{}: {}", path, e.source().begin.line,
                                       e.source().begin.column, e.description()));
  }
  for (auto&& [key, node] : table) {
    auto line = key.source().begin.line;
    const Setting* setting = FindSetting(key.str());
    if (setting == nullptr) {
      return InvalidArgument(fmt::format("{}:{}: unknown key '{}'", path, line, key.str()));
    }
    std::string origin = fmt::format("{}:{}: key '{}'", path, line, key.str());
    if (setting->kind == Kind::kOptions) {
      const toml::table* options = node.as_table();
      if (options == nullptr) return WrongType(origin, "a table", node);
      HERALD_RETURN_IF_ERROR(ApplyTomlOptions(config, *options, "", path));
      continue;
    }
    HERALD_ASSIGN_OR_RETURN(std::string value, TomlText(node, setting->kind, origin));
    HERALD_RETURN_IF_ERROR(setting->set(config, value, origin));
  }
  return OkStatus();
}

// ---- the other layers ----------------------------------------------------

Status ApplyEnvironment(Config& config, const EnvLookup& env) {
  for (const Setting& setting : kSettings) {
    std::string name = EnvName(setting.key);
    if (std::optional<std::string> value = env(name)) {
      HERALD_RETURN_IF_ERROR(setting.set(config, *value, name));
    }
  }
  return OkStatus();
}

Status ApplyCommandLine(Config& config, const CommandLine& command_line) {
  for (const auto& [key, value] : command_line.values) {
    const Setting* setting = FindSetting(key);
    if (setting == nullptr || setting->kind == Kind::kOptions) {
      return Internal(fmt::format("no setting named '{}'", key));
    }
    HERALD_RETURN_IF_ERROR(setting->set(config, value, FlagName(key)));
  }
  for (const std::string& pair : command_line.publisher_options) {
    HERALD_RETURN_IF_ERROR(SetPublisherOption(config, pair, "--publisher-option"));
  }
  return OkStatus();
}

// Rules between settings, checked once all layers are in.
Status CheckConsistency(const Config& config) {
  const RelayOptions& r = config.relay;
  if (r.backoff_max < r.backoff_initial) {
    return InvalidArgument(fmt::format("backoff_max ({}ms) is below backoff_initial ({}ms)",
                                       r.backoff_max.count(), r.backoff_initial.count()));
  }
  return OkStatus();
}

// Defaults, then the file, the environment and the command line.
Status ApplyLayers(Config& config, const CommandLine& command_line, const EnvLookup& env) {
  std::optional<std::string> file = command_line.config_file;
  if (!file) file = env("HERALD_CONFIG");
  if (file) HERALD_RETURN_IF_ERROR(ApplyTomlFile(config, *file));
  HERALD_RETURN_IF_ERROR(ApplyEnvironment(config, env));
  HERALD_RETURN_IF_ERROR(ApplyCommandLine(config, command_line));
  return CheckConsistency(config);
}

}  // namespace

EnvLookup ProcessEnvironment() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr || *value == '\0') return std::nullopt;
    return std::string(value);
  };
}

Result<Config> LoadConfig(const CommandLine& command_line, const EnvLookup& env) {
  Config config;
  if (Status s = ApplyLayers(config, command_line, env); !s.ok()) return std::unexpected(s);
  return config;
}

Status Require(const Config& config, std::string_view key) {
  const std::string& value = key == "db" ? config.db : config.publisher;
  if (!value.empty()) return OkStatus();
  return InvalidArgument(fmt::format("missing {} (or set {}, or {} in the config file)",
                                     FlagName(key), EnvName(key), key));
}

std::string FlagName(std::string_view key) {
  std::string name = "--";
  for (char c : key) name.push_back(c == '_' ? '-' : c);
  return name;
}

}  // namespace herald::cli
