// herald: the relay daemon and the operator's tools for a Herald outbox.
#include <csignal>
#include <exception>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/common.h"

int main(int argc, char** argv) {
  using namespace herald::cli;
  // A closed stdout pipe is an error to report (the stdout: publisher turns
  // it into kUnavailable), not a reason to die.
  std::signal(SIGPIPE, SIG_IGN);
  InitLogging();

  CLI::App app("Herald: the transactional outbox relay and its tools", "herald");
  app.set_version_flag("--version", HERALD_VERSION_STRING);
  Action chosen;
  AddMigrateCommand(app, &chosen);
  AddRelayCommand(app, &chosen);
  AddStatusCommand(app, &chosen);
  AddDlqCommand(app, &chosen);
  AddEnqueueCommand(app, &chosen);
#ifdef HERALD_WITH_DEMO
  AddDemoCommand(app, &chosen);
#endif

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return Fail(herald::InvalidArgument(e.what()), kExitUsage);
  }
  if (!chosen) {
    return Fail(herald::InvalidArgument("missing command (migrate, relay, status, dlq, enqueue or "
                                        "demo); see herald --help"),
                kExitUsage);
  }
  try {
    return chosen();
  } catch (const std::exception& e) {
    return Fail(herald::Internal(e.what()), kExitFailure);
  }
}
