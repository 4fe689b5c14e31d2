// Internal: the PostgreSQL database URL that herald::OpenStore accepts.
//
//   postgres://user[:password]@host[:port]/db[?param=value&...]
//   postgresql://...   (the same)
//
// Herald's own query parameters are removed; everything else goes to libpq
// unchanged (sslmode, connect_timeout, ...):
//   schema=NAME        Herald's schema (default "herald")
//   partitions=N       partitions, used by migrate when the schema is created (default 32)
//   lease=DURATION     partition lease: "6s", "1500ms", "1m30s" (core/duration.h: a bare
//                      number is milliseconds; default 6s)
//   relay_id=ID        this relay's name (default host:pid:random)
#ifndef HERALD_STORE_POSTGRES_PG_URL_H_
#define HERALD_STORE_POSTGRES_PG_URL_H_

#include <chrono>
#include <string>
#include <string_view>

#include "herald/postgres.h"
#include "herald/status.h"

namespace herald::pg_internal {

inline constexpr std::chrono::milliseconds kDefaultLease{6000};
inline constexpr std::chrono::milliseconds kMinLease{300};
inline constexpr std::chrono::milliseconds kMaxLease{3600 * 1000};

struct PgUrl {
  std::string conninfo;  // the URL for libpq, without Herald's parameters
  std::string display;   // the URL as given, its secrets masked (MaskSecrets)
  std::string schema = "herald";
  int partitions = postgres::kDefaultPartitions;
  std::chrono::milliseconds lease = kDefaultLease;
  std::string relay_id;  // empty: none given
};

// Parses `url`. InvalidArgument, in one line naming the (redacted) URL, for
// a wrong scheme, a malformed parameter, a bad Herald parameter value, or
// anything libpq's own parser refuses.
Result<PgUrl> ParsePgUrl(std::string_view url);

// True if `url` starts with postgres:// or postgresql://.
bool IsPgUrl(std::string_view url);

}  // namespace herald::pg_internal

#endif  // HERALD_STORE_POSTGRES_PG_URL_H_
