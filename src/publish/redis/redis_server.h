// Test support: a redis-server of the caller's own (its own loopback port
// and directory, AOF on, so that a test may kill it and start it again on the
// same data), the server a test run shares (HERALD_TEST_REDIS_URL, started by
// scripts/test.sh), and an independent hiredis client that reads streams
// back with XRANGE.
#ifndef HERALD_PUBLISH_REDIS_REDIS_SERVER_H_
#define HERALD_PUBLISH_REDIS_REDIS_SERVER_H_

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

typedef struct redisContext redisContext;

namespace herald::publish::testing {

// A `redis-server --appendonly yes --appendfsync everysec` child process on
// 127.0.0.1. Not thread-safe.
class RedisServer {
 public:
  // Picks a free port and a fresh directory under the temporary directory.
  // `extra_args` are added to the server's command line at every start.
  explicit RedisServer(std::vector<std::string> extra_args = {});
  // Kills the server and removes its directory.
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  // Starts the server (again, on the same port and data) and waits until it
  // answers PING with PONG or NOAUTH (not LOADING). False, with the reason in `error`,
  // if it does not within 10 s.
  bool Start(std::string* error = nullptr);
  // SIGKILL, then waits for the process to end. No-op when not running.
  void Kill();
  bool running() const { return pid_ > 0; }
  // SIGSTOP / SIGCONT: a server that keeps its connections and answers
  // nothing, then answers again.
  void Pause();
  void Resume();

  int port() const { return port_; }
  // "redis://127.0.0.1:PORT".
  std::string url() const;
  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path dir_;
  std::vector<std::string> extra_args_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// "redis://..." from HERALD_TEST_REDIS_URL, or "" when unset.
std::string SharedRedisUrl();

// The binary redis-server, as found ($HERALD_REDIS_SERVER, /usr/bin...).
std::string RedisServerBinary();

struct StreamEntry {
  std::string id;  // "ms-seq"
  std::vector<std::pair<std::string, std::string>> fields;  // in the entry's order

  // The value of the first field named `name`, or "<none>".
  std::string Field(const std::string& name) const;
};

// A plain blocking hiredis connection of its own ("redis://host:port" only).
// Every failure is reported as a GoogleTest failure.
class RedisClient {
 public:
  explicit RedisClient(const std::string& url);
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  bool ok() const { return ctx_ != nullptr; }
  // Runs one command; returns its reply as text (status, string, integer)
  // or "ERR..." for an error reply, "(nil)" for nil, "(array N)" for an
  // array.
  std::string Run(const std::vector<std::string>& args);
  // Every entry of `stream` (XRANGE - +, in pages), in stream order.
  std::vector<StreamEntry> ReadAll(const std::string& stream);
  // Deletes every key matching `pattern` (SCAN + DEL).
  void DeleteMatching(const std::string& pattern);
  // How many keys match `pattern`.
  std::size_t CountMatching(const std::string& pattern);

 private:
  redisContext* ctx_ = nullptr;
};

}  // namespace herald::publish::testing

#endif  // HERALD_PUBLISH_REDIS_REDIS_SERVER_H_
