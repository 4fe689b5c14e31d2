#include "publish/redis/redis_server.h"

#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <system_error>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

extern char** environ;

namespace herald::publish::testing {
namespace {

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

// True once a server on `port` answers PING with PONG (or NOAUTH).
bool Pongs(int port) {
  timeval tv{0, 200000};
  redisContext* c = redisConnectWithTimeout("127.0.0.1", port, tv);
  if (c == nullptr) return false;
  bool ok = false;
  if (c->err == 0) {
    redisSetTimeout(c, tv);
    auto* r = static_cast<redisReply*>(redisCommand(c, "PING"));
    // PONG, or NOAUTH from a server with a password: it answers, and it is
    // not loading its data (LOADING).
    ok = r != nullptr && ((r->type == REDIS_REPLY_STATUS && std::strcmp(r->str, "PONG") == 0) ||
                          (r->type == REDIS_REPLY_ERROR && std::strncmp(r->str, "NOAUTH", 6) == 0));
    if (r != nullptr) freeReplyObject(r);
  }
  redisFree(c);
  return ok;
}

// host and port of "redis://host:port[/...]".
bool SplitUrl(const std::string& url, std::string& host, int& port) {
  std::string rest = url.starts_with("redis://") ? url.substr(8) : url;
  if (std::size_t at = rest.rfind('@'); at != std::string::npos) rest = rest.substr(at + 1);
  if (std::size_t slash = rest.find('/'); slash != std::string::npos) rest.resize(slash);
  std::size_t colon = rest.rfind(':');
  if (colon == std::string::npos) return false;
  host = rest.substr(0, colon);
  port = std::atoi(rest.c_str() + colon + 1);
  return !host.empty() && port > 0;
}

std::string Text(const redisReply* r) {
  switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
      return std::string(r->str, r->len);
    case REDIS_REPLY_INTEGER:
      return std::to_string(r->integer);
    case REDIS_REPLY_NIL:
      return "(nil)";
    case REDIS_REPLY_ARRAY:
      return fmt::format("(array {})", r->elements);
    default:
      return "(?)";
  }
}

}  // namespace

std::string RedisServerBinary() {
  if (const char* env = std::getenv("HERALD_REDIS_SERVER"); env != nullptr && *env != '\0') {
    return env;
  }
  for (const char* path : {"/usr/bin/redis-server", "/usr/local/bin/redis-server"}) {
    if (::access(path, X_OK) == 0) return path;
  }
  return "redis-server";
}

RedisServer::RedisServer(std::vector<std::string> extra_args)
    : extra_args_(std::move(extra_args)), port_(FreePort()) {
  dir_ = std::filesystem::temp_directory_path() /
         fmt::format("herald_redis_{}_{}", ::getpid(), port_);
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
  std::filesystem::create_directories(dir_, ignored);
}

