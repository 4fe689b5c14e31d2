#include <fmt/format.h>

#include "herald/store.h"
#include "store/store_url.h"
#ifdef HERALD_WITH_SQLITE
#include "store/sqlite/sqlite_store.h"
#endif
#ifdef HERALD_WITH_POSTGRES
#include "store/postgres/postgres_store.h"
#endif

namespace herald {
namespace {

// The schemes this build can open, for messages.
constexpr std::string_view kSupported =
#if defined(HERALD_WITH_SQLITE) && defined(HERALD_WITH_POSTGRES)
    "sqlite, postgres";
#elif defined(HERALD_WITH_SQLITE)
    "sqlite";
#elif defined(HERALD_WITH_POSTGRES)
    "postgres";
#else
    "none; this herald was built without database support";
#endif

bool IsPostgres(std::string_view scheme) { return scheme == "postgres" || scheme == "postgresql"; }

bool IsSupported(std::string_view scheme) {
#ifdef HERALD_WITH_SQLITE
  if (scheme == "sqlite") return true;
#endif
#ifdef HERALD_WITH_POSTGRES
  if (IsPostgres(scheme)) return true;
#endif
  static_cast<void>(scheme);
  return false;
}

Result<std::string> SqlitePath(std::string_view url, std::string_view rest) {
  if (rest.starts_with("//")) {
    if (!rest.starts_with("///")) {
      return std::unexpected(InvalidArgument(fmt::format(
          "database URL '{}' names a host; SQLite takes a file: sqlite:PATH or sqlite:///abs/path",
          url)));
    }
    rest.remove_prefix(2);  // keep the path's leading '/'
  }
  if (rest.empty()) {
    return std::unexpected(InvalidArgument(fmt::format(
        "database URL '{}' has no path; expected sqlite:PATH or sqlite:///abs/path", url)));
  }
  return std::string(rest);
}

}  // namespace

Result<StoreUrl> ParseStoreUrl(std::string_view url) {
  std::size_t colon = url.find(':');
  if (colon == std::string_view::npos || colon == 0) {
    return std::unexpected(InvalidArgument(fmt::format(
        "database URL '{}' has no scheme; expected for example sqlite:PATH (supported: {})", url,
        kSupported)));
  }
  std::string_view scheme = url.substr(0, colon);
  if (!IsSupported(scheme)) {
    return std::unexpected(InvalidArgument(fmt::format(
        "unknown database scheme '{}' in '{}' (supported: {})", scheme, url, kSupported)));
  }
  if (IsPostgres(scheme)) {
    if (!url.substr(colon).starts_with("://")) {
      return std::unexpected(InvalidArgument(fmt::format(
          "database URL '{}' is malformed; expected {}://user@host:port/database", url, scheme)));
    }
    return StoreUrl{"postgres", std::string(url)};
  }
  // The other schemes name a database file.
  Result<std::string> path = SqlitePath(url, url.substr(colon + 1));
  if (!path) return std::unexpected(path.error());
  return StoreUrl{std::string(scheme), std::move(*path)};
}

Result<std::unique_ptr<Store>> OpenStore(std::string_view url, const StoreOptions& options) {
  Result<StoreUrl> parsed = ParseStoreUrl(url);
  if (!parsed) return std::unexpected(parsed.error());
#ifdef HERALD_WITH_SQLITE
  if (parsed->scheme == "sqlite") return OpenSqliteStore(std::move(parsed->path), options);
#endif
#ifdef HERALD_WITH_POSTGRES
  if (parsed->scheme == "postgres") {
    Result<std::unique_ptr<PostgresStore>> store = OpenPostgresStore(parsed->path, options);
    if (!store) return std::unexpected(store.error());
    return std::unique_ptr<Store>(std::move(*store));
  }
#endif
  static_cast<void>(options);
  return std::unexpected(Internal(fmt::format("no store for scheme '{}'", parsed->scheme)));
}

std::vector<StoreBackend> StoreBackends() {
  std::vector<StoreBackend> out;
#ifdef HERALD_WITH_SQLITE
  out.push_back({"sqlite", SqliteLibrary()});
#endif
#ifdef HERALD_WITH_POSTGRES
  out.push_back({"postgres", PostgresLibrary()});
#endif
  return out;
}

}  // namespace herald
