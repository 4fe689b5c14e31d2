// A service's own database, on SQLite or PostgreSQL: the few operations the
// example services need, so that each service's logic is written once.
//
//  - SQL takes `?` placeholders, bound in order to text or integer values,
//    and keeps to what both databases speak (ON CONFLICT upserts with the
//    target table named in SET, CASE, coalesce, BIGINT columns).
//  - Herald's outbox (Transactions) and inbox (Budgets, Analytics) live in
//    the same database as the service's tables, so that a row and its event,
//    or an effect and its inbox record, commit together.
//
// Thread-compatible: one thread at a time per Database (it is one
// connection), and per Inbox (it uses its Database's connection).
#ifndef HERALD_EXAMPLES_SERVICES_DATABASE_H_
#define HERALD_EXAMPLES_SERVICES_DATABASE_H_

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "herald/event.h"
#include "herald/inbox.h"
#include "herald/status.h"

namespace herald::examples {

// A value bound to a `?` placeholder. Holds a view: the text must outlive
// the call it is passed to (a temporary in the call's argument list does).
struct SqlValue {
  SqlValue(const std::string& t) : text(t), is_text(true) {}  // NOLINT: implicit by design
  SqlValue(std::int64_t n) : number(n) {}                     // NOLINT
  std::string_view text;
  std::int64_t number = 0;
  bool is_text = false;
};

// One row of a result, valid during the callback that receives it.
class SqlRow {
 public:
  virtual std::string Text(int column) const = 0;
  virtual std::int64_t Int(int column) const = 0;

 protected:
  ~SqlRow() = default;
};

using RowCallback = std::function<void(const SqlRow&)>;

// Herald's inbox of one consumer in a Database (herald::sqlite::Inbox or
// herald::postgres::Inbox).
class ServiceInbox {
 public:
  virtual ~ServiceInbox() = default;
  // As Inbox::Process: records the event and runs `apply` in one
  // transaction of the Database this inbox was opened on (apply uses that
  // Database, and must not begin or end a transaction); kDuplicate, without
  // running `apply`, when the event was recorded before.
  virtual Result<InboxOutcome> Process(const EventId& id, const std::function<Status()>& apply) = 0;
  virtual InboxStats stats() const = 0;
};

class Database {
 public:
  virtual ~Database() = default;

  // Runs `sql`, one or more statements without parameters (schema scripts).
  virtual Status Script(const std::string& sql) = 0;

  // Runs one statement with `params` bound to its `?` in order, calling
  // `row` (if any) for every result row. Aborted when the database was busy
  // or the transaction lost a conflict (retry), Unavailable when the
  // connection is lost, Internal otherwise, each with the database's message.
  virtual Status Query(const std::string& sql, std::initializer_list<SqlValue> params,
                       const RowCallback& row = nullptr) = 0;

  // The first column of the last row of `sql` as an integer (0 if no row).
  Result<std::int64_t> QueryInt(const std::string& sql, std::initializer_list<SqlValue> params = {});

  // Runs `body` in one transaction: committed when it returns OK, rolled
  // back (and its error returned) otherwise. REQUIRES: none open.
  virtual Status InTransaction(const std::function<Status()>& body) = 0;

  // Creates or upgrades Herald's outbox in this database. Idempotent.
  virtual Status MigrateOutbox() = 0;
  // Inserts `event` into the outbox. REQUIRES: inside InTransaction, so that
  // it commits or rolls back with the rest of the transaction.
  virtual Status Enqueue(const Event& event) = 0;
  // The store URL that `herald relay --db` takes for this outbox.
  virtual std::string OutboxUrl() const = 0;

  // The inbox of `consumer` in this database, its table created if missing.
  // The inbox uses this Database's connection: it must not outlive it.
  virtual Result<std::unique_ptr<ServiceInbox>> OpenInbox(const std::string& consumer) = 0;
};

// Opens (creating) the SQLite database file `path`, in WAL mode.
Result<std::unique_ptr<Database>> OpenSqliteDatabase(const std::string& path);

// Where a service keeps its data on PostgreSQL.
struct PostgresLocation {
  // libpq's connection URL (postgres://...), without Herald's parameters.
  std::string url;
  // The schema of the service's own tables and of its inbox: created if
  // missing and first on the connection's search_path.
  std::string schema;
  // The schema of Herald's outbox (MigrateOutbox, Enqueue, OutboxUrl).
  std::string outbox_schema = "herald";
};

// True when this build has PostgreSQL support.
bool HavePostgres();

// Connects to `location.url` and creates `location.schema`. Unavailable when
// the server cannot be reached; FailedPrecondition without PostgreSQL
// support (see HavePostgres).
Result<std::unique_ptr<Database>> OpenPostgresDatabase(const PostgresLocation& location);

// Drops `schemas` (and everything in them) if they exist, in one transaction.
Status DropPostgresSchemas(const std::string& url, const std::vector<std::string>& schemas);

}  // namespace herald::examples

#endif  // HERALD_EXAMPLES_SERVICES_DATABASE_H_
