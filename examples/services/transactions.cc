#include "services/transactions.h"

#include <utility>

namespace herald::examples {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS transactions (
  id           TEXT   PRIMARY KEY,
  account      TEXT   NOT NULL,
  account_seq  BIGINT NOT NULL,
  amount_cents BIGINT NOT NULL,
  category     TEXT   NOT NULL,
  day          TEXT   NOT NULL,
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

Result<std::unique_ptr<TransactionsService>> TransactionsService::Open(
    std::unique_ptr<Database> db, std::string topic) {
  if (Status s = db->Script(kSchema); !s.ok()) return std::unexpected(s);
  if (Status s = db->MigrateOutbox(); !s.ok()) return std::unexpected(s);
  return std::unique_ptr<TransactionsService>(
      new TransactionsService(std::move(db), std::move(topic)));
}

Result<std::unique_ptr<TransactionsService>> TransactionsService::Open(const std::string& path) {
  Result<std::unique_ptr<Database>> db = OpenSqliteDatabase(path);
  if (!db) return std::unexpected(db.error());
  return Open(std::move(*db));
}

Result<Committed> TransactionsService::Create(const CreateTransaction& command) {
  return Save(command, /*with_event=*/true);
}

Result<Committed> TransactionsService::SaveWithoutEvent(const CreateTransaction& command) {
  return Save(command, /*with_event=*/false);
}

Result<Committed> TransactionsService::Save(const CreateTransaction& command, bool with_event) {
  if (Status s = Validate(command); !s.ok()) return std::unexpected(s);
  Committed out;
  Status s = db_->InTransaction([&]() -> Status {
    Result<std::int64_t> seq = db_->QueryInt(
        "SELECT coalesce(max(account_seq), 0) + 1 FROM transactions WHERE account = ?",
        {command.account});
    if (!seq) return seq.error();
    EventId id = EventId::Generate();
    out.transaction = {id.ToString(),        command.account,  *seq,
                       command.amount_cents, command.category, UtcDay(id.timestamp())};
    out.event = MakeTransactionCreatedEvent(id, out.transaction, topic_);
    const TransactionCreated& t = out.transaction;
    if (Status st = db_->Query("INSERT INTO transactions VALUES (?, ?, ?, ?, ?, ?)",
                               {t.transaction_id, t.account, t.account_seq, t.amount_cents,
                                t.category, t.day});
        !st.ok()) {
      return st;
    }
    return with_event ? db_->Enqueue(out.event) : OkStatus();
  });
  if (!s.ok()) return std::unexpected(s);
  return out;
}

Result<std::map<std::string, std::int64_t>> TransactionsService::TotalsByAccount() {
  std::map<std::string, std::int64_t> totals;
  Status s = db_->Query("SELECT account, sum(amount_cents) FROM transactions GROUP BY account", {},
                        [&](const SqlRow& r) { totals[r.Text(0)] = r.Int(1); });
  if (!s.ok()) return std::unexpected(s);
  return totals;
}

Result<std::int64_t> TransactionsService::Count() {
  return db_->QueryInt("SELECT count(*) FROM transactions");
}

}  // namespace herald::examples
