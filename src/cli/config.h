// The `herald` program's configuration, layered from lowest to highest
// precedence: built-in defaults, a TOML file (--config FILE or HERALD_CONFIG),
// HERALD_* environment variables, command-line flags. Every setting has one
// name used everywhere: the TOML key "batch_size", the variable
// HERALD_BATCH_SIZE and the flag --batch-size.
//
// publisher_options is merged key by key across the layers: a TOML
// [publisher_options] table, HERALD_PUBLISHER_OPTIONS="k=v,k=v", and repeated
// --publisher-option k=v, a higher layer replacing only the keys it names.
#ifndef HERALD_CLI_CONFIG_H_
#define HERALD_CLI_CONFIG_H_

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/duration.h"
#include "herald/log.h"
#include "herald/publisher.h"
#include "herald/relay.h"
#include "herald/status.h"

namespace herald::cli {

struct Config {
  std::string db;         // store URL; empty when not given
  std::string publisher;  // publisher URL; empty when not given
  PublisherOptions publisher_options;
  // batch_size, max_attempts, backoff_initial, backoff_max, poll_interval,
  // standby and exit_when_drained; defaults are RelayOptions' own.
  RelayOptions relay;
  LogLevel log_level = LogLevel::kInfo;
  // log_format "json": log lines as JSON objects instead of text.
  bool log_json = false;
  // herald relay: exit 1 at once when the database or the bus cannot be
  // reached at start, instead of waiting for it with backoff.
  bool fail_fast = false;
  // herald relay: serve /metrics, /healthz and /readyz here ("PORT" binds
  // 127.0.0.1); empty: no endpoint.
  std::string metrics_address;
  // /readyz is unready while the oldest pending event is older; 0: no check.
  std::chrono::milliseconds ready_max_age{0};
  // herald relay logs a progress line at info this often.
  std::chrono::milliseconds progress_interval{std::chrono::minutes(1)};
};

// What the command line said, before layering. Keys are setting names
// ("batch_size"); values are the flags' text, parsed like environment values.
struct CommandLine {
  std::optional<std::string> config_file;
  std::map<std::string, std::string> values;
  std::vector<std::string> publisher_options;  // each "key=value"
};

// Reads an environment variable; nullopt when unset. Empty values count as
// unset.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

// The process environment (getenv).
EnvLookup ProcessEnvironment();

// Builds the configuration. InvalidArgument with one line naming where the
// bad value came from ("--batch-size", "HERALD_POLL_INTERVAL",
// "herald.toml:3: key 'poll_interval'") for: an unreadable or malformed
// config file, an unknown key, a value of the wrong type, a bad number,
// duration, boolean or log level, or inconsistent settings (backoff_max below
// backoff_initial). Does not check that required settings are present (see
// Require).
Result<Config> LoadConfig(const CommandLine& command_line, const EnvLookup& env);

// InvalidArgument naming the flag, variable and key when `key` ("db" or
// "publisher") is empty in `config`.
Status Require(const Config& config, std::string_view key);

// The flag of setting `key`: "batch_size" -> "--batch-size".
std::string FlagName(std::string_view key);


}  // namespace herald::cli

#endif  // HERALD_CLI_CONFIG_H_
