// Internal: writing events into <schema>.outbox and reading event rows back.
// Shared by the write side (postgres.h) and the store.
#ifndef HERALD_STORE_POSTGRES_ROWS_H_
#define HERALD_STORE_POSTGRES_ROWS_H_

#include <libpq-fe.h>

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "herald/event.h"
#include "herald/status.h"

namespace herald::pg_internal {

// The select list of the event columns of outbox or dead_letters row `alias`,
// in the order ReadEvent() expects them (kEventColumnCount columns).
std::string EventColumns(std::string_view alias);
inline constexpr int kEventColumnCount = 8;

// Inserts `events` in order into <schema>.outbox through `conn` with one
// statement (one round trip; all or none). Validates every event against
// `max_payload_bytes` before sending anything. `conflict_code` is what a
// serialization failure or deadlock means to the caller. Errors as MapError.
// Does not check the connection's transaction state.
Status InsertEvents(PGconn* conn, const std::string& schema, std::span<const Event> events,
                    std::size_t max_payload_bytes, Code conflict_code);

// The event whose EventColumns start at column `first` of row `row`
// (binary results). Internal if a value is malformed.
Result<Event> ReadEvent(const PGresult* res, int row, int first);

// SQL for a timestamptz from Unix milliseconds in parameter `param` ("$2").
std::string FromMillisSql(std::string_view param);
// SQL for Unix milliseconds (bigint) of a timestamptz expression.
std::string ToMillisSql(std::string_view expr);

}  // namespace herald::pg_internal

#endif  // HERALD_STORE_POSTGRES_ROWS_H_
