// The write side in an application: a `Transactions` service that saves each
// transaction and its TransactionCreated event in one SQLite transaction.
//
//   sqlite_producer --db PATH [--count N] [--accounts N] [--rollback-ratio R]
//                   [--seed S] [--manifest FILE]
//
// A seeded fraction of the transactions is rolled back, as a failing business
// rule would; their events must never reach the bus. With --manifest, the id
// and key of every committed event are appended to FILE in commit order
// ("<event_id> <key>" per line), so that a test can check what the relay sent.
#include <sqlite3.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <string_view>

#include "herald/event.h"
#include "herald/sqlite.h"

namespace {

struct Args {
  std::string db;
  long count = 10;
  int accounts = 4;
  double rollback_ratio = 0.2;
  unsigned long seed = 1;
  std::string manifest;
};

[[noreturn]] void Usage(const char* why) {
  std::fprintf(stderr, "sqlite_producer: error: %s\n", why);
  std::fprintf(stderr,
               "usage: sqlite_producer --db PATH [--count N] [--accounts N] "
               "[--rollback-ratio R] [--seed S] [--manifest FILE]\n");
  std::exit(2);
}

Args Parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string_view flag = argv[i];
    if (i + 1 >= argc) Usage("every option takes a value");
    const char* v = argv[++i];
    char* end = nullptr;
    if (flag == "--db") {
      a.db = v;
    } else if (flag == "--count") {
      a.count = std::strtol(v, &end, 10);
    } else if (flag == "--accounts") {
      a.accounts = static_cast<int>(std::strtol(v, &end, 10));
    } else if (flag == "--rollback-ratio") {
      a.rollback_ratio = std::strtod(v, &end);
    } else if (flag == "--seed") {
      a.seed = std::strtoul(v, &end, 10);
    } else if (flag == "--manifest") {
      a.manifest = v;
    } else {
      Usage("unknown option");
    }
    if (end != nullptr && *end != '\0') Usage("not a number");
  }
  if (a.db.empty()) Usage("--db is required");
  if (a.count < 0 || a.accounts < 1 || a.rollback_ratio < 0 || a.rollback_ratio > 1) {
    Usage("out of range");
  }
  return a;
}

bool Exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::fprintf(stderr, "sqlite_producer: %s: %s\n", sql, err ? err : "?");
    sqlite3_free(err);
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Args args = Parse(argc, argv);
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(args.db.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    std::fprintf(stderr, "sqlite_producer: cannot open %s: %s\n", args.db.c_str(),
                 sqlite3_errmsg(db));
    return 1;
  }
  sqlite3_busy_timeout(db, 10000);
  if (!Exec(db, "CREATE TABLE IF NOT EXISTS transactions (id TEXT PRIMARY KEY, account TEXT, "
                "amount_cents INTEGER, category TEXT)")) {
    return 1;
  }
  FILE* manifest = args.manifest.empty() ? nullptr : std::fopen(args.manifest.c_str(), "a");
  if (!args.manifest.empty() && manifest == nullptr) {
    std::perror(args.manifest.c_str());
    return 1;
  }

  static const char* const kCategories[] = {"groceries", "rent", "travel", "fun"};
  std::mt19937_64 rng(args.seed);
  std::bernoulli_distribution rollback(args.rollback_ratio);
  sqlite3_stmt* insert = nullptr;
  sqlite3_prepare_v2(db, "INSERT INTO transactions VALUES (?, ?, ?, ?)", -1, &insert, nullptr);

  long committed = 0, rolled_back = 0;
  for (long i = 0; i < args.count; ++i) {
    std::string account = "acct-" + std::to_string(rng() % args.accounts);
    long amount = static_cast<long>(rng() % 100000);
    const char* category = kCategories[rng() % 4];
    herald::Event event = herald::Event::Make(
        "transactions", account, "TransactionCreated",
        "{\"account\":\"" + account + "\",\"amount_cents\":" + std::to_string(amount) +
            ",\"category\":\"" + category + "\"}");
    std::string txid = event.id.ToString();

    // One local transaction: the business row and the event row, or neither.
    if (!Exec(db, "BEGIN IMMEDIATE")) return 1;
    sqlite3_bind_text(insert, 1, txid.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(insert, 2, account.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(insert, 3, amount);
    sqlite3_bind_text(insert, 4, category, -1, SQLITE_STATIC);
    int rc = sqlite3_step(insert);
    sqlite3_reset(insert);
    herald::Status s = rc == SQLITE_DONE ? herald::sqlite::Enqueue(db, event)
                                         : herald::Internal(sqlite3_errmsg(db));
    if (!s.ok()) {
      std::fprintf(stderr, "sqlite_producer: %s\n", s.ToString().c_str());
      Exec(db, "ROLLBACK");
      return 1;
    }
    if (rollback(rng)) {
      if (!Exec(db, "ROLLBACK")) return 1;
      ++rolled_back;
      continue;
    }
    if (!Exec(db, "COMMIT")) return 1;
    ++committed;
    if (manifest) std::fprintf(manifest, "%s %s\n", txid.c_str(), account.c_str());
  }
  sqlite3_finalize(insert);
  if (manifest) std::fclose(manifest);
  sqlite3_close(db);
  std::printf("%ld transactions committed with their events, %ld rolled back (no event)\n",
              committed, rolled_back);
  return 0;
}
