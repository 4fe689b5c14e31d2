#include "services/consumers.h"

#include <initializer_list>
#include <utility>

namespace herald::examples {
namespace {

// Runs one statement with text/integer parameters bound in order.
struct Param {
  Param(const std::string& t) : text(t), is_text(true) {}  // NOLINT
  Param(std::int64_t n) : number(n) {}                     // NOLINT
  std::string_view text;
  std::int64_t number = 0;
  bool is_text = false;
};

Status Run(sqlite3* db, const std::string& sql, std::initializer_list<Param> params) {
  Result<Stmt> stmt = Prepare(db, sql);
  if (!stmt) return stmt.error();
  int i = 1;
  for (const Param& p : params) {
    if (p.is_text) {
      sqlite3_bind_text(stmt->get(), i++, p.text.data(), static_cast<int>(p.text.size()),
                        SQLITE_TRANSIENT);
    } else {
      sqlite3_bind_int64(stmt->get(), i++, p.number);
    }
  }
  return ForEachRow(db, stmt->get(), nullptr);
}

Result<std::int64_t> QueryInt(sqlite3* db, const std::string& sql) {
  Result<Stmt> q = Prepare(db, sql);
  if (!q) return std::unexpected(q.error());
  std::int64_t n = 0;
  Status s = ForEachRow(db, q->get(), [&](sqlite3_stmt* r) { n = sqlite3_column_int64(r, 0); });
  if (!s.ok()) return std::unexpected(s);
  return n;
}

std::string Text(sqlite3_stmt* r, int col) {
  const unsigned char* t = sqlite3_column_text(r, col);
  return t != nullptr ? reinterpret_cast<const char*>(t) : "";
}

template <typename Service>
Result<std::unique_ptr<Service>> OpenService(const std::string& path, const char* schema,
                                             Service* (*make)(Db)) {
  Result<Db> db = OpenDb(path);
  if (!db) return std::unexpected(db.error());
  if (Status s = Exec(db->get(), schema); !s.ok()) return std::unexpected(s);
  if (Status s = herald::sqlite::Inbox::CreateTables(db->get()); !s.ok()) {
    return std::unexpected(s);
  }
  return std::unique_ptr<Service>(make(std::move(*db)));
}

constexpr const char* kBudgetsSchema = R"sql(
CREATE TABLE IF NOT EXISTS spending (
  account TEXT NOT NULL, category TEXT NOT NULL, cents INTEGER NOT NULL,
  PRIMARY KEY (account, category));
CREATE TABLE IF NOT EXISTS limits (
  account TEXT NOT NULL, category TEXT NOT NULL, cents INTEGER NOT NULL,
  PRIMARY KEY (account, category));
CREATE TABLE IF NOT EXISTS accounts (
  account TEXT PRIMARY KEY, events INTEGER NOT NULL, last_seq INTEGER NOT NULL,
  out_of_order INTEGER NOT NULL);
)sql";

constexpr const char* kAnalyticsSchema = R"sql(
CREATE TABLE IF NOT EXISTS daily (
  day TEXT PRIMARY KEY, transactions INTEGER NOT NULL, total_cents INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS categories (
  category TEXT PRIMARY KEY, transactions INTEGER NOT NULL);
)sql";

}  // namespace

// ---- Budgets ----------------------------------------------------------------

Result<std::unique_ptr<BudgetsService>> BudgetsService::Open(const std::string& path) {
  return OpenService<BudgetsService>(path, kBudgetsSchema,
                                     [](Db db) { return new BudgetsService(std::move(db)); });
}

Result<InboxOutcome> BudgetsService::Handle(const EventId& id, std::string_view payload) {
  Result<TransactionCreated> tx = ParseTransactionCreated(payload);
  if (!tx) return std::unexpected(tx.error());
  return inbox_.Process(id, [&](sqlite3* db) { return Apply(db, *tx); });
}

Status BudgetsService::Apply(sqlite3* db, const TransactionCreated& tx) {
  if (Status s = Run(db,
                     "INSERT INTO spending VALUES (?, ?, ?) ON CONFLICT (account, category) "
                     "DO UPDATE SET cents = cents + excluded.cents",
                     {tx.account, tx.category, tx.amount_cents});
      !s.ok()) {
    return s;
  }
  // Every assignment reads the old row: an event older than the newest one
  // applied for its account breaks per-account order.
  return Run(db,
             "INSERT INTO accounts VALUES (?, 1, ?, 0) ON CONFLICT (account) DO UPDATE SET "
             "events = events + 1, out_of_order = out_of_order + (excluded.last_seq < last_seq), "
             "last_seq = max(last_seq, excluded.last_seq)",
             {tx.account, tx.account_seq});
}

