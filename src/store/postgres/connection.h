// Internal: one libpq connection that reconnects by itself.
#ifndef HERALD_STORE_POSTGRES_CONNECTION_H_
#define HERALD_STORE_POSTGRES_CONNECTION_H_

#include <libpq-fe.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <random>
#include <string>

#include "core/backoff.h"
#include "herald/status.h"
#include "store/postgres/pg.h"

namespace herald::pg_internal {

// A connection to `conninfo` (a URL libpq accepts) that is re-established
// on demand after it is lost, at most once per full-jitter backoff delay.
// Logs once per state change ("lost connection to PostgreSQL ...;
// reconnecting", "reconnected to PostgreSQL ..."), not per attempt.
// Thread-compatible.
class Connection {
 public:
  // `setup` runs on every new connection before it is used (session
  // settings, LISTEN); its failure counts as a failed connect. `what` names
  // the connection in logs.
  Connection(std::string conninfo, std::string application_name, std::string what,
             std::function<Status(PGconn*)> setup);

  // The connection, connecting first if there is none. Unavailable while
  // the server cannot be reached (or before the next attempt is due);
  // NotFound when the database does not exist.
  Result<PGconn*> Get();

  // To be called with the outcome of a call made through Get()'s
  // connection: when the connection turned out to be broken, drops it (the
  // next Get() reconnects) and logs the loss once.
  void Observe(const Status& status);

  // Drops the connection now (for example after PQconsumeInput failed).
  void Drop(std::string_view reason);

  bool connected() const { return conn_ != nullptr; }

  // Counts the connections made so far: what was prepared on the
  // connection of an earlier generation is gone.
  std::uint64_t generation() const { return generation_; }

 private:
  Status Connect();

  std::string conninfo_;
  std::string application_name_;
  std::string what_;
  std::function<Status(PGconn*)> setup_;
  ConnPtr conn_;
  bool ever_connected_ = false;
  bool lost_ = false;  // lost after having been connected; logged
  int failures_ = 0;
  std::uint64_t generation_ = 0;
  std::chrono::steady_clock::time_point next_attempt_{};
  std::string last_error_;
  Backoff backoff_{std::chrono::milliseconds(50), std::chrono::milliseconds(2000)};
  std::minstd_rand rng_{std::random_device{}()};
};

}  // namespace herald::pg_internal

#endif  // HERALD_STORE_POSTGRES_CONNECTION_H_
