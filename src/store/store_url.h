// Internal: parsing the database URLs that herald::OpenStore accepts.
#ifndef HERALD_STORE_STORE_URL_H_
#define HERALD_STORE_STORE_URL_H_

#include <string>
#include <string_view>

#include "herald/status.h"

namespace herald {

struct StoreUrl {
  std::string scheme;  // "sqlite" or "postgres"
  // sqlite: the database file, as given (relative or absolute);
  // postgres: the whole URL, parsed by the PostgreSQL store.
  std::string path;
};

// "sqlite:PATH" (PATH relative or absolute) and "sqlite:///abs/path" (PATH
// "/abs/path"); "postgres://..." and "postgresql://..." (scheme "postgres",
// checked in full when opened: see store/postgres/pg_url.h). InvalidArgument, in one line naming the URL, for anything
// else: no scheme, an empty path, a host ("sqlite://host/x"), or a scheme
// this build does not support.
Result<StoreUrl> ParseStoreUrl(std::string_view url);

}  // namespace herald

#endif  // HERALD_STORE_STORE_URL_H_
