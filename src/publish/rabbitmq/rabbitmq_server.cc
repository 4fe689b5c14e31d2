#include "publish/rabbitmq/rabbitmq_server.h"

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
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

// True once a connection as guest logs in.
bool AnswersAmqp(int port) {
  amqp_connection_state_t conn = amqp_new_connection();
  amqp_socket_t* socket = amqp_tcp_socket_new(conn);
  timeval tv{1, 0};
  bool ok = false;
  if (socket != nullptr &&
      amqp_socket_open_noblock(socket, "127.0.0.1", port, &tv) == AMQP_STATUS_OK) {
    amqp_set_handshake_timeout(conn, &tv);
    amqp_set_rpc_timeout(conn, &tv);
    amqp_rpc_reply_t reply =
        amqp_login(conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest");
    ok = reply.reply_type == AMQP_RESPONSE_NORMAL;
    if (ok) amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
  }
  amqp_destroy_connection(conn);
  return ok;
}

pid_t Spawn(std::vector<std::string> args, std::vector<std::string> env, bool new_session,
            std::string* error) {
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  std::vector<char*> envp;
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  if (new_session) posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  posix_spawn_file_actions_addopen(&files, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&files, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&files, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, args[0].c_str(), &files, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&files);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    if (error != nullptr) *error = fmt::format("cannot start {}: {}", args[0], std::strerror(rc));
    return -1;
  }
  return pid;
}

std::string Text(amqp_bytes_t b) {
  return b.len == 0 ? std::string() : std::string(static_cast<const char*>(b.bytes), b.len);
}

}  // namespace

RabbitMqServer::RabbitMqServer(std::vector<std::string> config)
    : port_(FreePort()), dist_port_(FreePort()), epmd_port_(FreePort()) {
  dir_ = std::filesystem::temp_directory_path() /
         fmt::format("herald_rabbitmq_{}_{}", ::getpid(), port_);
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
  std::filesystem::create_directories(dir_ / "home", ignored);
  std::filesystem::create_directories(dir_ / "mnesia", ignored);
  std::filesystem::create_directories(dir_ / "log", ignored);
  std::ofstream(dir_ / "enabled_plugins") << "[].\n";
  std::ofstream conf(dir_ / "rabbitmq.conf");
  for (const std::string& line : config) conf << line << "\n";
}

