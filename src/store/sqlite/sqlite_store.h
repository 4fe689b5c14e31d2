// Internal: the SQLite implementation of herald::Store. Reach it through
// herald::OpenStore("sqlite:PATH").
//
// Beyond the Store contract:
//  - Opening switches the database file to WAL journaling (persisted in the
//    file, so the application's connections use WAL too) with
//    synchronous=FULL, and sets the busy timeout from the options.
//  - One relay per file: AcquireRelayRole takes an flock(2) on
//    "PATH-relay.lock", a file next to the database holding the relay's pid.
//  - ClaimDue's next_due is the earliest next_attempt_at after `now`: an
//    event held back behind its key's head becomes claimable no earlier than
//    that head, so this is the earliest time at which anything more can be
//    claimed.
//  - Settle skips sequence numbers no longer in the outbox, so applying one
//    settlement twice (say after an error whose outcome was unknown) does no
//    harm. A dead event's stored attempts count the failure that killed it
//    (attempts + 1); a dead letter with the same event id as an older one
//    replaces it.
//  - RetryDeadLetters leaves a dead letter's event id alone if an event with
//    that id is already pending again; the dead letter is removed either way.
//  - WaitForWork polls `PRAGMA data_version` every 2 ms (no table reads) and
//    also returns at once after this store's own Enqueue or
//    RetryDeadLetters. It returns OK on a change, on timeout and on stop.
//  - Errors: busy or locked database, CANTOPEN and IOERR are Unavailable;
//    CORRUPT and NOTADB FailedPrecondition; a missing schema
//    FailedPrecondition naming `herald migrate`; others Internal.
#ifndef HERALD_STORE_SQLITE_SQLITE_STORE_H_
#define HERALD_STORE_SQLITE_SQLITE_STORE_H_

#include <memory>
#include <string>

#include "herald/status.h"
#include "herald/store.h"

namespace herald {

// Opens a store on the SQLite database file `path` with connections of its
// own. With options.create_if_missing false, a missing file is NotFound and
// nothing is created. Does not create or check the schema.
Result<std::unique_ptr<Store>> OpenSqliteStore(std::string path, const StoreOptions& options);

// "SQLite 3.40.1": the library as linked.
std::string SqliteLibrary();

}  // namespace herald

#endif  // HERALD_STORE_SQLITE_SQLITE_STORE_H_
