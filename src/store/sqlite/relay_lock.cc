#include "store/sqlite/relay_lock.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>

#include "herald/clock.h"

namespace herald::sqlite_internal {
namespace {

constexpr std::chrono::milliseconds kStandbyRetry{100};

}  // namespace

std::optional<long> RelayLock::HolderOf(const std::string& database_path) {
  struct stat st{};
  if (::stat((database_path + "-relay.lock").c_str(), &st) != 0) return std::nullopt;
  // "1: FLOCK  ADVISORY  WRITE 21222 fe:00:10953101 0 EOF": kind, pid and
  // device major:minor:inode (hexadecimal device numbers).
  std::ifstream locks("/proc/locks");
  std::string line;
  const std::string file = fmt::format("{:02x}:{:02x}:{}", major(st.st_dev), minor(st.st_dev),
                                       static_cast<unsigned long long>(st.st_ino));
  while (std::getline(locks, line)) {
    std::istringstream in(line);
    std::string number, kind, mode, access, pid, id;
    if (!(in >> number >> kind)) continue;
    if (kind == "->") continue;  // a waiter, not a holder
    if (!(in >> mode >> access >> pid >> id)) continue;
    if (kind != "FLOCK" || access != "WRITE" || id != file) continue;
    long value = 0;
    if (std::from_chars(pid.data(), pid.data() + pid.size(), value).ec == std::errc() &&
        value > 0) {
      return value;
    }
  }
  return std::nullopt;
}

RelayLock::RelayLock(std::string database_path)
    : database_path_(std::move(database_path)), lock_path_(database_path_ + "-relay.lock") {}

RelayLock::~RelayLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock
}

Status RelayLock::Open() {
  if (fd_ >= 0) return OkStatus();
  fd_ = ::open(lock_path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    return Unavailable(
        fmt::format("cannot open relay lock file '{}': {}", lock_path_, std::strerror(errno)));
  }
  return OkStatus();
}

Result<bool> RelayLock::TryLock() {
  while (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    if (errno == EWOULDBLOCK) return false;
    return std::unexpected(
        Unavailable(fmt::format("cannot lock '{}': {}", lock_path_, std::strerror(errno))));
  }
  return true;
}

void RelayLock::WriteOwnPid() {
  // Informational only: the flock is what excludes.
  std::string pid = fmt::format("{}\n", ::getpid());
  bool written = ::ftruncate(fd_, 0) == 0 &&
                 ::pwrite(fd_, pid.data(), pid.size(), 0) == static_cast<ssize_t>(pid.size());
  static_cast<void>(written);
}

std::string RelayLock::Holder() const {
  char buf[32] = {};
  ssize_t n = ::pread(fd_, buf, sizeof(buf) - 1, 0);
  long pid = 0;
  if (n > 0 && std::from_chars(buf, buf + n, pid).ec == std::errc() && pid > 0) {
    return fmt::format("pid {}", pid);
  }
  return "pid unknown";
}

Status RelayLock::Acquire(bool wait, std::stop_token stop) {
  if (held_) return OkStatus();
  if (Status s = Open(); !s.ok()) return s;
  while (true) {
    Result<bool> locked = TryLock();
    if (!locked) return locked.error();
    if (*locked) {
      held_ = true;
      WriteOwnPid();
      return OkStatus();
    }
    if (!wait) {
      return FailedPrecondition(fmt::format(
          "another herald relay ({}) is already relaying '{}'; run this one with --standby to "
          "wait for it",
          Holder(), database_path_));
    }
    if (!Clock::Real().SleepFor(kStandbyRetry, stop)) {
      return Cancelled(
          fmt::format("stopped while waiting as a standby to relay '{}'", database_path_));
    }
  }
}

}  // namespace herald::sqlite_internal
