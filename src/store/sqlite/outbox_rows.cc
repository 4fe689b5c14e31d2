#include "store/sqlite/outbox_rows.h"

#include <fmt/format.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/macros.h"
#include "store/common/store_common.h"

namespace herald::sqlite_internal {
namespace {

using store_internal::DecodeHeaders;
using store_internal::EncodeHeaders;

constexpr const char* kInsertSql =
    "INSERT INTO herald_outbox (event_id, topic, key, type, payload, content_type, headers, "
    "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

// created_at as stored: the event's own, or now for an event that has none.
std::int64_t CreatedAtMillis(const Event& event) {
  TimePoint t =
      event.created_at == TimePoint{} ? std::chrono::system_clock::now() : event.created_at;
  return ToUnixMillis(t);
}

Status InsertOne(Statement& insert, const Event& event, const std::string& id,
                 const std::string& headers) {
  ResetOnExit reset(insert);
  insert.BindText(1, id);
  insert.BindText(2, event.topic);
  insert.BindText(3, event.key);
  insert.BindText(4, event.type);
  insert.BindBlob(5, event.payload);
  insert.BindText(6, event.content_type);
  insert.BindText(7, headers);
  insert.BindInt(8, CreatedAtMillis(event));
  Status s = insert.Run();
  if (s.code() == Code::kAlreadyExists) {
    return AlreadyExists(fmt::format("event {} is already in the outbox", id));
  }
  return s.WithContext(fmt::format("enqueue event {}", id));
}

// The ids and encoded headers of `events`, or the first validation error.
struct Prepared {
  std::vector<std::string> ids;
  std::vector<std::string> headers;
};

Result<Prepared> PrepareRows(std::span<const Event> events, std::size_t max_payload_bytes) {
  Prepared rows;
  rows.ids.reserve(events.size());
  rows.headers.reserve(events.size());
  for (std::size_t i = 0; i < events.size(); ++i) {
    auto context = [&] { return fmt::format("event {} of {}", i + 1, events.size()); };
    if (Status s = Validate(events[i], max_payload_bytes); !s.ok()) {
      return std::unexpected(events.size() == 1 ? s : s.WithContext(context()));
    }
    Result<std::string> headers = EncodeHeaders(events[i].headers);
    if (!headers) return std::unexpected(headers.error());
    rows.ids.push_back(events[i].id.ToString());
    rows.headers.push_back(std::move(*headers));
  }
  return rows;
}

Status InsertAll(Statement& insert, std::span<const Event> events, const Prepared& rows) {
  for (std::size_t i = 0; i < events.size(); ++i) {
    HERALD_RETURN_IF_ERROR(InsertOne(insert, events[i], rows.ids[i], rows.headers[i]));
  }
  return OkStatus();
}

}  // namespace

Status InsertEvents(sqlite3* db, std::span<const Event> events, std::size_t max_payload_bytes) {
  if (sqlite3_get_autocommit(db) != 0) {
    return FailedPrecondition(
        "no transaction is open on this connection; Enqueue must run inside the caller's "
        "transaction");
  }
  HERALD_ASSIGN_OR_RETURN(Prepared rows, PrepareRows(events, max_payload_bytes));
  if (events.empty()) return OkStatus();
  HERALD_ASSIGN_OR_RETURN(Statement insert, Statement::Prepare(db, kInsertSql, Code::kAborted));
  // One INSERT is atomic by itself; several need a savepoint so that a
  // failure undoes the earlier ones without ending the caller's transaction.
  if (events.size() == 1) return InsertAll(insert, events, rows);
  HERALD_RETURN_IF_ERROR(Exec(db, "SAVEPOINT herald_enqueue", Code::kAborted));
  Status s = InsertAll(insert, events, rows);
  if (!s.ok()) {
    // Either may fail if SQLite already rolled the whole transaction back
    // (for example on SQLITE_FULL); `s` says what happened.
    sqlite3_exec(db, "ROLLBACK TO herald_enqueue", nullptr, nullptr, nullptr);
    sqlite3_exec(db, "RELEASE herald_enqueue", nullptr, nullptr, nullptr);
    return s;
  }
  return Exec(db, "RELEASE herald_enqueue", Code::kAborted);
}

Result<Event> ReadEvent(const Statement& stmt, int first) {
  std::string id_text = stmt.ColumnText(first);
  std::optional<EventId> id = EventId::Parse(id_text);
  if (!id) return std::unexpected(Internal(fmt::format("malformed event_id '{}'", id_text)));
  Event event;
  event.id = *id;
  event.topic = stmt.ColumnText(first + 1);
  event.key = stmt.ColumnText(first + 2);
  event.type = stmt.ColumnText(first + 3);
  event.payload = stmt.ColumnBlob(first + 4);
  event.content_type = stmt.ColumnText(first + 5);
  Result<Headers> headers = DecodeHeaders(stmt.ColumnText(first + 6));
  if (!headers) {
    return std::unexpected(headers.error().WithContext(fmt::format("event {}", id_text)));
  }
  event.headers = std::move(*headers);
  event.created_at = FromUnixMillis(stmt.ColumnInt(first + 7));
  return event;
}

}  // namespace herald::sqlite_internal
