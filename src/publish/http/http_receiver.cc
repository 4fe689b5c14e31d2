#include "publish/http/http_receiver.h"


#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <system_error>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/base64.h"
#include "publish/http/webhook_signature.h"

extern char** environ;

namespace herald::publish::testing {
namespace {

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
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

const char* Script(const char* name) {
  static const std::string dir = HERALD_HTTP_TESTDATA_DIR;
  static thread_local std::string path;
  path = dir + "/" + name;
  return path.c_str();
}

}  // namespace

HttpReceiver::HttpReceiver(std::string rules)
    : dir_(std::filesystem::temp_directory_path() /
           fmt::format("herald_http_{}_{}", ::getpid(), FreePort())),
      log_(dir_ / "requests.jsonl"),
      rules_(std::move(rules)),
      port_(FreePort()) {
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
  std::filesystem::create_directories(dir_, ignored);
}

HttpReceiver::~HttpReceiver() {
  Kill();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::string HttpReceiver::url(const std::string& path) const {
  return fmt::format("{}://127.0.0.1:{}{}", tls_ ? "https" : "http", port_, path);
}

bool HttpReceiver::UseTls(std::string* error) {
  const std::string command = fmt::format(
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
      "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout '{}' -out '{}' 2>/dev/null",
      (dir_ / "key.pem").string(), ca());
  if (std::system(command.c_str()) != 0) {
    if (error != nullptr) *error = "openssl req failed";
    return false;
  }
  tls_ = true;
  return true;
}

bool HttpReceiver::Start(std::string* error) {
  if (running()) return true;
  std::vector<std::string> args = {"python3", Script("receiver.py"), "--port",
                                   std::to_string(port_), "--log", log_.string(),
                                   "--rules", rules_};
  if (tls_) {
    for (std::string a : {std::string("--cert"), ca(), std::string("--key"),
                          (dir_ / "key.pem").string()}) {
      args.push_back(a);
    }
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  if (int rc = ::posix_spawnp(&pid, "python3", nullptr, nullptr, argv.data(), environ); rc != 0) {
    if (error != nullptr) *error = fmt::format("cannot start python3: {}", std::strerror(rc));
    return false;
  }
  pid_ = pid;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (Accepts(port_)) return true;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      if (error != nullptr) *error = "receiver.py exited at start";
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (error != nullptr) *error = fmt::format("receiver.py does not accept on port {}", port_);
  Kill();
  return false;
}

void HttpReceiver::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

bool HttpReceiver::SetRules(const std::string& rules) {
  CURL* easy = curl_easy_init();
  if (easy == nullptr) return false;
  const std::string target = url("/__receiver/rules");
  curl_easy_setopt(easy, CURLOPT_URL, target.c_str());
  curl_easy_setopt(easy, CURLOPT_POSTFIELDS, rules.c_str());
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 5000L);
  const CURLcode rc = curl_easy_perform(easy);
  long status = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(easy);
  return rc == CURLE_OK && status == 204;
}

std::vector<ReceivedRequest> HttpReceiver::Requests() const {
  std::vector<ReceivedRequest> out;
  std::ifstream in(log_);
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded()) continue;  // a line cut short by a kill
    ReceivedRequest r;
    r.method = j["method"].get<std::string>();
    r.path = j["path"].get<std::string>();
    for (const auto& h : j["headers"]) {
      r.headers.emplace(h[0].get<std::string>(), h[1].get<std::string>());
    }
    r.body = Base64Decode(j["body_base64"].get<std::string>()).value_or("<bad base64>");
    r.status = j["status"].get<int>();
    out.push_back(std::move(r));
  }
  return out;
}

bool HttpReceiver::VerifySignatures(const std::string& secret, std::string* output) const {
  const std::string command =
      fmt::format("WEBHOOK_SECRET='{}' python3 '{}' '{}' 2>&1", secret,
                  Script("verify_signatures.py"), log_.string());
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return false;
  std::string text;
  char buffer[4096];
  while (std::size_t n = std::fread(buffer, 1, sizeof(buffer), pipe)) text.append(buffer, n);
  const int status = ::pclose(pipe);
  if (output != nullptr) *output = text;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace herald::publish::testing
