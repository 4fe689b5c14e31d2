// Enqueues three events with a business row in one SQLite transaction, then
// relays them to a file with the embedded relay; prints how many it published.
#include <sqlite3.h>

#include <cstdio>
#include <memory>
#include <string>

#include "herald/publisher.h"
#include "herald/relay.h"
#include "herald/sqlite.h"
#include "herald/store.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: install_check DB_PATH OUT_PATH\n");
    return 2;
  }
  const std::string db_path = argv[1];
  sqlite3* db = nullptr;
  if (sqlite3_open(db_path.c_str(), &db) != SQLITE_OK) return 1;
  if (!herald::sqlite::Migrate(db).ok()) return 1;
  sqlite3_exec(db, "CREATE TABLE orders (id INTEGER PRIMARY KEY, note TEXT)", nullptr, nullptr,
               nullptr);
  sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
  sqlite3_exec(db, "INSERT INTO orders (note) VALUES ('three events')", nullptr, nullptr, nullptr);
  for (int i = 0; i < 3; ++i) {
    herald::Status s = herald::sqlite::Enqueue(
        db, herald::Event::Make("orders", "order-1", "OrderPlaced", "{\"n\":" + std::to_string(i) + "}"));
    if (!s.ok()) {
      std::fprintf(stderr, "enqueue: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  sqlite3_close(db);

  auto store = herald::OpenStore("sqlite:" + db_path);
  auto publisher = herald::OpenPublisher(std::string("file:") + argv[2]);
  if (!store || !publisher) return 1;
  herald::RelayOptions options;
  options.exit_when_drained = true;
  herald::Relay relay(**store, **publisher, options);
  herald::Status s = relay.Run();
  if (!s.ok()) {
    std::fprintf(stderr, "relay: %s\n", s.ToString().c_str());
    return 1;
  }
  std::printf("published %llu\n", static_cast<unsigned long long>(relay.stats().published));
  return 0;
}
