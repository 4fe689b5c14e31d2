// herald migrate: create or upgrade the outbox schema.
#include <memory>

#include <fmt/format.h>

#include "cli/commands.h"
#include "core/secrets.h"
#include "herald/postgres.h"
#include "herald/sqlite.h"
#include "herald/store.h"

namespace herald::cli {
namespace {

int RunMigrate(const CommandLine& line) {
  Result<Config> config = ResolveConfig(line);
  if (!config) return FailSetup(config.error());
  if (Status s = Require(*config, "db"); !s.ok()) return FailSetup(s);
  StoreOptions options;
  options.create_if_missing = true;
  Result<std::unique_ptr<Store>> store = OpenStore(config->db, options);
  if (!store) return FailSetup(store.error());
  if (Status s = (*store)->Migrate(); !s.ok()) return FailSetup(s);
  const bool postgres =
      config->db.starts_with("postgres://") || config->db.starts_with("postgresql://");
  fmt::print("schema is at version {} in {}\n",
             postgres ? postgres::kSchemaVersion : sqlite::kSchemaVersion, MaskSecrets(config->db));
  return kExitOk;
}

}  // namespace

void AddMigrateCommand(CLI::App& app, Action* chosen) {
  CLI::App* cmd = app.add_subcommand(
      "migrate", "Create the database if needed and create or upgrade Herald's tables");
  auto line = std::make_shared<CommandLine>();
  AddCommonOptions(cmd, line.get());
  OnChosen(cmd, chosen, [line] { return RunMigrate(*line); });
}

}  // namespace herald::cli
