// The Transactions service: takes "create transaction" commands and saves
// each transaction. With the outbox, the row and its TransactionCreated event
// commit in one SQLite transaction (herald::sqlite::Enqueue); without it (the
// dual write this project exists to replace), only the row is saved and the
// caller publishes the event itself afterwards.
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
#include "services/sqlite_util.h"
#include "services/transaction_event.h"

namespace herald::examples {

struct Committed {
  TransactionCreated transaction;
  Event event;  // its TransactionCreated event (enqueued, or for the caller to publish)
};

class TransactionsService {
 public:
  // Opens or creates the database at `path`, its tables and Herald's outbox.
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

  const std::string& path() const { return path_; }

 private:
  TransactionsService(Db db, std::string path) : db_(std::move(db)), path_(std::move(path)) {}
  Result<Committed> Save(const CreateTransaction& command, bool with_event);

  Db db_;
  std::string path_;
};

}  // namespace herald::examples

#endif  // HERALD_EXAMPLES_SERVICES_TRANSACTIONS_H_
