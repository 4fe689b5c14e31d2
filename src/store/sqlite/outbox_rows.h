// Internal: writing events into herald_outbox and reading event rows back.
// Shared by the write side (sqlite.h) and the store.
#ifndef HERALD_STORE_SQLITE_OUTBOX_ROWS_H_
#define HERALD_STORE_SQLITE_OUTBOX_ROWS_H_

#include <sqlite3.h>

#include <cstddef>
#include <span>
#include <string_view>

#include "herald/event.h"
#include "herald/status.h"
#include "store/sqlite/db.h"

namespace herald::sqlite_internal {

// The event columns common to herald_outbox and herald_dead_letters, in the
// order ReadEvent() expects them.
inline constexpr std::string_view kEventColumns =
    "event_id, topic, key, type, payload, content_type, headers, created_at";
inline constexpr int kEventColumnCount = 8;

// Inserts `events` in order into herald_outbox through `db`, all or none.
// REQUIRES: a transaction is open on `db` (FailedPrecondition otherwise);
// it is never ended here. Every event is validated against
// `max_payload_bytes` before anything is written. Errors as in sqlite.h:
// AlreadyExists for a duplicate id, Aborted when busy.
Status InsertEvents(sqlite3* db, std::span<const Event> events, std::size_t max_payload_bytes);

// Reads the event whose kEventColumns start at column `first` of the current
// row of `stmt`. Internal if the row is malformed (which the schema's CHECK
// constraints prevent).
Result<Event> ReadEvent(const Statement& stmt, int first);

}  // namespace herald::sqlite_internal

#endif  // HERALD_STORE_SQLITE_OUTBOX_ROWS_H_
