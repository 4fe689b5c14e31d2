#include "services/webhook_endpoint.h"

#include <civetweb.h>

#include <array>
#include <condition_variable>
#include <deque>
#include <optional>
#include <string_view>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace herald::examples {

// The events a reader has not taken yet.
class WebhookEndpoint::Queue {
 public:
  void Push(const std::vector<BusMessage>& messages) {
    {
      std::lock_guard lock(mu_);
      for (const BusMessage& m : messages) messages_.push_back(m);
    }
    cv_.notify_one();
  }
  std::optional<BusMessage> Pop(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return !messages_.empty(); })) return std::nullopt;
    BusMessage m = std::move(messages_.front());
    messages_.pop_front();
    return m;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<BusMessage> messages_;  // guarded by mu_
};

namespace {

class QueueReader final : public BusReader {
 public:
  explicit QueueReader(std::shared_ptr<WebhookEndpoint::Queue> queue) : queue_(std::move(queue)) {}
  Result<std::optional<BusMessage>> Poll(std::chrono::milliseconds timeout) override {
    return queue_->Pop(timeout);
  }

 private:
  std::shared_ptr<WebhookEndpoint::Queue> queue_;
};

int Respond(mg_connection* conn, int status, std::string_view text) {
  mg_printf(conn, "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n\r\n",
            status, status == 204 ? "No Content" : "Bad Request", status == 204 ? 0 : text.size());
  if (status != 204) mg_write(conn, text.data(), text.size());
  return status;
}

std::string Body(mg_connection* conn) {
  std::string body;
  std::array<char, 16384> buf{};
  int n = 0;
  while ((n = mg_read(conn, buf.data(), buf.size())) > 0) body.append(buf.data(), n);
  return body;
}

// The events of one request, or why it cannot be read.
Result<std::vector<BusMessage>> Parse(mg_connection* conn) {
  const char* type = mg_get_header(conn, "Content-Type");
  std::string body = Body(conn);
  std::vector<BusMessage> out;
  if (type != nullptr && std::string_view(type).starts_with("application/cloudevents-batch+json")) {
    nlohmann::json batch = nlohmann::json::parse(body, nullptr, false);
    if (!batch.is_array()) return std::unexpected(InvalidArgument("a batch must be a JSON array"));
    for (const nlohmann::json& e : batch) {
      std::optional<EventId> id;
      if (e.is_object() && e.contains("id") && e["id"].is_string()) {
        id = EventId::Parse(e["id"].get<std::string>());
      }
      if (!id || !e.contains("data")) {
        return std::unexpected(InvalidArgument("a batch member without a valid id or data"));
      }
      BusMessage m;
      m.id = *id;
      if (e.contains("subject") && e["subject"].is_string()) m.key = e["subject"];
      m.payload = e["data"].dump();
      out.push_back(std::move(m));
    }
    return out;
  }
  const char* ce_id = mg_get_header(conn, "ce-id");
  std::optional<EventId> id = ce_id != nullptr ? EventId::Parse(ce_id) : std::nullopt;
  if (!id) return std::unexpected(InvalidArgument("no valid ce-id header"));
  BusMessage m;
  m.id = *id;
  if (const char* key = mg_get_header(conn, "ce-subject"); key != nullptr) m.key = key;
  m.payload = std::move(body);
  out.push_back(std::move(m));
  return out;
}

}  // namespace

Result<std::unique_ptr<WebhookEndpoint>> WebhookEndpoint::Start(const std::string& host,
                                                                int port) {
  std::unique_ptr<WebhookEndpoint> endpoint(new WebhookEndpoint(host, port));
  if (Status s = endpoint->Open(); !s.ok()) return std::unexpected(s);
  return endpoint;
}

WebhookEndpoint::~WebhookEndpoint() { Close(); }

Status WebhookEndpoint::Open() {
  if (ctx_ != nullptr) return OkStatus();
  const std::string ports = fmt::format("{}:{}", host_, port_);
  const char* config[] = {"listening_ports", ports.c_str(), "num_threads", "8",
                          "request_timeout_ms", "10000", "enable_keep_alive", "yes", nullptr};
  mg_callbacks callbacks{};
  callbacks.log_message = [](const mg_connection*, const char*) { return 1; };  // quiet
  mg_init_data init{};
  init.callbacks = &callbacks;
  init.user_data = this;
  init.configuration_options = config;
  std::array<char, 256> text{};
  unsigned code = 0;
  mg_error_data error{&code, text.data(), text.size()};
  ctx_ = mg_start2(&init, &error);
  if (ctx_ == nullptr) {
    return Unavailable(fmt::format("cannot listen on {}: {}", ports,
                                   text[0] != '\0' ? text.data() : "unknown error"));
  }
  mg_set_request_handler(ctx_, "/", &WebhookEndpoint::OnRequest, this);
  std::array<mg_server_port, 2> bound{};
  if (mg_get_server_ports(ctx_, static_cast<int>(bound.size()), bound.data()) > 0) {
    port_ = bound[0].port;  // the same again on the next Open
  }
  return OkStatus();
}

void WebhookEndpoint::Close() {
  if (ctx_ != nullptr) mg_stop(ctx_);
  ctx_ = nullptr;
}

std::unique_ptr<BusReader> WebhookEndpoint::Subscribe() {
  auto queue = std::make_shared<Queue>();
  std::lock_guard lock(mu_);
  queues_.push_back(queue);
  return std::make_unique<QueueReader>(std::move(queue));
}

void WebhookEndpoint::Deliver(std::vector<BusMessage> messages) {
  std::lock_guard lock(mu_);
  for (auto it = queues_.begin(); it != queues_.end();) {
    if (std::shared_ptr<Queue> q = it->lock()) {
      q->Push(messages);
      ++it;
    } else {
      it = queues_.erase(it);
    }
  }
}

int WebhookEndpoint::OnRequest(mg_connection* conn, void* self) {
  const mg_request_info* info = mg_get_request_info(conn);
  if (std::string_view(info->request_method) != "POST") {
    return Respond(conn, 400, "POST the events here\n");
  }
  Result<std::vector<BusMessage>> messages = Parse(conn);
  if (!messages) return Respond(conn, 400, messages.error().message() + "\n");
  static_cast<WebhookEndpoint*>(self)->Deliver(std::move(*messages));
  return Respond(conn, 204, "");
}

}  // namespace herald::examples
