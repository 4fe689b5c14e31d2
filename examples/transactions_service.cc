// The Transactions service of the example system as a program: creates
// transactions, each saved with its TransactionCreated event in one SQLite
// transaction. Relay them with `herald relay --db sqlite:PATH --publisher ...`.
//
//   transactions_service --db PATH [--count N] [--accounts N] [--seed S]
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <string_view>

#include "services/transactions.h"

int main(int argc, char** argv) {
  std::string db;
  long count = 10;
  int accounts = 5;
  unsigned long seed = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string_view flag = argv[i];
    if (flag == "--db")
      db = argv[i + 1];
    else if (flag == "--count")
      count = std::strtol(argv[i + 1], nullptr, 10);
    else if (flag == "--accounts")
      accounts = static_cast<int>(std::strtol(argv[i + 1], nullptr, 10));
    else if (flag == "--seed")
      seed = std::strtoul(argv[i + 1], nullptr, 10);
  }
  if (db.empty() || count < 0 || accounts < 1 || argc % 2 == 0) {
    std::fprintf(stderr,
                 "usage: transactions_service --db PATH [--count N] [--accounts N] [--seed S]\n");
    return 2;
  }
  auto service = herald::examples::TransactionsService::Open(db);
  if (!service) {
    std::fprintf(stderr, "transactions_service: %s\n", service.error().ToString().c_str());
    return 1;
  }
  static const char* const kCategories[] = {"groceries", "rent", "travel", "fun", "utilities"};
  std::mt19937_64 rng(seed);
  for (long i = 0; i < count; ++i) {
    herald::examples::CreateTransaction command{
        "acct-" + std::to_string(rng() % static_cast<unsigned>(accounts)),
        static_cast<std::int64_t>(1 + rng() % 20000), kCategories[rng() % 5]};
    auto committed = (*service)->Create(command);
    if (!committed) {
      std::fprintf(stderr, "transactions_service: %s\n", committed.error().ToString().c_str());
      return 1;
    }
    std::printf("%s %s #%lld %lld %s\n", committed->transaction.transaction_id.c_str(),
                command.account.c_str(), static_cast<long long>(committed->transaction.account_seq),
                static_cast<long long>(command.amount_cents), command.category.c_str());
  }
  return 0;
}
