// The public SQLite write side (herald/sqlite.h).
#include "herald/sqlite.h"

#include "store/sqlite/outbox_rows.h"

namespace herald::sqlite {

Status Enqueue(sqlite3* db, const Event& event, const EnqueueOptions& options) {
  return sqlite_internal::InsertEvents(db, std::span<const Event>(&event, 1),
                                       options.max_payload_bytes);
}

Status EnqueueBatch(sqlite3* db, std::span<const Event> events, const EnqueueOptions& options) {
  return sqlite_internal::InsertEvents(db, events, options.max_payload_bytes);
}

}  // namespace herald::sqlite