RabbitMqServer::~RabbitMqServer() {
  Kill();
  // epmd refuses -kill while the node it knows has not yet closed its
  // registration (the killed node's sockets close a moment after it ends).
  auto epmd = [this](const char* command) {
    std::string ignored_error;
    pid_t pid = Spawn({"/usr/bin/epmd", command}, {fmt::format("ERL_EPMD_PORT={}", epmd_port_)},
                      false, &ignored_error);
    int status = 0;
    if (pid > 0) ::waitpid(pid, &status, 0);
    return pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  };
  for (int attempt = 0; started_ && attempt < 50; ++attempt) {
    if (epmd("-kill") || !epmd("-names")) break;  // killed, or none is running
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::string RabbitMqServer::url() const {
  return fmt::format("amqp://guest:guest@127.0.0.1:{}/", port_);
}

bool RabbitMqServer::Start(std::string* error) {
  if (running()) return true;
  const std::string binary = "/usr/lib/rabbitmq/bin/rabbitmq-server";
  std::vector<std::string> env = {
      fmt::format("HOME={}", (dir_ / "home").string()),
      fmt::format("RABBITMQ_NODENAME=herald{}@localhost", port_),
      "RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
      fmt::format("RABBITMQ_NODE_PORT={}", port_),
      fmt::format("RABBITMQ_DIST_PORT={}", dist_port_),
      fmt::format("ERL_EPMD_PORT={}", epmd_port_),
      fmt::format("RABBITMQ_MNESIA_BASE={}", (dir_ / "mnesia").string()),
      fmt::format("RABBITMQ_LOG_BASE={}", (dir_ / "log").string()),
      fmt::format("RABBITMQ_ENABLED_PLUGINS_FILE={}", (dir_ / "enabled_plugins").string()),
      fmt::format("RABBITMQ_PID_FILE={}", (dir_ / "rabbit.pid").string()),
      fmt::format("RABBITMQ_CONFIG_FILE={}", (dir_ / "rabbitmq.conf").string()),
  };
  pid_ = Spawn({binary}, env, /*new_session=*/true, error);
  if (pid_ < 0) return false;
  started_ = true;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(40);
  while (std::chrono::steady_clock::now() < deadline) {
    if (AnswersAmqp(port_)) return true;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      if (error != nullptr) *error = fmt::format("{} exited at start; see {}", binary, dir_.string());
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (error != nullptr) *error = fmt::format("{} does not answer on port {}", binary, port_);
  Kill();
  return false;
}

bool RabbitMqServer::CloseAllConnections(std::string* error) {
  pid_t pid = Spawn({"/usr/lib/rabbitmq/bin/rabbitmqctl", "close_all_connections", "herald test"},
                    {fmt::format("HOME={}", (dir_ / "home").string()),
                     fmt::format("RABBITMQ_NODENAME=herald{}@localhost", port_),
                     fmt::format("ERL_EPMD_PORT={}", epmd_port_)},
                    /*new_session=*/false, error);
  if (pid < 0) return false;
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return true;
  if (error != nullptr) *error = "rabbitmqctl close_all_connections failed";
  return false;
}

void RabbitMqServer::Pause() {
  if (pid_ > 0) ::kill(-pid_, SIGSTOP);
}

void RabbitMqServer::Resume() {
  if (pid_ > 0) ::kill(-pid_, SIGCONT);
}

void RabbitMqServer::Kill() {
  if (pid_ <= 0) return;
  ::kill(-pid_, SIGKILL);
  ::kill(-pid_, SIGCONT);  // a paused node dies too
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

int FreeLocalPort() { return FreePort(); }

bool MakeTestCertificates(const std::filesystem::path& dir) {
  std::error_code ignored;
  std::filesystem::create_directories(dir, ignored);
  std::ofstream(dir / "ext.cnf") << "subjectAltName=DNS:localhost\n";
  const std::string d = dir.string();
  const std::string commands = fmt::format(
      "cd '{0}' && "
      "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 "
      "-subj /CN=herald-test-ca && "
      "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr "
      "-subj /CN=localhost && "
      "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
      "-out server.pem -days 2 -extfile ext.cnf",
      d);
  const std::string quiet = "(" + commands + ") >/dev/null 2>&1";
  return std::system(quiet.c_str()) == 0;
}

std::string SharedRabbitMqUrl() {
  const char* env = std::getenv("HERALD_TEST_RABBITMQ_URL");
  return env != nullptr ? env : "";
}

AmqpClient::AmqpClient(const std::string& url) {
  std::string copy = url;
  amqp_connection_info info{};
  if (amqp_parse_url(copy.data(), &info) != AMQP_STATUS_OK) {
    ADD_FAILURE() << "bad URL " << url;
    return;
  }
  conn_ = amqp_new_connection();
  amqp_socket_t* socket = amqp_tcp_socket_new(conn_);
  timeval tv{5, 0};
  if (socket == nullptr ||
      amqp_socket_open_noblock(socket, info.host, info.port, &tv) != AMQP_STATUS_OK) {
    ADD_FAILURE() << "cannot connect to " << url;
    amqp_destroy_connection(conn_);
    conn_ = nullptr;
    return;
  }
  amqp_set_rpc_timeout(conn_, &tv);
  // "amqp://host/" is the default vhost, as Herald reads it.
  const char* vhost = info.vhost == nullptr || *info.vhost == '\0' ? "/" : info.vhost;
  amqp_rpc_reply_t reply = amqp_login(conn_, vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN,
                                      info.user, info.password);
  if (reply.reply_type != AMQP_RESPONSE_NORMAL) {
    ADD_FAILURE() << "cannot log in to " << url;
    amqp_destroy_connection(conn_);
    conn_ = nullptr;
    return;
  }
  amqp_channel_open(conn_, 1);
  if (!Check("channel.open")) return;
}

AmqpClient::~AmqpClient() {
  if (conn_ == nullptr) return;
  amqp_channel_close(conn_, 1, AMQP_REPLY_SUCCESS);
  amqp_connection_close(conn_, AMQP_REPLY_SUCCESS);
  amqp_destroy_connection(conn_);
}

bool AmqpClient::Check(const char* what) {
  amqp_rpc_reply_t reply = amqp_get_rpc_reply(conn_);
  if (reply.reply_type == AMQP_RESPONSE_NORMAL) return true;
  std::string why = reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION
                        ? amqp_error_string2(reply.library_error)
                        : "server exception";
  if (reply.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
      reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
    const auto* m = static_cast<const amqp_channel_close_t*>(reply.reply.decoded);
    why = fmt::format("{} {}", m->reply_code, Text(m->reply_text));
  }
  ADD_FAILURE() << what << ": " << why;
  amqp_destroy_connection(conn_);
  conn_ = nullptr;
  return false;
}

bool AmqpClient::DeclareExchange(const std::string& name, const std::string& type) {
  if (conn_ == nullptr) return false;
  amqp_exchange_declare(conn_, 1, amqp_cstring_bytes(name.c_str()),
                        amqp_cstring_bytes(type.c_str()), 0, /*durable=*/1, 0, 0,
                        amqp_empty_table);
  return Check("exchange.declare");
}

void AmqpClient::DeleteExchange(const std::string& name) {
  if (conn_ == nullptr) return;
  amqp_exchange_delete(conn_, 1, amqp_cstring_bytes(name.c_str()), 0);
  Check("exchange.delete");
}

bool AmqpClient::DeclareQueue(const std::string& name) {
  if (conn_ == nullptr) return false;
  amqp_queue_declare(conn_, 1, amqp_cstring_bytes(name.c_str()), 0, /*durable=*/1, 0, 0,
                     amqp_empty_table);
  if (!Check("queue.declare")) return false;
  amqp_queue_purge(conn_, 1, amqp_cstring_bytes(name.c_str()));
  return Check("queue.purge");
}

bool AmqpClient::Bind(const std::string& queue, const std::string& exchange,
                      const std::string& key) {
  if (conn_ == nullptr) return false;
  amqp_queue_bind(conn_, 1, amqp_cstring_bytes(queue.c_str()),
                  amqp_cstring_bytes(exchange.c_str()), amqp_cstring_bytes(key.c_str()),
                  amqp_empty_table);
  return Check("queue.bind");
}

void AmqpClient::DeleteQueue(const std::string& name) {
  if (conn_ == nullptr) return;
  amqp_queue_delete(conn_, 1, amqp_cstring_bytes(name.c_str()), 0, 0);
  Check("queue.delete");
}

std::int64_t AmqpClient::MessageCount(const std::string& queue) {
  if (conn_ == nullptr) return -1;
  amqp_queue_declare_ok_t* ok = amqp_queue_declare(conn_, 1, amqp_cstring_bytes(queue.c_str()),
                                                   /*passive=*/1, 0, 0, 0, amqp_empty_table);
  if (!Check("queue.declare passive") || ok == nullptr) return -1;
  return ok->message_count;
}

std::vector<AmqpMessage> AmqpClient::ReadAll(const std::string& queue, std::size_t count,
                                             std::chrono::milliseconds timeout, bool take) {
  std::vector<AmqpMessage> out;
  auto last = std::chrono::steady_clock::now();
  while (conn_ != nullptr && out.size() < count) {
    amqp_rpc_reply_t reply = amqp_basic_get(conn_, 1, amqp_cstring_bytes(queue.c_str()), 0);
    if (reply.reply_type != AMQP_RESPONSE_NORMAL) {
      ADD_FAILURE() << "basic.get from " << queue;
      break;
    }
    if (reply.reply.id == AMQP_BASIC_GET_EMPTY_METHOD) {
      if (std::chrono::steady_clock::now() - last > timeout) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    const auto* get = static_cast<const amqp_basic_get_ok_t*>(reply.reply.decoded);
    AmqpMessage m;
    m.exchange = Text(get->exchange);
    m.routing_key = Text(get->routing_key);
    const std::uint64_t tag = get->delivery_tag;
    amqp_message_t message;
    reply = amqp_read_message(conn_, 1, &message, 0);
    if (reply.reply_type != AMQP_RESPONSE_NORMAL) {
      ADD_FAILURE() << "reading a message of " << queue;
      break;
    }
    m.body = Text(message.body);
    const amqp_basic_properties_t& p = message.properties;
    if (p._flags & AMQP_BASIC_MESSAGE_ID_FLAG) m.message_id = Text(p.message_id);
    if (p._flags & AMQP_BASIC_TYPE_FLAG) m.type = Text(p.type);
    if (p._flags & AMQP_BASIC_CONTENT_TYPE_FLAG) m.content_type = Text(p.content_type);
    if (p._flags & AMQP_BASIC_APP_ID_FLAG) m.app_id = Text(p.app_id);
    if (p._flags & AMQP_BASIC_TIMESTAMP_FLAG) m.timestamp = p.timestamp;
    if (p._flags & AMQP_BASIC_DELIVERY_MODE_FLAG) m.delivery_mode = p.delivery_mode;
    if (p._flags & AMQP_BASIC_HEADERS_FLAG) {
      for (int i = 0; i < p.headers.num_entries; ++i) {
        const amqp_table_entry_t& e = p.headers.entries[i];
        if (e.value.kind == AMQP_FIELD_KIND_UTF8 || e.value.kind == AMQP_FIELD_KIND_BYTES) {
          m.headers[Text(e.key)] = Text(e.value.value.bytes);
        }
      }
    }
    amqp_destroy_message(&message);
    if (take) amqp_basic_ack(conn_, 1, tag, 0);
    amqp_maybe_release_buffers(conn_);
    out.push_back(std::move(m));
    last = std::chrono::steady_clock::now();
  }
  return out;
}

}  // namespace herald::publish::testing
