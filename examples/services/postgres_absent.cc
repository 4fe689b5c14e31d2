// A build without PostgreSQL: the services run on SQLite only.
#include "services/database.h"

namespace herald::examples {
namespace {

Status NoPostgres() {
  return FailedPrecondition("this build of Herald has no PostgreSQL support");
}

}  // namespace

bool HavePostgres() { return false; }

Result<std::unique_ptr<Database>> OpenPostgresDatabase(const PostgresLocation&) {
  return std::unexpected(NoPostgres());
}

Status DropPostgresSchemas(const std::string&, const std::vector<std::string>&) {
  return NoPostgres();
}

}  // namespace herald::examples
