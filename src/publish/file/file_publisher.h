// The `file:PATH` and `stdout:` publishers: debugging sinks that write each
// event as one line of JSON and confirm it once it is durable.
//
// Line format (keys in this order, one object per line, no spaces):
//   {"event_id":"0190...","topic":"t","key":"k","type":"T",
//    "payload":{...} or "text","content_type":"application/json",
//    "headers":{"h":"v"},"created_at":"2026-11-29T18:17:24.123Z"}
// The payload is embedded as JSON when the content type is a JSON type
// (IsJsonContentType) and the payload is JSON, at any depth; otherwise it is
// a JSON string when it is UTF-8 text, or base64 followed by
// "payload_encoding":"base64" when it is not: the bytes always survive (see
// AppendEventJson).
#ifndef HERALD_PUBLISH_FILE_FILE_PUBLISHER_H_
#define HERALD_PUBLISH_FILE_FILE_PUBLISHER_H_

#include <cstddef>
#include <memory>
#include <span>
#include <string>

#include "herald/event.h"
#include "herald/publisher.h"
#include "herald/status.h"
#include "publish/common/key_order_gate.h"

namespace herald::publish {

// AppendEventJson(event) followed by a newline. Never fails.
std::string FormatEventLine(const Event& event);

// Appends event lines to a file descriptor. Each Publish() call writes the
// lines of all its events (buffered into as few write(2) calls as practical),
// then fsyncs when the sink is a regular file, and only then reports every
// event kPublished. If a write or the fsync fails, every event of the call
// is reported kUnavailable with the strerror text, and for a regular file the
// bytes this call appended are truncated away, so a failed call leaves no
// partial lines behind. The keys of a failed call stay closed (their events
// are held back, kRetry) until Resume() names them.
//
// Thread-compatible: one Publish() at a time. All callbacks run on the
// calling thread before Publish() returns.
class FilePublisher final : public Publisher {
 public:
  // Opens `path` for appending, creating it with mode 0644 (before umask) if
  // it is missing; its directory must exist. FailedPrecondition naming the
  // path and the strerror text if it cannot be opened. `path` is not empty.
  static Result<std::unique_ptr<FilePublisher>> OpenFile(const std::string& path);

  // Writes to the process's standard output (fd 1). Flushes stdio's stdout
  // buffer before each call so lines do not interleave with printf output;
  // fsyncs only if stdout is a regular file.
  static std::unique_ptr<FilePublisher> OpenStdout();

  ~FilePublisher() override;
  FilePublisher(const FilePublisher&) = delete;
  FilePublisher& operator=(const FilePublisher&) = delete;

  // keeps_key_order: writes are sequential and a failure fails the rest of
  // the call. deduplicates_by_id: false.
  Guarantees guarantees() const override;

  void Publish(std::span<const Event> events, DeliveryCallback on_delivery) override;
  void Resume(std::span<const std::string> keys) override;

 private:
  FilePublisher(int fd, bool owns_fd, bool flush_stdio, std::string name);

  // Writes `data` fully (retrying short writes and EINTR): 0 or the errno.
  int WriteAll(const std::string& data);
  // Writes and syncs the lines of `events`, rolling back on failure: 0 or
  // the errno.
  int WriteCall(std::span<const Event* const> events);

  int fd_;
  bool owns_fd_;
  bool flush_stdio_;
  bool regular_file_;
  std::string name_;  // for error messages: the path, or "stdout"
  KeyOrderGate gate_;
};

}  // namespace herald::publish

#endif  // HERALD_PUBLISH_FILE_FILE_PUBLISHER_H_
