// The Database of the example services on PostgreSQL: one libpq connection,
// the service's tables in a schema of their own.
#include <libpq-fe.h>

#include <cstdlib>
#include <memory>
#include <utility>

#include "herald/inbox.h"
#include "herald/postgres.h"
#include "services/database.h"

namespace herald::examples {
namespace {

struct ResultCloser {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, ResultCloser>;

struct ConnCloser {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using PgConn = std::unique_ptr<PGconn, ConnCloser>;

// The error of a failed statement: Aborted for serialization failures and
// deadlocks, Unavailable for a lost connection, Internal otherwise.
Status PgError(PGconn* conn, const PGresult* res, std::string_view what) {
  std::string message = std::string(what) + ": " + PQerrorMessage(conn);
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  const char* state = res != nullptr ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  std::string_view code = state != nullptr ? state : "";
  if (code == "40001" || code == "40P01") return Aborted(message);
  if (PQstatus(conn) == CONNECTION_BAD) return Unavailable(message);
  return Internal(message);
}

bool Succeeded(const PGresult* res) {
  ExecStatusType st = PQresultStatus(res);
  return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

// "a = ? AND b = ?" -> "a = $1 AND b = $2". The example services' SQL has
// no '?' inside literals.
std::string Numbered(const std::string& sql) {
  std::string out;
  int n = 0;
  for (char c : sql) {
    if (c == '?') {
      out += '$' + std::to_string(++n);
    } else {
      out += c;
    }
  }
  return out;
}

// A schema name, quoted as an SQL identifier.
std::string Ident(PGconn* conn, const std::string& name) {
  char* quoted = PQescapeIdentifier(conn, name.data(), name.size());
  if (quoted == nullptr) return "\"\"";
  std::string out = quoted;
  PQfreemem(quoted);
  return out;
}

Status Exec(PGconn* conn, const std::string& sql) {
  PgResult res(PQexec(conn, sql.c_str()));
  if (!Succeeded(res.get())) return PgError(conn, res.get(), sql.substr(0, 60));
  return OkStatus();
}

Result<PgConn> Connect(const std::string& url) {
  PgConn conn(PQconnectdb(url.c_str()));
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    std::string message = PQerrorMessage(conn.get());
    while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) {
      message.pop_back();
    }
    return std::unexpected(Unavailable("cannot connect to PostgreSQL: " + message));
  }
  if (Status s = Exec(conn.get(), "SET client_min_messages = warning"); !s.ok()) {
    return std::unexpected(s);
  }
  return conn;
}

class PgRow final : public SqlRow {
 public:
  PgRow(const PGresult* res, int row) : res_(res), row_(row) {}
  std::string Text(int column) const override { return PQgetvalue(res_, row_, column); }
  std::int64_t Int(int column) const override {
    return std::strtoll(PQgetvalue(res_, row_, column), nullptr, 10);
  }

 private:
  const PGresult* res_;
  int row_;
};

class PostgresInbox final : public ServiceInbox {
 public:
  PostgresInbox(PGconn* conn, const std::string& consumer, const std::string& schema)
      : inbox_(conn, consumer, Options(schema)) {}
  Result<InboxOutcome> Process(const EventId& id, const std::function<Status()>& apply) override {
    return inbox_.Process(id, [&](PGconn*) { return apply(); });
  }
  InboxStats stats() const override { return inbox_.stats(); }

 private:
  static herald::postgres::PostgresInboxOptions Options(const std::string& schema) {
    herald::postgres::PostgresInboxOptions o;
    o.schema = schema;
    return o;
  }
  herald::postgres::Inbox inbox_;
};

class PostgresDatabase final : public Database {
 public:
  PostgresDatabase(PgConn conn, PostgresLocation location)
      : conn_(std::move(conn)), location_(std::move(location)) {}

  Status Script(const std::string& sql) override { return Exec(conn_.get(), sql); }

  Status Query(const std::string& sql, std::initializer_list<SqlValue> params,
               const RowCallback& row) override {
    std::vector<std::string> texts;
    texts.reserve(params.size());
    for (const SqlValue& p : params) {
      texts.push_back(p.is_text ? std::string(p.text) : std::to_string(p.number));
    }
    std::vector<const char*> values;
    for (const std::string& t : texts) values.push_back(t.c_str());
    PgResult res(PQexecParams(conn_.get(), Numbered(sql).c_str(), static_cast<int>(values.size()),
                              nullptr, values.data(), nullptr, nullptr, 0));
    if (!Succeeded(res.get())) return PgError(conn_.get(), res.get(), sql.substr(0, 60));
    if (row) {
      for (int r = 0; r < PQntuples(res.get()); ++r) row(PgRow(res.get(), r));
    }
    return OkStatus();
  }

  Status InTransaction(const std::function<Status()>& body) override {
    if (Status s = Exec(conn_.get(), "BEGIN"); !s.ok()) return s;
    Status s = body();
    if (s.ok()) s = Exec(conn_.get(), "COMMIT");
    if (!s.ok() && PQtransactionStatus(conn_.get()) != PQTRANS_IDLE) {
      (void)Exec(conn_.get(), "ROLLBACK");
    }
    return s;
  }

  Status MigrateOutbox() override {
    herald::postgres::MigrateOptions o;
    o.schema = location_.outbox_schema;
    return herald::postgres::Migrate(conn_.get(), o);
  }
  Status Enqueue(const Event& event) override {
    herald::postgres::EnqueueOptions o;
    o.schema = location_.outbox_schema;
    return herald::postgres::Enqueue(conn_.get(), event, o);
  }
  std::string OutboxUrl() const override {
    const char* sep = location_.url.find('?') == std::string::npos ? "?" : "&";
    return location_.url + sep + "schema=" + location_.outbox_schema;
  }

  Result<std::unique_ptr<ServiceInbox>> OpenInbox(const std::string& consumer) override {
    if (Status s = herald::postgres::Inbox::CreateTables(conn_.get(), location_.schema); !s.ok()) {
      return std::unexpected(s);
    }
    return std::unique_ptr<ServiceInbox>(
        new PostgresInbox(conn_.get(), consumer, location_.schema));
  }

 private:
  PgConn conn_;
  PostgresLocation location_;
};

}  // namespace

bool HavePostgres() { return true; }

Result<std::unique_ptr<Database>> OpenPostgresDatabase(const PostgresLocation& location) {
  Result<PgConn> conn = Connect(location.url);
  if (!conn) return std::unexpected(conn.error());
  const std::string schema = Ident(conn->get(), location.schema);
  if (Status s = Exec(conn->get(), "CREATE SCHEMA IF NOT EXISTS " + schema + "; SET search_path TO " +
                                       schema + ", public");
      !s.ok()) {
    return std::unexpected(s);
  }
  return std::unique_ptr<Database>(new PostgresDatabase(std::move(*conn), location));
}

Status DropPostgresSchemas(const std::string& url, const std::vector<std::string>& schemas) {
  Result<PgConn> conn = Connect(url);
  if (!conn) return conn.error();
  std::string sql = "BEGIN;";
  for (const std::string& s : schemas) {
    sql += " DROP SCHEMA IF EXISTS " + Ident(conn->get(), s) + " CASCADE;";
  }
  return Exec(conn->get(), sql + " COMMIT");
}

}  // namespace herald::examples
