// The commands of `herald`, one file each. Each adds its subcommand to the
// application and, when that subcommand is chosen, sets `*chosen` to the
// function that runs it and returns the exit code.
#ifndef HERALD_CLI_COMMANDS_H_
#define HERALD_CLI_COMMANDS_H_

#include <CLI/CLI.hpp>

#include "cli/common.h"

namespace herald::cli {

void AddMigrateCommand(CLI::App& app, Action* chosen);
void AddRelayCommand(CLI::App& app, Action* chosen);
void AddStatusCommand(CLI::App& app, Action* chosen);
void AddDlqCommand(CLI::App& app, Action* chosen);
void AddEnqueueCommand(CLI::App& app, Action* chosen);
void AddDemoCommand(CLI::App& app, Action* chosen);

}  // namespace herald::cli

#endif  // HERALD_CLI_COMMANDS_H_
