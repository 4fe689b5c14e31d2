// The Database of the example services on a SQLite file.
#include <utility>

#include "herald/inbox.h"
#include "herald/sqlite.h"
#include "services/database.h"
#include "services/sqlite_util.h"

namespace herald::examples {
namespace {

class SqliteRow final : public SqlRow {
 public:
  explicit SqliteRow(sqlite3_stmt* stmt) : stmt_(stmt) {}
  std::string Text(int column) const override {
    const unsigned char* t = sqlite3_column_text(stmt_, column);
    return t != nullptr ? reinterpret_cast<const char*>(t) : "";
  }
  std::int64_t Int(int column) const override { return sqlite3_column_int64(stmt_, column); }

 private:
  sqlite3_stmt* stmt_;
};

class SqliteInbox final : public ServiceInbox {
 public:
  SqliteInbox(sqlite3* db, const std::string& consumer) : inbox_(db, consumer) {}
  Result<InboxOutcome> Process(const EventId& id, const std::function<Status()>& apply) override {
    return inbox_.Process(id, [&](sqlite3*) { return apply(); });
  }
  InboxStats stats() const override { return inbox_.stats(); }

 private:
  herald::sqlite::Inbox inbox_;
};

class SqliteDatabase final : public Database {
 public:
  SqliteDatabase(Db db, std::string path) : db_(std::move(db)), path_(std::move(path)) {}

  Status Script(const std::string& sql) override { return Exec(db_.get(), sql); }

  Status Query(const std::string& sql, std::initializer_list<SqlValue> params,
               const RowCallback& row) override {
    Result<Stmt> stmt = Prepare(db_.get(), sql);
    if (!stmt) return stmt.error();
    int i = 1;
    for (const SqlValue& p : params) {
      if (p.is_text) {
        sqlite3_bind_text(stmt->get(), i++, p.text.data(), static_cast<int>(p.text.size()),
                          SQLITE_TRANSIENT);
      } else {
        sqlite3_bind_int64(stmt->get(), i++, p.number);
      }
    }
    return ForEachRow(db_.get(), stmt->get(), [&](sqlite3_stmt* s) {
      if (row) row(SqliteRow(s));
    });
  }

  Status InTransaction(const std::function<Status()>& body) override {
    return examples::InTransaction(db_.get(), body);
  }

  Status MigrateOutbox() override { return herald::sqlite::Migrate(db_.get()); }
  Status Enqueue(const Event& event) override { return herald::sqlite::Enqueue(db_.get(), event); }
  std::string OutboxUrl() const override { return "sqlite:" + path_; }

  Result<std::unique_ptr<ServiceInbox>> OpenInbox(const std::string& consumer) override {
    if (Status s = herald::sqlite::Inbox::CreateTables(db_.get()); !s.ok()) {
      return std::unexpected(s);
    }
    return std::unique_ptr<ServiceInbox>(new SqliteInbox(db_.get(), consumer));
  }

 private:
  Db db_;
  std::string path_;
};

}  // namespace

Result<std::unique_ptr<Database>> OpenSqliteDatabase(const std::string& path) {
  Result<Db> db = OpenDb(path);
  if (!db) return std::unexpected(db.error());
  return std::unique_ptr<Database>(new SqliteDatabase(std::move(*db), path));
}

}  // namespace herald::examples
