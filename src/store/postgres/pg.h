// Internal: a thin C++ face on libpq used by Herald's PostgreSQL store and
// write side. Not part of the public API.
#ifndef HERALD_STORE_POSTGRES_PG_H_
#define HERALD_STORE_POSTGRES_PG_H_

#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "herald/status.h"

namespace herald::pg_internal {

struct ConnCloser {
  void operator()(PGconn* conn) const { PQfinish(conn); }
};
using ConnPtr = std::unique_ptr<PGconn, ConnCloser>;

struct ResultCloser {
  void operator()(PGresult* res) const { PQclear(res); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultCloser>;

// Query parameters, all sent in text format. NULL where a value is nullopt.
class Params {
 public:
  Params& Add(std::string value) {
    values_.emplace_back(std::move(value));
    return *this;
  }
  Params& Add(std::int64_t value) { return Add(std::to_string(value)); }
  Params& AddNull() {
    values_.emplace_back(std::nullopt);
    return *this;
  }
  std::vector<const char*> Pointers() const;
  int size() const { return static_cast<int>(values_.size()); }

 private:
  std::vector<std::optional<std::string>> values_;
};

// A PostgreSQL array literal ("{...}") of `items`, each quoted and escaped.
std::string ArrayLiteral(std::span<const std::string> items);
// A PostgreSQL array literal of integers.
std::string IntArrayLiteral(std::span<const std::int64_t> items);

// Turns a failed libpq call into a Status, by SQLSTATE:
//   23505 unique violation             -> AlreadyExists
//   40001, 40P01 serialization, deadlock -> `conflict_code` (Aborted on the
//                                         application's connection)
//   42P01, 3F000 missing table, schema  -> FailedPrecondition naming `herald migrate`
//   08xxx, 57P0x, 53xxx, a bad connection -> Unavailable
//   22xxx, 23xxx data or constraint      -> InvalidArgument
//   55P03 lock not available, 57014 canceled -> Unavailable
//   anything else                        -> Internal
// The message is "`context`: <primary message>" in one line.
Status MapError(PGconn* conn, const PGresult* res, std::string_view context,
                Code conflict_code = Code::kAborted);

// The FailedPrecondition returned when Herald's schema is missing.
Status NoSchemaError(std::string_view schema);

// Runs `sql` with `params` and binary results. OK for a command or rows;
// otherwise the mapped error. Never throws.
Result<ResultPtr> Exec(PGconn* conn, std::string_view sql, const Params& params,
                       std::string_view context, Code conflict_code = Code::kAborted);
// Prepares `sql` as the named statement `name` on `conn`. Errors as Exec.
Status Prepare(PGconn* conn, const std::string& name, std::string_view sql,
               std::string_view context, Code conflict_code = Code::kAborted);
// Runs the statement prepared as `name` with `params` and binary results.
Result<ResultPtr> ExecPrepared(PGconn* conn, const std::string& name, const Params& params,
                               std::string_view context, Code conflict_code = Code::kAborted);
// Runs `sql` (no parameters, possibly several statements; results discarded).
Status ExecSimple(PGconn* conn, std::string_view sql, std::string_view context,
                  Code conflict_code = Code::kAborted);

// Readers of binary-format result columns; Internal on a type mismatch.
// Integers must be bigint (int8) columns.
bool IsNull(const PGresult* res, int row, int col);
Result<std::int64_t> Int64(const PGresult* res, int row, int col);
std::string Bytes(const PGresult* res, int row, int col);

// True if `schema` is a valid Herald schema name: 1 to 48 characters of
// [a-z0-9_], not starting with a digit (so it needs no quoting and its
// notification channel fits PostgreSQL's 63-byte limit).
bool IsValidSchemaName(std::string_view schema);
Status CheckSchemaName(std::string_view schema);

// The LISTEN/NOTIFY channel that wakes relays of `schema`.
std::string WakeChannel(std::string_view schema);

// libpq's error message of `conn` in one line.
std::string ConnectionMessage(PGconn* conn);

}  // namespace herald::pg_internal

#endif  // HERALD_STORE_POSTGRES_PG_H_
