#include "services/transactions.h"

#include "herald/sqlite.h"

namespace herald::examples {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS transactions (
  id           TEXT    PRIMARY KEY,
  account      TEXT    NOT NULL,
  account_seq  INTEGER NOT NULL,
  amount_cents INTEGER NOT NULL,
  category     TEXT    NOT NULL,
  day          TEXT    NOT NULL,
  UNIQUE (account, account_seq)
);
)sql";

Status Validate(const CreateTransaction& c) {
  if (c.account.empty() || c.category.empty()) {
    return InvalidArgument("a transaction needs an account and a category");
  }
  if (c.amount_cents <= 0) return InvalidArgument("a transaction's amount must be positive");
  return OkStatus();
}

}  // namespace

Result<std::unique_ptr<TransactionsService>> TransactionsService::Open(const std::string& path) {
  Result<Db> db = OpenDb(path);
  if (!db) return std::unexpected(db.error());
  if (Status s = Exec(db->get(), kSchema); !s.ok()) return std::unexpected(s);
  if (Status s = herald::sqlite::Migrate(db->get()); !s.ok()) return std::unexpected(s);
  return std::unique_ptr<TransactionsService>(new TransactionsService(std::move(*db), path));
}

Result<Committed> TransactionsService::Create(const CreateTransaction& command) {
  return Save(command, /*with_event=*/true);
}

Result<Committed> TransactionsService::SaveWithoutEvent(const CreateTransaction& command) {
  return Save(command, /*with_event=*/false);
}

Result<Committed> TransactionsService::Save(const CreateTransaction& command, bool with_event) {
  if (Status s = Validate(command); !s.ok()) return std::unexpected(s);
  sqlite3* db = db_.get();
  Committed out;
  Status s = InTransaction(db, [&]() -> Status {
    Result<Stmt> next =
        Prepare(db, "SELECT coalesce(max(account_seq), 0) + 1 FROM transactions WHERE account = ?");
    if (!next) return next.error();
    sqlite3_bind_text(next->get(), 1, command.account.c_str(), -1, SQLITE_TRANSIENT);
    std::int64_t seq = 0;
    if (Status st =
            ForEachRow(db, next->get(), [&](sqlite3_stmt* r) { seq = sqlite3_column_int64(r, 0); });
        !st.ok()) {
      return st;
    }
    EventId id = EventId::Generate();
    out.transaction = {id.ToString(),        command.account,  seq,
                       command.amount_cents, command.category, UtcDay(id.timestamp())};
    out.event = MakeTransactionCreatedEvent(id, out.transaction);

    Result<Stmt> insert = Prepare(db, "INSERT INTO transactions VALUES (?, ?, ?, ?, ?, ?)");
    if (!insert) return insert.error();
    const TransactionCreated& t = out.transaction;
    sqlite3_bind_text(insert->get(), 1, t.transaction_id.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(insert->get(), 2, t.account.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(insert->get(), 3, t.account_seq);
    sqlite3_bind_int64(insert->get(), 4, t.amount_cents);
    sqlite3_bind_text(insert->get(), 5, t.category.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(insert->get(), 6, t.day.c_str(), -1, SQLITE_TRANSIENT);
    if (Status st = ForEachRow(db, insert->get(), nullptr); !st.ok()) return st;
    return with_event ? herald::sqlite::Enqueue(db, out.event) : OkStatus();
  });
  if (!s.ok()) return std::unexpected(s);
  return out;
}

Result<std::map<std::string, std::int64_t>> TransactionsService::TotalsByAccount() {
  Result<Stmt> q =
      Prepare(db_.get(), "SELECT account, sum(amount_cents) FROM transactions GROUP BY account");
  if (!q) return std::unexpected(q.error());
  std::map<std::string, std::int64_t> totals;
  Status s = ForEachRow(db_.get(), q->get(), [&](sqlite3_stmt* r) {
    totals[reinterpret_cast<const char*>(sqlite3_column_text(r, 0))] = sqlite3_column_int64(r, 1);
  });
  if (!s.ok()) return std::unexpected(s);
  return totals;
}

Result<std::int64_t> TransactionsService::Count() {
  Result<Stmt> q = Prepare(db_.get(), "SELECT count(*) FROM transactions");
  if (!q) return std::unexpected(q.error());
  std::int64_t n = 0;
  Status s =
      ForEachRow(db_.get(), q->get(), [&](sqlite3_stmt* r) { n = sqlite3_column_int64(r, 0); });
  if (!s.ok()) return std::unexpected(s);
  return n;
}

}  // namespace herald::examples
