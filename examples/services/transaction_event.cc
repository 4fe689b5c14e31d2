#include "services/transaction_event.h"

#include <ctime>
#include <nlohmann/json.hpp>

namespace herald::examples {

std::string ToJson(const TransactionCreated& tx) {
  return nlohmann::json{{"transaction_id", tx.transaction_id},
                        {"account", tx.account},
                        {"account_seq", tx.account_seq},
                        {"amount_cents", tx.amount_cents},
                        {"category", tx.category},
                        {"day", tx.day}}
      .dump();
}

Result<TransactionCreated> ParseTransactionCreated(std::string_view json) {
  nlohmann::json j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return std::unexpected(InvalidArgument("TransactionCreated: payload is not a JSON object"));
  }
  TransactionCreated tx;
  auto text = [&](const char* name, std::string& out) {
    auto it = j.find(name);
    if (it == j.end() || !it->is_string()) return false;
    out = it->get<std::string>();
    return !out.empty();
  };
  auto number = [&](const char* name, std::int64_t& out) {
    auto it = j.find(name);
    if (it == j.end() || !it->is_number_integer()) return false;
    out = it->get<std::int64_t>();
    return true;
  };
  if (!text("transaction_id", tx.transaction_id) || !text("account", tx.account) ||
      !number("account_seq", tx.account_seq) || !number("amount_cents", tx.amount_cents) ||
      !text("category", tx.category) || !text("day", tx.day)) {
    return std::unexpected(InvalidArgument("TransactionCreated: a field is missing or mistyped"));
  }
  return tx;
}

Event MakeTransactionCreatedEvent(const EventId& id, const TransactionCreated& tx,
                                  std::string_view topic) {
  Event event = Event::Make(std::string(topic), tx.account,
                            std::string(kTransactionCreatedType), ToJson(tx));
  event.id = id;
  return event;
}

std::string UtcDay(TimePoint t) {
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

}  // namespace herald::examples
