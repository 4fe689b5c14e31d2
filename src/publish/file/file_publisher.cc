#include "publish/file/file_publisher.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "publish/file/event_json.h"

namespace herald::publish {
namespace {

// Lines are gathered into chunks of about this size before each write(2), so
// a call costs few system calls without holding a whole large batch twice.
constexpr std::size_t kChunkBytes = 1 << 20;

bool IsRegularFile(int fd) {
  struct stat st {};
  return fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace

std::string FormatEventLine(const Event& event) {
  std::string out;
  AppendEventJson(event, out);
  out.push_back('\n');
  return out;
}

Result<std::unique_ptr<FilePublisher>> FilePublisher::OpenFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return std::unexpected(FailedPrecondition(
        fmt::format("cannot open publisher file '{}': {}", path, std::strerror(errno))));
  }
  return std::unique_ptr<FilePublisher>(new FilePublisher(fd, /*owns_fd=*/true,
                                                          /*flush_stdio=*/false, path));
}

std::unique_ptr<FilePublisher> FilePublisher::OpenStdout() {
  return std::unique_ptr<FilePublisher>(new FilePublisher(STDOUT_FILENO, /*owns_fd=*/false,
                                                          /*flush_stdio=*/true, "stdout"));
}

FilePublisher::FilePublisher(int fd, bool owns_fd, bool flush_stdio, std::string name)
    : fd_(fd),
      owns_fd_(owns_fd),
      flush_stdio_(flush_stdio),
      regular_file_(IsRegularFile(fd)),
      name_(std::move(name)) {}

FilePublisher::~FilePublisher() {
  if (owns_fd_) ::close(fd_);
}

Guarantees FilePublisher::guarantees() const {
  return Guarantees{.keeps_key_order = true, .deduplicates_by_id = false};
}

void FilePublisher::Publish(std::span<const Event> events, DeliveryCallback on_delivery) {
  if (events.empty()) return;
  std::vector<const Event*> admitted;
  std::vector<std::size_t> indices;
  admitted.reserve(events.size());
  indices.reserve(events.size());
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (gate_.Admit(events[i].key)) {
      admitted.push_back(&events[i]);
      indices.push_back(i);
    } else {
      on_delivery(i, Delivery{Outcome::kRetry, KeyOrderGate::HeldBackError(events[i].key)});
    }
  }
  if (admitted.empty()) return;
  if (int err = WriteCall(admitted); err != 0) {
    std::string error = fmt::format("writing to {}: {}", name_, std::strerror(err));
    for (const Event* event : admitted) gate_.Close(event->key);
    for (std::size_t i : indices) on_delivery(i, Delivery{Outcome::kUnavailable, error});
    return;
  }
  for (std::size_t i : indices) on_delivery(i, Delivery{});
}

void FilePublisher::Resume(std::span<const std::string> keys) { gate_.Resume(keys); }

int FilePublisher::WriteCall(std::span<const Event* const> events) {
  if (flush_stdio_) std::fflush(stdout);
  struct stat before {};
  bool can_roll_back = regular_file_ && fstat(fd_, &before) == 0;

  int err = 0;
  std::string chunk;
  for (const Event* event : events) {
    AppendEventJson(*event, chunk);
    chunk.push_back('\n');
    if (chunk.size() >= kChunkBytes) {
      err = WriteAll(chunk);
      chunk.clear();
      if (err != 0) break;
    }
  }
  if (err == 0 && !chunk.empty()) err = WriteAll(chunk);
  if (err == 0 && regular_file_ && ::fsync(fd_) != 0) err = errno;

  if (err != 0 && can_roll_back && ::ftruncate(fd_, before.st_size) != 0) {
    // The partial lines stay; the events are reported unavailable either way
    // and will be written again, which at-least-once delivery allows.
  }
  return err;
}

int FilePublisher::WriteAll(const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd_, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EIO;  // no progress: do not spin
    done += static_cast<std::size_t>(n);
  }
  return 0;
}

}  // namespace herald::publish
