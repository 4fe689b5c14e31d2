// Internal: parsing the database URLs that herald::OpenStore accepts.
#ifndef HERALD_STORE_STORE_URL_H_
#define HERALD_STORE_STORE_URL_H_

#include <string>
#include <string_view>

#include "herald/status.h"

namespace herald {

struct StoreUrl {
  std::string scheme;  // "sqlite"
  std::string path;    // the database file, as given (relative or absolute)
};

// "sqlite:PATH" (PATH relative or absolute) and "sqlite:///abs/path" (PATH
// "/abs/path"). InvalidArgument, in one line naming the URL, for anything
// else: no scheme, an empty path, a host ("sqlite://host/x"), or a scheme
// this build does not support.
Result<StoreUrl> ParseStoreUrl(std::string_view url);

}  // namespace herald

#endif  // HERALD_STORE_STORE_URL_H_
