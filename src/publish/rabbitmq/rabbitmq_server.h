// Test support: a RabbitMQ node of the caller's own (its own loopback ports
// and directory, so that a test may kill it), the node a test run shares
// (HERALD_TEST_RABBITMQ_URL, started by scripts/rabbitmq.sh), and an
// independent AMQP client, on a plain rabbitmq-c connection of its own, to
// set up exchanges and queues and read back what a queue holds.
#ifndef HERALD_PUBLISH_RABBITMQ_RABBITMQ_SERVER_H_
#define HERALD_PUBLISH_RABBITMQ_RABBITMQ_SERVER_H_

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

typedef struct amqp_connection_state_t_* amqp_connection_state_t;

namespace herald::publish::testing {

// A rabbitmq-server child process (in a session of its own) on 127.0.0.1,
// with an epmd of its own. Not thread-safe.
class RabbitMqServer {
 public:
  // Picks free ports (AMQP, distribution, epmd) and a fresh directory.
  // `config` lines (rabbitmq.conf syntax, e.g. "max_message_size = 4096")
  // go into the node's configuration file.
  explicit RabbitMqServer(std::vector<std::string> config = {});
  // Kills the node and its epmd and removes its directory.
  ~RabbitMqServer();
  RabbitMqServer(const RabbitMqServer&) = delete;
  RabbitMqServer& operator=(const RabbitMqServer&) = delete;

  // Starts the node (again, on the same ports and storage) and waits until
  // it answers AMQP. False, with the reason in `error`, if it does not
  // within 40 s.
  bool Start(std::string* error = nullptr);
  // SIGKILL to the node's whole session, then waits for it to end. No-op
  // when not running.
  void Kill();
  bool running() const { return pid_ > 0; }
  // SIGSTOP / SIGCONT to the node's whole session: it keeps its connections
  // but answers nothing until resumed.
  void Pause();
  void Resume();
  // `rabbitmqctl close_all_connections`: the broker closes every client
  // connection (connection.close 320). False, with the reason, if
  // rabbitmqctl fails.
  bool CloseAllConnections(std::string* error = nullptr);

  int port() const { return port_; }
  // "amqp://guest:guest@127.0.0.1:PORT/".
  std::string url() const;

 private:
  std::filesystem::path dir_;
  int port_ = 0;
  int dist_port_ = 0;
  int epmd_port_ = 0;
  pid_t pid_ = -1;
  bool started_ = false;  // its epmd is to be stopped
};

// A free TCP port on 127.0.0.1 (for a second listener of a node).
int FreeLocalPort();

// A test CA and a server certificate it signed for "localhost" (PEM files
// ca.pem, server.pem, server.key in `dir`, made with the openssl command).
// False when openssl fails.
bool MakeTestCertificates(const std::filesystem::path& dir);

// "amqp://..." from HERALD_TEST_RABBITMQ_URL, or "" when unset.
std::string SharedRabbitMqUrl();

// One message as a consumer reads it.
struct AmqpMessage {
  std::string exchange;
  std::string routing_key;
  std::string body;
  std::string message_id;
  std::string type;
  std::string content_type;
  std::string app_id;
  std::uint64_t timestamp = 0;
  int delivery_mode = 0;
  std::map<std::string, std::string> headers;  // string-valued entries
};

// Every failure is reported as a GoogleTest failure.
class AmqpClient {
 public:
  explicit AmqpClient(const std::string& url);
  ~AmqpClient();
  AmqpClient(const AmqpClient&) = delete;
  AmqpClient& operator=(const AmqpClient&) = delete;

  bool ok() const { return conn_ != nullptr; }
  bool DeclareExchange(const std::string& name, const std::string& type = "topic");
  void DeleteExchange(const std::string& name);
  // A durable queue, emptied when it exists.
  bool DeclareQueue(const std::string& name);
  bool Bind(const std::string& queue, const std::string& exchange, const std::string& key);
  void DeleteQueue(const std::string& name);
  // How many messages `queue` holds; -1 on error.
  std::int64_t MessageCount(const std::string& queue);
  // Takes (basic.get, then ack) every message of `queue` in queue order;
  // stops at `count` messages or after `timeout` without one. With `take`
  // false nothing is acked: the broker puts the messages back, in their
  // places, when this client closes.
  std::vector<AmqpMessage> ReadAll(const std::string& queue, std::size_t count,
                                   std::chrono::milliseconds timeout = std::chrono::seconds(5),
                                   bool take = true);

 private:
  bool Check(const char* what);
  amqp_connection_state_t conn_ = nullptr;
};

}  // namespace herald::publish::testing

#endif  // HERALD_PUBLISH_RABBITMQ_RABBITMQ_SERVER_H_
