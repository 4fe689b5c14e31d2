// The `http://` and `https://` publisher: webhooks, on libcurl.
//
// Single mode (the default): each event is one POST to the URL of its topic
// and key (HttpConfig::url_template with {topic} and {key} percent-encoded),
// in the CloudEvents HTTP binding's binary content mode: the body is the
// payload, `content-type` the event's content type, `ce-id`, `ce-type`,
// `ce-source`, `ce-time`, `ce-specversion`, `ce-subject` (the key, when
// there is one), `Idempotency-Key` = the event id, then the event's own
// headers. Batch mode (`herald.batch=true`): the events of one call that go
// to the same URL are one POST of application/cloudevents-batch+json (at
// most `herald.batch_max_events` each), and every event of it has the
// request's outcome. With a signing secret every request carries the
// Standard Webhooks headers `webhook-id` (the event id, or the batch id),
// `webhook-timestamp` and `webhook-signature`.
//
// Outcomes: a 2xx response -> kPublished; 408, 429 and 5xx, a timeout, a
// connection lost before the response -> kRetry (a 429's or 503's
// Retry-After also holds the publisher's next requests back, up to
// `herald.retry_after_max_ms`); no connection to be had (refused, no such
// host, a connect timeout, a TLS handshake or certificate failure) ->
// kUnavailable; any other status -> kRejected with the status line and the
// start of the body (at most 200 bytes). See docs/http.md.
//
// Threads: one thread of the publisher's own drives a curl multi handle
// (HTTP/1.1 keep-alive; HTTP/2 multiplexing where an https:// server offers
// it), with at most `herald.max_in_flight` requests in flight across every
// call. Publish() only queues. The destructor joins the thread.
#ifndef HERALD_PUBLISH_HTTP_HTTP_PUBLISHER_H_
#define HERALD_PUBLISH_HTTP_HTTP_PUBLISHER_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <string_view>
#include <thread>

#include "herald/event.h"
#include "herald/publisher.h"
#include "herald/status.h"
#include "publish/http/http_config.h"

namespace herald::publish {

class HttpPublisher final : public Publisher {
 public:
  // Parses `url` and `options` (see ParseHttpConfig), checks the TLS files,
  // and starts the publisher's thread. InvalidArgument for a bad URL or
  // option, a secret that cannot be read, or a TLS file that cannot be read.
  // It does not connect: the first request does.
  static Result<std::unique_ptr<HttpPublisher>> Open(std::string_view url,
                                                     const PublisherOptions& options);

  // Reports the events of requests not yet started kRetry, waits for the
  // requests in flight (each bounded by `herald.request_timeout_ms`), and
  // joins the publisher's thread. No callback runs after it returns.
  ~HttpPublisher() override;
  HttpPublisher(const HttpPublisher&) = delete;
  HttpPublisher& operator=(const HttpPublisher&) = delete;

  // keeps_key_order: false. Requests run concurrently, and after a failure
  // a later event of the same key may already have been accepted, so the
  // relay keeps one event per key in flight. deduplicates_by_id: false. The
  // endpoint is not Herald's; it is expected to drop a second request of the
  // same Idempotency-Key / webhook-id, but nothing here can promise it.
  Guarantees guarantees() const override;

  // Queues the call for the publisher's thread and returns. Deliveries come
  // on that thread.
  // REQUIRES: one caller at a time.
  void Publish(std::span<const Event> events, DeliveryCallback on_delivery) override;

  // Requests started so far (each attempt of a request counts).
  std::uint64_t requests() const { return requests_.load(); }

 private:
  struct Call;
  class Worker;

  explicit HttpPublisher(HttpConfig config);

  const HttpConfig config_;
  std::mutex mu_;
  std::deque<std::shared_ptr<Call>> queue_;  // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  std::atomic<std::uint64_t> requests_{0};
  std::unique_ptr<Worker> worker_;
  std::thread thread_;
};

}  // namespace herald::publish

#endif  // HERALD_PUBLISH_HTTP_HTTP_PUBLISHER_H_
