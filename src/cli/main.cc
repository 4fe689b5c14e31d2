// herald: the relay daemon and the operator's tools for a Herald outbox.
#include <csignal>
#include <exception>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "herald/publisher.h"
#include "herald/store.h"

namespace {

// A word nobody takes: after a command that has commands of its own ("herald
// dlq frob") or alone ("herald frob") it names an unknown command.
std::string StrayWordMessage(const CLI::App& app, const CLI::ExtrasError& e) {
  const CLI::App* at = &app;
  while (!at->get_subcommands().empty()) at = at->get_subcommands().front();
  const std::vector<std::string> extras = at->remaining();
  std::vector<const CLI::App*> commands =
      at->get_subcommands([](const CLI::App*) { return true; });
  if (extras.empty()) return e.what();
  if (commands.empty()) return fmt::format("unexpected argument '{}'", extras.front());
  std::vector<std::string> names;
  for (const CLI::App* c : commands) names.push_back(c->get_name());
  const std::string where = at == &app ? "" : at->get_name() + " ";
  return fmt::format("unknown {}command '{}' ({}); see herald {}--help", where, extras.front(),
                     fmt::join(names, ", "), where);
}

// herald --version: the version, then what this build can talk to and the
// library under each.
std::string VersionText() {
  std::string out = fmt::format("herald {}", HERALD_VERSION_STRING);
  std::vector<std::string> stores;
  for (const herald::StoreBackend& b : herald::StoreBackends()) {
    stores.push_back(fmt::format("{} ({})", b.scheme, b.library));
  }
  out += fmt::format("\ndatabases: {}", fmt::join(stores, ", "));
  // Schemes of one library side by side share its name: "amqp, amqps (rabbitmq-c 0.11.0)".
  std::vector<std::string> buses;
  const std::vector<herald::PublisherScheme> schemes = herald::PublisherSchemes();
  for (std::size_t i = 0; i < schemes.size(); ++i) {
    const herald::PublisherScheme& s = schemes[i];
    const bool shares_next = i + 1 < schemes.size() && !s.library.empty() &&
                             schemes[i + 1].library == s.library;
    buses.push_back(s.library.empty() || shares_next ? std::string(s.name)
                                                     : fmt::format("{} ({})", s.name, s.library));
  }
  out += fmt::format("\nbuses: {}", fmt::join(buses, ", "));
#ifdef HERALD_WITH_METRICS
  out += "\nmetrics: /metrics, /healthz, /readyz (prometheus-cpp, civetweb)";
#else
  out += "\nmetrics: not built";
#endif
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace herald::cli;
  // A closed stdout pipe is an error to report (the stdout: publisher turns
  // it into kUnavailable), not a reason to die.
  std::signal(SIGPIPE, SIG_IGN);
  InitLogging();

  CLI::App app("Herald: the transactional outbox relay and its tools", "herald");
  app.set_version_flag("--version", VersionText, "Print the version, the databases and buses "
                                                 "of this build and their libraries, then exit");
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
  } catch (const CLI::ExtrasError& e) {
    return Fail(herald::InvalidArgument(StrayWordMessage(app, e)), kExitUsage);
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
