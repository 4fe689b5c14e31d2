// What the commands of `herald` share: options bound to configuration
// settings, loading the configuration, opening the store, and turning a
// Status into one line on stderr and an exit code.
#ifndef HERALD_CLI_COMMON_H_
#define HERALD_CLI_COMMON_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

#include "cli/config.h"
#include "herald/status.h"
#include "herald/store.h"

namespace herald::cli {

// Exit codes.
inline constexpr int kExitOk = 0;
// The command started and failed at run time (a store or bus error, a relay
// that stopped on an error it cannot retry).
inline constexpr int kExitFailure = 1;
// Bad input: an unknown option, a malformed value or URL, a missing or
// unmigrated database. Nothing was changed.
inline constexpr int kExitUsage = 2;

// Runs the command chosen on the command line and returns the exit code.
using Action = std::function<int()>;

// Registers a subcommand's action: once CLI11 has parsed `command`, `*chosen`
// becomes `action`.
void OnChosen(CLI::App* command, Action* chosen, Action action);

// Adds --config FILE, --db URL and --log-level LEVEL to `command`.
void AddCommonOptions(CLI::App* command, CommandLine* line);

// Adds "--<key with dashes> VALUE" for the setting `key`, recording its text
// in line->values[key] for LoadConfig to parse.
CLI::Option* AddSettingOption(CLI::App* command, CommandLine* line, std::string_view key,
                              std::string_view value_name, std::string help);

// Adds the flag "--<key with dashes>" for the boolean setting `key`: alone
// it means true; "--flag=no" (any spelling of a boolean) gives the value.
CLI::Option* AddSettingFlag(CLI::App* command, CommandLine* line, std::string_view key,
                            std::string help);

// Loads the configuration (LoadConfig with the process environment) and sets
// the log level from it.
Result<Config> ResolveConfig(const CommandLine& line);

// What a command does to its database. A command that reads changes
// nothing in it (StoreOptions::read_only).
enum class Access { kRead, kWrite };

// Opens the store at config.db without creating anything, and checks its
// schema. InvalidArgument when no database was given.
Result<std::unique_ptr<Store>> OpenExistingStore(const Config& config, Access access);

// Prints "herald: error: MESSAGE" as one line on stderr; returns `exit_code`.
int Fail(const Status& status, int exit_code);

// For a failure before a command changed anything: kExitUsage when the input
// or environment must be fixed (invalid argument, not found, failed
// precondition, already exists), kExitFailure otherwise.
int FailSetup(const Status& status);

// Sets up logging to stderr (level info until the configuration says).
void InitLogging();

}  // namespace herald::cli

#endif  // HERALD_CLI_COMMON_H_
