// The example consumers' side of a webhook: an HTTP endpoint of their own
// (civetweb) that takes the POSTs of Herald's http:// publisher and hands
// every event to each subscribed reader (bus_reader.h). It understands both
// of the publisher's modes: one event a request (CloudEvents binary mode:
// `ce-id` and `ce-subject` headers, the body is the payload) and batches
// (`application/cloudevents-batch+json`: an array of structured events whose
// `data` is the payload). It answers 204 once the events are queued for
// every reader, 400 to a request it cannot read, and nothing at all while
// closed (the sender's connection is refused).
//
// A webhook is pushed, not read: a reader gets what arrives after it
// subscribed, and a new reader gets nothing again.
#ifndef HERALD_EXAMPLES_SERVICES_WEBHOOK_ENDPOINT_H_
#define HERALD_EXAMPLES_SERVICES_WEBHOOK_ENDPOINT_H_

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "herald/status.h"
#include "services/bus_reader.h"

struct mg_context;
struct mg_connection;

namespace herald::examples {

class WebhookEndpoint {
 public:
  // Listens on `host`:`port` (0: any free port) for POSTs to any path.
  // Unavailable when it cannot listen there.
  static Result<std::unique_ptr<WebhookEndpoint>> Start(const std::string& host, int port);
  // Closes, and ends every reader's stream.
  ~WebhookEndpoint();
  WebhookEndpoint(const WebhookEndpoint&) = delete;
  WebhookEndpoint& operator=(const WebhookEndpoint&) = delete;

  // Stops listening (a sender's connections are refused) / listens again on
  // the same port.
  void Close();
  Status Open();

  int port() const { return port_; }

  // A reader of every event that arrives from now on. Thread-safe.
  std::unique_ptr<BusReader> Subscribe();

  class Queue;

 private:
  WebhookEndpoint(std::string host, int port) : host_(std::move(host)), port_(port) {}
  static int OnRequest(mg_connection* conn, void* self);
  // Hands `messages` to every reader subscribed.
  void Deliver(std::vector<BusMessage> messages);

  const std::string host_;
  int port_;
  mg_context* ctx_ = nullptr;
  std::mutex mu_;
  std::vector<std::weak_ptr<Queue>> queues_;  // guarded by mu_
};

}  // namespace herald::examples

#endif  // HERALD_EXAMPLES_SERVICES_WEBHOOK_ENDPOINT_H_
