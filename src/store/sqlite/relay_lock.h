// Internal: the one-relay-per-file lock of the SQLite store.
#ifndef HERALD_STORE_SQLITE_RELAY_LOCK_H_
#define HERALD_STORE_SQLITE_RELAY_LOCK_H_

#include <optional>
#include <stop_token>
#include <string>

#include "herald/status.h"

namespace herald::sqlite_internal {

// An exclusive flock(2) on the sidecar file "<database path>-relay.lock".
// The holder writes its pid into the file so that others can name it. The
// lock belongs to this object's own open file description, so two RelayLocks
// exclude each other even within one process; it is released when the
// object is destroyed or the process dies. The file itself is left in place
// (removing it could let two processes lock two different files).
// Thread-compatible.
class RelayLock {
 public:
  explicit RelayLock(std::string database_path);
  ~RelayLock();
  RelayLock(const RelayLock&) = delete;
  RelayLock& operator=(const RelayLock&) = delete;

  // OK once held (at once if already held by this object). Not waiting and
  // held elsewhere: FailedPrecondition naming the holder's pid. Waiting:
  // tries again every 100 ms until acquired, or Cancelled when `stop` is
  // requested. Unavailable if the lock file cannot be opened.
  Status Acquire(bool wait, std::stop_token stop);

  bool held() const { return held_; }

  // The pid of the process whose RelayLock holds the lock of
  // `database_path`, read from the kernel's table of locks (/proc/locks)
  // without taking or testing the lock (so a relay starting at that moment
  // is never disturbed); nullopt when none does or it cannot be told.
  static std::optional<long> HolderOf(const std::string& database_path);
  const std::string& lock_path() const { return lock_path_; }

 private:
  Status Open();
  Result<bool> TryLock();
  void WriteOwnPid();
  std::string Holder() const;

  std::string database_path_;
  std::string lock_path_;
  int fd_ = -1;
  bool held_ = false;
};

}  // namespace herald::sqlite_internal

#endif  // HERALD_STORE_SQLITE_RELAY_LOCK_H_
