#include "services/consumers.h"

#include <utility>

namespace herald::examples {
namespace {

// Opens `Service` on the SQLite file `path`.
template <typename Service>
Result<std::unique_ptr<Service>> OpenSqlite(const std::string& path) {
  Result<std::unique_ptr<Database>> db = OpenSqliteDatabase(path);
  if (!db) return std::unexpected(db.error());
  return Service::Open(std::move(*db));
}

constexpr const char* kBudgetsSchema = R"sql(
CREATE TABLE IF NOT EXISTS spending (
  account TEXT NOT NULL, category TEXT NOT NULL, cents BIGINT NOT NULL,
  PRIMARY KEY (account, category));
CREATE TABLE IF NOT EXISTS limits (
  account TEXT NOT NULL, category TEXT NOT NULL, cents BIGINT NOT NULL,
  PRIMARY KEY (account, category));
CREATE TABLE IF NOT EXISTS accounts (
  account TEXT PRIMARY KEY, events BIGINT NOT NULL, last_seq BIGINT NOT NULL,
  out_of_order BIGINT NOT NULL);
)sql";

constexpr const char* kAnalyticsSchema = R"sql(
CREATE TABLE IF NOT EXISTS daily (
  day TEXT PRIMARY KEY, transactions BIGINT NOT NULL, total_cents BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS categories (
  category TEXT PRIMARY KEY, transactions BIGINT NOT NULL);
)sql";

}  // namespace

// ---- any consumer -------------------------------------------------------------

Status EventConsumer::Init(std::unique_ptr<Database> db, const char* schema) {
  db_ = std::move(db);
  if (Status s = db_->Script(schema); !s.ok()) return s;
  Result<std::unique_ptr<ServiceInbox>> inbox = db_->OpenInbox(std::string(name()));
  if (!inbox) return inbox.error();
  inbox_ = std::move(*inbox);
  return OkStatus();
}

Result<InboxOutcome> EventConsumer::Handle(const EventId& id, std::string_view payload) {
  Result<TransactionCreated> tx = ParseTransactionCreated(payload);
  if (!tx) return std::unexpected(tx.error());
  return inbox_->Process(id, [&] { return Apply(*tx); });
}

// ---- Budgets ----------------------------------------------------------------

Result<std::unique_ptr<BudgetsService>> BudgetsService::Open(std::unique_ptr<Database> db) {
  std::unique_ptr<BudgetsService> service(new BudgetsService);
  if (Status s = service->Init(std::move(db), kBudgetsSchema); !s.ok()) return std::unexpected(s);
  return service;
}

Result<std::unique_ptr<BudgetsService>> BudgetsService::Open(const std::string& path) {
  return OpenSqlite<BudgetsService>(path);
}

Status BudgetsService::Apply(const TransactionCreated& tx) {
  if (Status s = db_->Query("INSERT INTO spending VALUES (?, ?, ?) ON CONFLICT (account, category) "
                            "DO UPDATE SET cents = spending.cents + excluded.cents",
                            {tx.account, tx.category, tx.amount_cents});
      !s.ok()) {
    return s;
  }
  // Every assignment reads the old row: an event older than the newest one
  // applied for its account breaks per-account order.
  return db_->Query(
      "INSERT INTO accounts VALUES (?, 1, ?, 0) ON CONFLICT (account) DO UPDATE SET "
      "events = accounts.events + 1, "
      "out_of_order = accounts.out_of_order + "
      "CASE WHEN excluded.last_seq < accounts.last_seq THEN 1 ELSE 0 END, "
      "last_seq = CASE WHEN excluded.last_seq > accounts.last_seq THEN excluded.last_seq "
      "ELSE accounts.last_seq END",
      {tx.account, tx.account_seq});
}

Status BudgetsService::SetLimit(const std::string& account, const std::string& category,
                                std::int64_t cents) {
  return db_->Query(
      "INSERT INTO limits VALUES (?, ?, ?) ON CONFLICT (account, category) "
      "DO UPDATE SET cents = excluded.cents",
      {account, category, cents});
}

Result<std::int64_t> BudgetsService::Applied() {
  return db_->QueryInt("SELECT coalesce(sum(events), 0) FROM accounts");
}

Result<std::int64_t> BudgetsService::OrderViolations() {
  return db_->QueryInt("SELECT coalesce(sum(out_of_order), 0) FROM accounts");
}

Result<std::vector<BudgetsService::Overspend>> BudgetsService::OverBudget() {
  std::vector<Overspend> out;
  Status s = db_->Query(
      "SELECT s.account, s.category, s.cents, l.cents FROM spending s JOIN limits l "
      "USING (account, category) WHERE s.cents > l.cents ORDER BY s.account, s.category",
      {}, [&](const SqlRow& r) { out.push_back({r.Text(0), r.Text(1), r.Int(2), r.Int(3)}); });
  if (!s.ok()) return std::unexpected(s);
  return out;
}

Result<std::map<std::string, std::int64_t>> BudgetsService::SpentByAccount() {
  std::map<std::string, std::int64_t> out;
  Status s = db_->Query("SELECT account, sum(cents) FROM spending GROUP BY account", {},
                        [&](const SqlRow& r) { out[r.Text(0)] = r.Int(1); });
  if (!s.ok()) return std::unexpected(s);
  return out;
}

// ---- Analytics --------------------------------------------------------------

Result<std::unique_ptr<AnalyticsService>> AnalyticsService::Open(std::unique_ptr<Database> db) {
  std::unique_ptr<AnalyticsService> service(new AnalyticsService);
  if (Status s = service->Init(std::move(db), kAnalyticsSchema); !s.ok()) return std::unexpected(s);
  return service;
}

Result<std::unique_ptr<AnalyticsService>> AnalyticsService::Open(const std::string& path) {
  return OpenSqlite<AnalyticsService>(path);
}

Status AnalyticsService::Apply(const TransactionCreated& tx) {
  if (Status s = db_->Query(
          "INSERT INTO daily VALUES (?, 1, ?) ON CONFLICT (day) DO UPDATE SET "
          "transactions = daily.transactions + 1, "
          "total_cents = daily.total_cents + excluded.total_cents",
          {tx.day, tx.amount_cents});
      !s.ok()) {
    return s;
  }
  return db_->Query(
      "INSERT INTO categories VALUES (?, 1) ON CONFLICT (category) DO UPDATE SET "
      "transactions = categories.transactions + 1",
      {tx.category});
}

Result<std::int64_t> AnalyticsService::Applied() {
  return db_->QueryInt("SELECT coalesce(sum(transactions), 0) FROM daily");
}

Result<std::map<std::string, AnalyticsService::Day>> AnalyticsService::DailyTotals() {
  std::map<std::string, Day> out;
  Status s = db_->Query("SELECT day, transactions, total_cents FROM daily", {},
                        [&](const SqlRow& r) { out[r.Text(0)] = {r.Int(1), r.Int(2)}; });
  if (!s.ok()) return std::unexpected(s);
  return out;
}

Result<std::map<std::string, std::int64_t>> AnalyticsService::CategoryCounts() {
  std::map<std::string, std::int64_t> out;
  Status s = db_->Query("SELECT category, transactions FROM categories", {},
                        [&](const SqlRow& r) { out[r.Text(0)] = r.Int(1); });
  if (!s.ok()) return std::unexpected(s);
  return out;
}

}  // namespace herald::examples
