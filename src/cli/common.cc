#include "cli/common.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>

#include <fmt/format.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include "core/json_text.h"
#include "core/secrets.h"

namespace herald::cli {
namespace {

// Writes each formatted log line to standard error with its secrets masked,
// whoever logged it (Herald, or a client library through Herald's logger).
// As text (time, level, message) or, with --log-format json, as one JSON
// object a line: {"time":"...Z","level":"info","message":"..."}.
std::atomic<bool> log_json{false};

class MaskingStderrSink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    if (log_json.load()) {
      const std::string masked =
          MaskSecrets(std::string_view(msg.payload.data(), msg.payload.size()));
      std::string line = "{\"time\":";
      AppendJsonString(FormatRfc3339(std::chrono::time_point_cast<std::chrono::milliseconds>(
                           msg.time)),
                       line);
      line += ",\"level\":";
      AppendJsonString(LevelName(msg.level), line);
      line += ",\"message\":";
      AppendJsonString(masked, line);
      line += "}\n";
      std::fwrite(line.data(), 1, line.size(), stderr);
      return;
    }
    spdlog::memory_buf_t line;
    formatter_->format(msg, line);
    const std::string masked = MaskSecrets(std::string_view(line.data(), line.size()));
    std::fwrite(masked.data(), 1, masked.size(), stderr);
  }
  void flush_() override { std::fflush(stderr); }

 private:
  // herald/log.h's names.
  static std::string_view LevelName(spdlog::level::level_enum level) {
    switch (level) {
      case spdlog::level::trace: return "trace";
      case spdlog::level::debug: return "debug";
      case spdlog::level::info: return "info";
      case spdlog::level::warn: return "warning";
      default: return "error";
    }
  }
};

spdlog::level::level_enum SpdlogLevel(LogLevel level) {
  switch (level) {
    case LogLevel::kTrace:
      return spdlog::level::trace;
    case LogLevel::kDebug:
      return spdlog::level::debug;
    case LogLevel::kInfo:
      return spdlog::level::info;
    case LogLevel::kWarning:
      return spdlog::level::warn;
    case LogLevel::kError:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

}  // namespace

void OnChosen(CLI::App* command, Action* chosen, Action action) {
  command->callback([chosen, action = std::move(action)] { *chosen = action; });
}

void AddCommonOptions(CLI::App* command, CommandLine* line) {
  command
      ->add_option_function<std::string>(
          "--config", [line](const std::string& path) { line->config_file = path; },
          "TOML configuration file (default: $HERALD_CONFIG)")
      ->type_name("FILE");
  AddSettingOption(command, line, "db", "URL", "database URL, e.g. sqlite:app.db ($HERALD_DB)");
  AddSettingOption(command, line, "log_level", "LEVEL",
                   "trace, debug, info, warning (or warn) or error ($HERALD_LOG_LEVEL; "
                   "default info)");
  AddSettingOption(command, line, "log_format", "FORMAT",
                   "text, or json for one JSON object a line ($HERALD_LOG_FORMAT; default text)");
}

CLI::Option* AddSettingOption(CLI::App* command, CommandLine* line, std::string_view key,
                              std::string_view value_name, std::string help) {
  return command
      ->add_option_function<std::string>(
          FlagName(key),
          [line, k = std::string(key)](const std::string& v) { line->values[k] = v; },
          std::move(help))
      ->type_name(std::string(value_name));
}

CLI::Option* AddSettingFlag(CLI::App* command, CommandLine* line, std::string_view key,
                            std::string help) {
  // "--flag" is "true"; "--flag=VALUE" is VALUE, read as any other boolean
  // setting (so --flag=no is false and --flag=maybe an error).
  return command->add_flag(FlagName(key))
      ->description(std::move(help))
      ->each([line, k = std::string(key)](const std::string& value) { line->values[k] = value; });
}

Result<Config> ResolveConfig(const CommandLine& line) {
  Result<Config> config = LoadConfig(line, ProcessEnvironment());
  if (config) {
    spdlog::set_level(SpdlogLevel(config->log_level));
    SetLogLevel(config->log_level);
    log_json.store(config->log_json);
  }
  return config;
}

Result<std::unique_ptr<Store>> OpenExistingStore(const Config& config, Access access) {
  if (Status s = Require(config, "db"); !s.ok()) return std::unexpected(s);
  StoreOptions options;
  options.create_if_missing = false;
  options.read_only = access == Access::kRead;
  Result<std::unique_ptr<Store>> store = OpenStore(config.db, options);
  if (!store) return store;
  if (Status s = (*store)->CheckSchema(); !s.ok()) return std::unexpected(s);
  return store;
}

int Fail(const Status& status, int exit_code) {
  std::string message =
      MaskSecrets(status.message().empty() ? status.ToString() : status.message());
  for (char& c : message) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  std::fflush(stdout);
  fmt::print(stderr, "herald: error: {}\n", message);
  return exit_code;
}

int FailSetup(const Status& status) {
  switch (status.code()) {
    case Code::kInvalidArgument:
    case Code::kNotFound:
    case Code::kFailedPrecondition:
    case Code::kAlreadyExists:
      return Fail(status, kExitUsage);
    default:
      return Fail(status, kExitFailure);
  }
}

void InitLogging() {
  auto logger = std::make_shared<spdlog::logger>("herald", std::make_shared<MaskingStderrSink>());
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::info);
  // The library's lines go the same way, masked like the program's own.
  SetLogSink([](LogLevel level, std::string_view message) {
    spdlog::log(SpdlogLevel(level), "{}", message);
  });
}

}  // namespace herald::cli
