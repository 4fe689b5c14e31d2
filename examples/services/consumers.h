// The two consumers of TransactionCreated, each with its own SQLite database
// and Herald's inbox, so that each event's effect is applied exactly once
// however often the bus delivers it:
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
#include "services/sqlite_util.h"
#include "services/transaction_event.h"

namespace herald::examples {

// A service that consumes TransactionCreated events.
class EventConsumer {
 public:
  virtual ~EventConsumer() = default;
  virtual std::string_view name() const = 0;
  // Applies the event through the inbox: kDuplicate when already applied.
  // On error nothing was applied; the delivery may be retried.
  virtual Result<InboxOutcome> Handle(const EventId& id, std::string_view payload) = 0;
  virtual InboxStats inbox_stats() const = 0;
  // Events whose effect is in the database (from the database itself).
  virtual Result<std::int64_t> Applied() = 0;
};

class BudgetsService final : public EventConsumer {
 public:
  static Result<std::unique_ptr<BudgetsService>> Open(const std::string& path);

  std::string_view name() const override { return "budgets"; }
  Result<InboxOutcome> Handle(const EventId& id, std::string_view payload) override;
  InboxStats inbox_stats() const override { return inbox_.stats(); }
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
  explicit BudgetsService(Db db) : db_(std::move(db)), inbox_(db_.get(), "budgets") {}
  Status Apply(sqlite3* db, const TransactionCreated& tx);

  Db db_;
  herald::sqlite::Inbox inbox_;
};

class AnalyticsService final : public EventConsumer {
 public:
  static Result<std::unique_ptr<AnalyticsService>> Open(const std::string& path);

  std::string_view name() const override { return "analytics"; }
  Result<InboxOutcome> Handle(const EventId& id, std::string_view payload) override;
  InboxStats inbox_stats() const override { return inbox_.stats(); }
  Result<std::int64_t> Applied() override;

  struct Day {
    std::int64_t transactions = 0, total_cents = 0;
  };
  Result<std::map<std::string, Day>> DailyTotals();
  Result<std::map<std::string, std::int64_t>> CategoryCounts();

 private:
  explicit AnalyticsService(Db db) : db_(std::move(db)), inbox_(db_.get(), "analytics") {}

  Db db_;
  herald::sqlite::Inbox inbox_;
};

}  // namespace herald::examples

#endif  // HERALD_EXAMPLES_SERVICES_CONSUMERS_H_