RedisServer::~RedisServer() {
  Kill();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::string RedisServer::url() const { return fmt::format("redis://127.0.0.1:{}", port_); }

bool RedisServer::Start(std::string* error) {
  if (running()) return true;
  const std::string binary = RedisServerBinary();
  const std::string log = (dir_ / "server.log").string();
  std::vector<std::string> args = {binary,         "--port",        std::to_string(port_),
                                   "--bind",       "127.0.0.1",     "--dir",
                                   dir_.string(),  "--appendonly",  "yes",
                                   "--appendfsync", "everysec",     "--save",
                                   "",             "--logfile",     log,
                                   "--daemonize",  "no"};
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  if (int rc = ::posix_spawnp(&pid, binary.c_str(), nullptr, nullptr, argv.data(), environ);
      rc != 0) {
    if (error != nullptr) *error = fmt::format("cannot start {}: {}", binary, std::strerror(rc));
    return false;
  }
  pid_ = pid;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (Pongs(port_)) return true;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      if (error != nullptr) *error = fmt::format("{} exited at start; see {}", binary, log);
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (error != nullptr) *error = fmt::format("{} does not answer on port {}", binary, port_);
  Kill();
  return false;
}

void RedisServer::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::kill(pid_, SIGCONT);  // a paused process dies only once it runs
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

void RedisServer::Pause() {
  if (pid_ > 0) ::kill(pid_, SIGSTOP);
}

void RedisServer::Resume() {
  if (pid_ > 0) ::kill(pid_, SIGCONT);
}

std::string SharedRedisUrl() {
  const char* env = std::getenv("HERALD_TEST_REDIS_URL");
  return env != nullptr ? env : "";
}

std::string StreamEntry::Field(const std::string& name) const {
  for (const auto& [field, value] : fields) {
    if (field == name) return value;
  }
  return "<none>";
}

RedisClient::RedisClient(const std::string& url) {
  std::string host;
  int port = 0;
  if (!SplitUrl(url, host, port)) {
    ADD_FAILURE() << "not a redis://host:port URL: " << url;
    return;
  }
  timeval tv{5, 0};
  ctx_ = redisConnectWithTimeout(host.c_str(), port, tv);
  if (ctx_ == nullptr || ctx_->err != 0) {
    ADD_FAILURE() << "connecting to " << url << ": "
                  << (ctx_ != nullptr ? ctx_->errstr : "out of memory");
    if (ctx_ != nullptr) redisFree(ctx_);
    ctx_ = nullptr;
    return;
  }
  redisSetTimeout(ctx_, tv);
}

RedisClient::~RedisClient() {
  if (ctx_ != nullptr) redisFree(ctx_);
}

std::string RedisClient::Run(const std::vector<std::string>& args) {
  if (ctx_ == nullptr) return "ERR no connection";
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  for (const std::string& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* r = static_cast<redisReply*>(
      redisCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data()));
  if (r == nullptr) {
    ADD_FAILURE() << "redis " << args.front() << ": " << ctx_->errstr;
    return "ERR no reply";
  }
  std::string out = Text(r);
  freeReplyObject(r);
  return out;
}

std::vector<StreamEntry> RedisClient::ReadAll(const std::string& stream) {
  std::vector<StreamEntry> out;
  if (ctx_ == nullptr) return out;
  std::string start = "-";
  for (;;) {
    const char* argv[] = {"XRANGE", stream.data(), start.data(), "+", "COUNT", "1000"};
    const std::size_t lens[] = {6, stream.size(), start.size(), 1, 5, 4};
    auto* r = static_cast<redisReply*>(redisCommandArgv(ctx_, 6, argv, lens));
    if (r == nullptr || r->type != REDIS_REPLY_ARRAY) {
      ADD_FAILURE() << "XRANGE " << stream << ": "
                    << (r != nullptr ? Text(r) : std::string(ctx_->errstr));
      if (r != nullptr) freeReplyObject(r);
      return out;
    }
    const std::size_t n = r->elements;
    for (std::size_t i = 0; i < n; ++i) {
      const redisReply* e = r->element[i];
      StreamEntry entry;
      entry.id = Text(e->element[0]);
      const redisReply* fields = e->element[1];
      for (std::size_t f = 0; f + 1 < fields->elements; f += 2) {
        entry.fields.emplace_back(Text(fields->element[f]), Text(fields->element[f + 1]));
      }
      out.push_back(std::move(entry));
    }
    freeReplyObject(r);
    if (n < 1000) return out;
    start = "(" + out.back().id;  // exclusive start (Redis 6.2+)
  }
}

void RedisClient::DeleteMatching(const std::string& pattern) {
  if (ctx_ == nullptr) return;
  std::string cursor = "0";
  do {
    const char* argv[] = {"SCAN", cursor.data(), "MATCH", pattern.data(), "COUNT", "1000"};
    const std::size_t lens[] = {4, cursor.size(), 5, pattern.size(), 5, 4};
    auto* r = static_cast<redisReply*>(redisCommandArgv(ctx_, 6, argv, lens));
    if (r == nullptr || r->type != REDIS_REPLY_ARRAY) {
      if (r != nullptr) freeReplyObject(r);
      return;
    }
    cursor = Text(r->element[0]);
    const redisReply* keys = r->element[1];
    for (std::size_t i = 0; i < keys->elements; ++i) Run({"DEL", Text(keys->element[i])});
    freeReplyObject(r);
  } while (cursor != "0");
}

std::size_t RedisClient::CountMatching(const std::string& pattern) {
  std::size_t count = 0;
  if (ctx_ == nullptr) return count;
  std::string cursor = "0";
  do {
    const char* argv[] = {"SCAN", cursor.data(), "MATCH", pattern.data(), "COUNT", "1000"};
    const std::size_t lens[] = {4, cursor.size(), 5, pattern.size(), 5, 4};
    auto* r = static_cast<redisReply*>(redisCommandArgv(ctx_, 6, argv, lens));
    if (r == nullptr || r->type != REDIS_REPLY_ARRAY) {
      if (r != nullptr) freeReplyObject(r);
      return count;
    }
    cursor = Text(r->element[0]);
    count += r->element[1]->elements;
    freeReplyObject(r);
  } while (cursor != "0");
  return count;
}

}  // namespace herald::publish::testing
