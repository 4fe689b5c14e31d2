#include "publish/nats/nats_server.h"

#include <arpa/inet.h>
#include <nats/nats.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

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

bool Accepts(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

std::string ServerBinary() {
  if (const char* env = std::getenv("HERALD_NATS_SERVER"); env != nullptr && *env != '\0') {
    return env;
  }
  for (const char* path : {"/usr/sbin/nats-server", "/usr/bin/nats-server",
                           "/usr/local/bin/nats-server"}) {
    if (::access(path, X_OK) == 0) return path;
  }
  return "nats-server";
}

std::string LastError(natsStatus s) {
  const char* text = nats_GetLastError(nullptr);
  return text != nullptr && *text != '\0' ? text : natsStatus_GetText(s);
}

}  // namespace

NatsServer::NatsServer(std::vector<std::string> extra_args)
    : dir_(std::filesystem::temp_directory_path() /
           fmt::format("herald_nats_{}_{}", ::getpid(), FreePort())),
      extra_args_(std::move(extra_args)),
      port_(FreePort()) {
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
  std::filesystem::create_directories(dir_, ignored);
}

NatsServer::~NatsServer() {
  Kill();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::string NatsServer::url(const std::string& userinfo) const {
  return fmt::format("nats://{}{}127.0.0.1:{}", userinfo, userinfo.empty() ? "" : "@", port_);
}

bool NatsServer::Start(std::string* error) {
  if (running()) return true;
  const std::string binary = ServerBinary();
  const std::string port = std::to_string(port_);
  const std::string store = (dir_ / "js").string();
  const std::string log = (dir_ / "server.log").string();
  std::vector<std::string> args = {binary, "-a", "127.0.0.1", "-p", port, "-js",
                                   "-sd",  store, "-l", log};
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
    if (Accepts(port_)) return true;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      if (error != nullptr) *error = fmt::format("{} exited at start; see {}", binary, log);
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (error != nullptr) *error = fmt::format("{} does not accept on port {}", binary, port_);
  Kill();
  return false;
}

void NatsServer::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

std::string SharedNatsUrl() {
  const char* env = std::getenv("HERALD_TEST_NATS_URL");
  return env != nullptr ? env : "";
}

JetStreamClient::JetStreamClient(const std::string& url) {
  natsStatus s = natsConnection_ConnectTo(&nc_, url.c_str());
  if (s != NATS_OK) {
    ADD_FAILURE() << "connecting to " << url << ": " << LastError(s);
    nc_ = nullptr;
    return;
  }
  s = natsConnection_JetStream(&js_, nc_, nullptr);
  if (s != NATS_OK) {
    ADD_FAILURE() << "JetStream context: " << LastError(s);
    js_ = nullptr;
  }
}

JetStreamClient::~JetStreamClient() {
  if (js_ != nullptr) jsCtx_Destroy(js_);
  if (nc_ != nullptr) {
    natsConnection_Close(nc_);
    natsConnection_Destroy(nc_);
  }
}

bool JetStreamClient::CreateStream(const StreamSpec& spec) {
  if (js_ == nullptr) return false;
  DeleteStream(spec.name);
  std::vector<const char*> subjects;
  for (const std::string& s : spec.subjects) subjects.push_back(s.c_str());
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  cfg.Name = spec.name.c_str();
  cfg.Subjects = subjects.data();
  cfg.SubjectsLen = static_cast<int>(subjects.size());
  cfg.Storage = js_FileStorage;
  if (spec.max_msg_size > 0) cfg.MaxMsgSize = spec.max_msg_size;
  if (spec.max_msgs > 0) {
    cfg.MaxMsgs = spec.max_msgs;
    cfg.Discard = js_DiscardNew;
  }
  if (spec.duplicate_window.count() > 0) {
    cfg.Duplicates = std::chrono::nanoseconds(spec.duplicate_window).count();
  }
  jsStreamInfo* info = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_AddStream(&info, js_, &cfg, nullptr, &code);
  if (s != NATS_OK) {
    ADD_FAILURE() << "creating stream " << spec.name << ": " << LastError(s) << " ("
                  << static_cast<int>(code) << ")";
    return false;
  }
  jsStreamInfo_Destroy(info);
  return true;
}

void JetStreamClient::DeleteStream(const std::string& name) {
  if (js_ == nullptr) return;
  jsErrCode code = static_cast<jsErrCode>(0);
  js_DeleteStream(js_, name.c_str(), nullptr, &code);
}

std::int64_t JetStreamClient::MessageCount(const std::string& stream) {
  if (js_ == nullptr) return -1;
  jsStreamInfo* info = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  if (js_GetStreamInfo(&info, js_, stream.c_str(), nullptr, &code) != NATS_OK) return -1;
  const auto count = static_cast<std::int64_t>(info->State.Msgs);
  jsStreamInfo_Destroy(info);
  return count;
}

std::vector<StoredMessage> JetStreamClient::ReadAll(const std::string& stream,
                                                    const std::string& filter, std::size_t count,
                                                    std::chrono::milliseconds timeout) {
  std::vector<StoredMessage> out;
  if (js_ == nullptr) return out;
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = stream.c_str();
  so.Config.AckPolicy = js_AckNone;
  so.Config.DeliverPolicy = js_DeliverAll;
  natsSubscription* sub = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_SubscribeSync(&sub, js_, filter.c_str(), nullptr, &so, &code);
  if (s != NATS_OK) {
    ADD_FAILURE() << "subscribing to stream " << stream << ": " << LastError(s);
    return out;
  }
  natsSubscription_SetPendingLimits(sub, -1, -1);
  while (out.size() < count) {
    natsMsg* msg = nullptr;
    s = natsSubscription_NextMsg(&msg, sub, timeout.count());
    if (s != NATS_OK) break;
    StoredMessage m;
    m.subject = natsMsg_GetSubject(msg);
    m.data.assign(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg)));
    const char** keys = nullptr;
    int nkeys = 0;
    if (natsMsgHeader_Keys(msg, &keys, &nkeys) == NATS_OK) {
      for (int i = 0; i < nkeys; ++i) {
        const char* value = nullptr;
        if (natsMsgHeader_Get(msg, keys[i], &value) == NATS_OK) m.headers[keys[i]] = value;
      }
      std::free(static_cast<void*>(keys));
    }
    jsMsgMetaData* meta = nullptr;
    if (natsMsg_GetMetaData(&meta, msg) == NATS_OK) {
      m.sequence = meta->Sequence.Stream;
      jsMsgMetaData_Destroy(meta);
    }
    out.push_back(std::move(m));
    natsMsg_Destroy(msg);
  }
  natsSubscription_Unsubscribe(sub);
  natsSubscription_Destroy(sub);
  return out;
}

}  // namespace herald::publish::testing
