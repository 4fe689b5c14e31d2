// The Transactions service: takes "create transaction" commands and saves
// each transaction. With the outbox, the row and its TransactionCreated event
// commit in one transaction of the service's database (herald::sqlite::Enqueue
// or herald::postgres::Enqueue); without it (the dual write this project
// exists to replace), only the row is saved and the caller publishes the
// event itself afterwards.
//
// Thread-compatible: one thread at a time.
#ifndef HERALD_EXAMPLES_SERVICES_TRANSACTIONS_H_
#define HERALD_EXAMPLES_SERVICES_TRANSACTIONS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "herald/event.h"
#include "herald/status.h"
#include "services/database.h"
#include "services/transaction_event.h"

namespace herald::examples {

struct Committed {
  TransactionCreated transaction;
  Event event;  // its TransactionCreated event (enqueued, or for the caller to publish)
};

class TransactionsService {
 public:
  // Creates the service's table and Herald's outbox in `db` if missing.
  // Events go to `topic`.
  static Result<std::unique_ptr<TransactionsService>> Open(
      std::unique_ptr<Database> db, std::string topic = std::string(kTransactionsTopic));
  // The same on the SQLite file `path` (created if missing).
  static Result<std::unique_ptr<TransactionsService>> Open(const std::string& path);

  // The transaction row and its event in one transaction (the outbox).
  // InvalidArgument for a bad command; the database's error otherwise, in
  // which case nothing was saved.
  Result<Committed> Create(const CreateTransaction& command);

  // The transaction row alone; the returned event is the caller's to publish.
  Result<Committed> SaveWithoutEvent(const CreateTransaction& command);

  // Committed spending per account, and the number of transactions.
  Result<std::map<std::string, std::int64_t>> TotalsByAccount();
  Result<std::int64_t> Count();

  // What `herald relay --db` takes to relay this service's outbox.
  std::string outbox_url() const { return db_->OutboxUrl(); }

 private:
  TransactionsService(std::unique_ptr<Database> db, std::string topic)
      : db_(std::move(db)), topic_(std::move(topic)) {}
  Result<Committed> Save(const CreateTransaction& command, bool with_event);

  std::unique_ptr<Database> db_;
  std::string topic_;
};

}  // namespace herald::examples

#endif  // HERALD_EXAMPLES_SERVICES_TRANSACTIONS_H_
