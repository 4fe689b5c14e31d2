// Test support: an HTTP endpoint of the test's own, testdata/receiver.py run
// by python3 as a separate process on a loopback port, which records every
// request to a JSON-lines file and answers as scripted rules say (see the
// script). The test reads the file back; the receiver verifies nothing.
#ifndef HERALD_PUBLISH_HTTP_HTTP_RECEIVER_H_
#define HERALD_PUBLISH_HTTP_HTTP_RECEIVER_H_

#include <sys/types.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace herald::publish::testing {

struct ReceivedRequest {
  std::string method;
  std::string path;
  // First value of each header, names in lower case.
  std::map<std::string, std::string> headers;
  std::string body;
  int status = 0;  // what the receiver answered

  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

// Not thread-safe.
class HttpReceiver {
 public:
  // Picks a free port and a fresh directory. `rules` (a JSON list, see
  // receiver.py) is passed at every start.
  explicit HttpReceiver(std::string rules = "[]");
  // Kills the receiver and removes its directory.
  ~HttpReceiver();
  HttpReceiver(const HttpReceiver&) = delete;
  HttpReceiver& operator=(const HttpReceiver&) = delete;

  // Starts the receiver (again, on the same port and log) and waits until it
  // accepts connections. False, with the reason in `error`, if it does not
  // within 10 s.
  bool Start(std::string* error = nullptr);
  // SIGKILL, then waits for the process. No-op when not running.
  void Kill();
  bool running() const { return pid_ > 0; }

  // Replaces the rules of the running receiver. False on failure.
  bool SetRules(const std::string& rules);
  // For the next Start().
  void set_rules(std::string rules) { rules_ = std::move(rules); }
  // HTTPS from the next Start() on, with a certificate for 127.0.0.1 and
  // localhost signed by itself (made with the openssl command); false when
  // it cannot be made. ca() is the file to trust.
  bool UseTls(std::string* error = nullptr);
  std::string ca() const { return (dir_ / "cert.pem").string(); }

  int port() const { return port_; }
  // "http://127.0.0.1:PORT" + path ("https://" once UseTls()).
  std::string url(const std::string& path = "/") const;
  const std::filesystem::path& log() const { return log_; }

  // Every request recorded so far, in the order they were received.
  std::vector<ReceivedRequest> Requests() const;

  // Runs testdata/verify_signatures.py over the log with `secret`
  // ("whsec_..."); true when every request is signed correctly. Its output
  // goes to `output`.
  bool VerifySignatures(const std::string& secret, std::string* output) const;

 private:
  std::filesystem::path dir_;
  std::filesystem::path log_;
  std::string rules_;
  bool tls_ = false;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace herald::publish::testing

#endif  // HERALD_PUBLISH_HTTP_HTTP_RECEIVER_H_
