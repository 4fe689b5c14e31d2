// The one event of the example system: TransactionCreated, published by the
// Transactions service and consumed by Budgets and Analytics.
#ifndef HERALD_EXAMPLES_SERVICES_TRANSACTION_EVENT_H_
#define HERALD_EXAMPLES_SERVICES_TRANSACTION_EVENT_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "herald/event.h"
#include "herald/status.h"

namespace herald::examples {

inline constexpr std::string_view kTransactionsTopic = "transactions";
inline constexpr std::string_view kTransactionCreatedType = "TransactionCreated";

// The command the Transactions service takes.
struct CreateTransaction {
  std::string account;
  std::int64_t amount_cents = 0;  // spending, > 0
  std::string category;
};

struct TransactionCreated {
  std::string transaction_id;
  std::string account;
  // 1, 2, 3... per account, in commit order: how consumers check per-account
  // order.
  std::int64_t account_seq = 0;
  std::int64_t amount_cents = 0;
  std::string category;
  std::string day;  // UTC, "2026-11-29"
};

// The JSON payload, and back. InvalidArgument for a payload that is not a
// well-formed TransactionCreated.
std::string ToJson(const TransactionCreated& tx);
Result<TransactionCreated> ParseTransactionCreated(std::string_view json);

// The event to publish for `tx`: on `topic`, key = account.
Event MakeTransactionCreatedEvent(const EventId& id, const TransactionCreated& tx,
                                  std::string_view topic = kTransactionsTopic);

// "2026-11-29" for `t` in UTC.
std::string UtcDay(TimePoint t);

}  // namespace herald::examples

#endif  // HERALD_EXAMPLES_SERVICES_TRANSACTION_EVENT_H_