Status BudgetsService::SetLimit(const std::string& account, const std::string& category,
                                std::int64_t cents) {
  return Run(db_.get(),
             "INSERT INTO limits VALUES (?, ?, ?) ON CONFLICT (account, category) "
             "DO UPDATE SET cents = excluded.cents",
             {account, category, cents});
}

Result<std::int64_t> BudgetsService::Applied() {
  return QueryInt(db_.get(), "SELECT coalesce(sum(events), 0) FROM accounts");
}

Result<std::int64_t> BudgetsService::OrderViolations() {
  return QueryInt(db_.get(), "SELECT coalesce(sum(out_of_order), 0) FROM accounts");
}

Result<std::vector<BudgetsService::Overspend>> BudgetsService::OverBudget() {
  Result<Stmt> q = Prepare(db_.get(),
                           "SELECT s.account, s.category, s.cents, l.cents FROM spending s JOIN "
                           "limits l USING (account, category) WHERE s.cents > l.cents "
                           "ORDER BY s.account, s.category");
  if (!q) return std::unexpected(q.error());
  std::vector<Overspend> out;
  Status s = ForEachRow(db_.get(), q->get(), [&](sqlite3_stmt* r) {
    out.push_back({Text(r, 0), Text(r, 1), sqlite3_column_int64(r, 2), sqlite3_column_int64(r, 3)});
  });
  if (!s.ok()) return std::unexpected(s);
  return out;
}

Result<std::map<std::string, std::int64_t>> BudgetsService::SpentByAccount() {
  Result<Stmt> q = Prepare(db_.get(), "SELECT account, sum(cents) FROM spending GROUP BY account");
  if (!q) return std::unexpected(q.error());
  std::map<std::string, std::int64_t> out;
  Status s = ForEachRow(db_.get(), q->get(),
                        [&](sqlite3_stmt* r) { out[Text(r, 0)] = sqlite3_column_int64(r, 1); });
  if (!s.ok()) return std::unexpected(s);
  return out;
}

// ---- Analytics --------------------------------------------------------------

Result<std::unique_ptr<AnalyticsService>> AnalyticsService::Open(const std::string& path) {
  return OpenService<AnalyticsService>(path, kAnalyticsSchema,
                                       [](Db db) { return new AnalyticsService(std::move(db)); });
}

Result<InboxOutcome> AnalyticsService::Handle(const EventId& id, std::string_view payload) {
  Result<TransactionCreated> tx = ParseTransactionCreated(payload);
  if (!tx) return std::unexpected(tx.error());
  return inbox_.Process(id, [&](sqlite3* db) -> Status {
    if (Status s = Run(db,
                       "INSERT INTO daily VALUES (?, 1, ?) ON CONFLICT (day) DO UPDATE SET "
                       "transactions = transactions + 1, total_cents = total_cents + "
                       "excluded.total_cents",
                       {tx->day, tx->amount_cents});
        !s.ok()) {
      return s;
    }
    return Run(db,
               "INSERT INTO categories VALUES (?, 1) ON CONFLICT (category) DO UPDATE SET "
               "transactions = transactions + 1",
               {tx->category});
  });
}

Result<std::int64_t> AnalyticsService::Applied() {
  return QueryInt(db_.get(), "SELECT coalesce(sum(transactions), 0) FROM daily");
}

Result<std::map<std::string, AnalyticsService::Day>> AnalyticsService::DailyTotals() {
  Result<Stmt> q = Prepare(db_.get(), "SELECT day, transactions, total_cents FROM daily");
  if (!q) return std::unexpected(q.error());
  std::map<std::string, Day> out;
  Status s = ForEachRow(db_.get(), q->get(), [&](sqlite3_stmt* r) {
    out[Text(r, 0)] = {sqlite3_column_int64(r, 1), sqlite3_column_int64(r, 2)};
  });
  if (!s.ok()) return std::unexpected(s);
  return out;
}

Result<std::map<std::string, std::int64_t>> AnalyticsService::CategoryCounts() {
  Result<Stmt> q = Prepare(db_.get(), "SELECT category, transactions FROM categories");
  if (!q) return std::unexpected(q.error());
  std::map<std::string, std::int64_t> out;
  Status s = ForEachRow(db_.get(), q->get(),
                        [&](sqlite3_stmt* r) { out[Text(r, 0)] = sqlite3_column_int64(r, 1); });
  if (!s.ok()) return std::unexpected(s);
  return out;
}

}  // namespace herald::examples
