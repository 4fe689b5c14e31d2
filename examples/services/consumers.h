// The two consumers of TransactionCreated, each with its own database (a
// SQLite file, or a schema of its own on PostgreSQL) and Herald's inbox, so
// that each event's effect is applied exactly once however often the bus
// delivers it:
//   Budgets   - spending per account and category, against budget limits;
//   Analytics - daily totals and per-category counts.
//
// Thread-compatible: one thread at a time per service; inbox_stats() from any.
#ifndef HERALD_EXAMPLES_SERVICES_CONSUMERS_H_
#define HERALD_EXAMPLES_SERVICES_CONSUMERS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "herald/event.h"
#include "herald/inbox.h"
#include "herald/status.h"
#include "services/database.h"
#include "services/transaction_event.h"

namespace herald::examples {

// A service that consumes TransactionCreated events through the inbox of its
// own database.
class EventConsumer {
 public:
  virtual ~EventConsumer() = default;
  virtual std::string_view name() const = 0;
  // Applies the event through the inbox: kDuplicate when already applied.
  // On error nothing was applied; the delivery may be retried.
  Result<InboxOutcome> Handle(const EventId& id, std::string_view payload);
  InboxStats inbox_stats() const { return inbox_->stats(); }
  // Events whose effect is in the database (from the database itself).
  virtual Result<std::int64_t> Applied() = 0;

 protected:
  // Creates the service's tables (`schema`) and its inbox in `db`.
  Status Init(std::unique_ptr<Database> db, const char* schema);
  // The event's effect, inside the inbox's transaction.
  virtual Status Apply(const TransactionCreated& tx) = 0;

  std::unique_ptr<Database> db_;

 private:
  std::unique_ptr<ServiceInbox> inbox_;
};

class BudgetsService final : public EventConsumer {
 public:
  static Result<std::unique_ptr<BudgetsService>> Open(std::unique_ptr<Database> db);
  // The same on the SQLite file `path` (created if missing).
  static Result<std::unique_ptr<BudgetsService>> Open(const std::string& path);

  std::string_view name() const override { return "budgets"; }
  Result<std::int64_t> Applied() override;

  // Sets the monthly limit of `account` in `category`.
  Status SetLimit(const std::string& account, const std::string& category, std::int64_t cents);

  struct Overspend {
    std::string account, category;
    std::int64_t spent_cents = 0, limit_cents = 0;
  };
  Result<std::vector<Overspend>> OverBudget();
  // Spending per account, all categories.
  Result<std::map<std::string, std::int64_t>> SpentByAccount();
  // Events applied after a later event of the same account had been
  // (per-account order broken), summed over accounts.
  Result<std::int64_t> OrderViolations();

 private:
  BudgetsService() = default;
  Status Apply(const TransactionCreated& tx) override;
};

class AnalyticsService final : public EventConsumer {
 public:
  static Result<std::unique_ptr<AnalyticsService>> Open(std::unique_ptr<Database> db);
  // The same on the SQLite file `path` (created if missing).
  static Result<std::unique_ptr<AnalyticsService>> Open(const std::string& path);

  std::string_view name() const override { return "analytics"; }
  Result<std::int64_t> Applied() override;

  struct Day {
    std::int64_t transactions = 0, total_cents = 0;
  };
  Result<std::map<std::string, Day>> DailyTotals();
  Result<std::map<std::string, std::int64_t>> CategoryCounts();

 private:
  AnalyticsService() = default;
  Status Apply(const TransactionCreated& tx) override;
};

}  // namespace herald::examples

#endif  // HERALD_EXAMPLES_SERVICES_CONSUMERS_H_
