// Test support: a nats-server of the caller's own (its own loopback port and
// storage directory, so that a test may kill it), the server a test run
// shares (HERALD_TEST_NATS_URL, started by scripts/test.sh), and an
// independent JetStream reader of what a stream holds.
#ifndef HERALD_PUBLISH_NATS_NATS_SERVER_H_
#define HERALD_PUBLISH_NATS_NATS_SERVER_H_

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

typedef struct __natsConnection natsConnection;
typedef struct __jsCtx jsCtx;

namespace herald::publish::testing {

// A `nats-server -js` child process on 127.0.0.1. Not thread-safe.
class NatsServer {
 public:
  // Picks a free port and a fresh directory under the temporary directory.
  // `extra_args` are added to the server's command line at every start.
  explicit NatsServer(std::vector<std::string> extra_args = {});
  // Kills the server and removes its directory.
  ~NatsServer();
  NatsServer(const NatsServer&) = delete;
  NatsServer& operator=(const NatsServer&) = delete;

  // Starts the server (again, on the same port and storage) and waits until
  // it accepts connections. False, with the reason in `error`, if it does
  // not within 10 s.
  bool Start(std::string* error = nullptr);
  // SIGKILL, then waits for the process to end. No-op when not running.
  void Kill();
  bool running() const { return pid_ > 0; }

  // For the next Start().
  void set_extra_args(std::vector<std::string> args) { extra_args_ = std::move(args); }

  int port() const { return port_; }
  // "nats://127.0.0.1:PORT", with "user:password@" when `userinfo` is given.
  std::string url(const std::string& userinfo = "") const;
  // The server's own directory (storage, log; a config file may go here).
  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path dir_;
  std::vector<std::string> extra_args_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// "nats://..." from HERALD_TEST_NATS_URL, or "" when unset.
std::string SharedNatsUrl();

struct StoredMessage {
  std::string subject;
  std::string data;
  std::map<std::string, std::string> headers;  // first value of each header
  std::uint64_t sequence = 0;                  // in the stream
};

struct StreamSpec {
  std::string name;
  std::vector<std::string> subjects;
  std::int32_t max_msg_size = 0;   // 0: no limit
  std::int64_t max_msgs = 0;       // 0: no limit (with discard new when set)
  std::chrono::milliseconds duplicate_window{0};  // 0: the server's (2 min)
};

// A plain cnats connection of its own, for setting up streams and reading
// them back. Every failure is reported as a GoogleTest failure.
class JetStreamClient {
 public:
  explicit JetStreamClient(const std::string& url);
  ~JetStreamClient();
  JetStreamClient(const JetStreamClient&) = delete;
  JetStreamClient& operator=(const JetStreamClient&) = delete;

  bool ok() const { return js_ != nullptr; }
  // Creates `spec`, deleting a stream of that name first.
  bool CreateStream(const StreamSpec& spec);
  void DeleteStream(const std::string& name);
  // How many messages `stream` holds; -1 on error.
  std::int64_t MessageCount(const std::string& stream);
  // Every message of `stream` on subjects matching `filter` (one of the
  // stream's subjects, wildcards allowed), in stream order, read by a
  // consumer of this client's own; stops at `count` messages or after
  // `timeout` without one.
  std::vector<StoredMessage> ReadAll(const std::string& stream, const std::string& filter,
                                     std::size_t count,
                                     std::chrono::milliseconds timeout = std::chrono::seconds(10));

 private:
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
};

}  // namespace herald::publish::testing

#endif  // HERALD_PUBLISH_NATS_NATS_SERVER_H_
