#include <fmt/format.h>

#include "herald/store.h"
#include "store/store_url.h"
#ifdef HERALD_WITH_SQLITE
#include "store/sqlite/sqlite_store.h"
#endif

namespace herald {
namespace {

// The schemes this build can open, for messages.
constexpr std::string_view kSupported =
#ifdef HERALD_WITH_SQLITE
    "sqlite";
#else
    "none; this herald was built without database support";
#endif

bool IsSupported(std::string_view scheme) {
#ifdef HERALD_WITH_SQLITE
  if (scheme == "sqlite") return true;
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
  // Every supported scheme so far names a database file.
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
  static_cast<void>(options);
  return std::unexpected(Internal(fmt::format("no store for scheme '{}'", parsed->scheme)));
}

}  // namespace herald
