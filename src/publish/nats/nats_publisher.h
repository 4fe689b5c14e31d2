// The `nats://host:port[,host:port...]` publisher: NATS JetStream, on cnats.
//
// Each event becomes one message published to JetStream: subject = the
// event's topic (after herald.subject.prefix), data = the payload, headers
// Nats-Msg-Id = the event id (the server drops a second message with the
// same id inside the stream's duplicate window), CloudEvents binary-mode
// headers ce-id, ce-type, ce-source, ce-time, ce-specversion, ce-subject
// (the key, when there is one) and content-type, then the event's own
// headers.
//
// Publishing is asynchronous, with at most herald.max_pending messages
// waiting for their acks. An event is kPublished only when its JetStream
// ack arrives (also when the ack says the server dropped it as a duplicate:
// the stream holds it). No stream for the subject (no responders), or the
// stream refusing the message (too large, limits, sealed...), or the
// server's permissions refusing the publish -> kRejected with the server's
// reason; no ack within herald.ack_timeout_ms, or no
// connection -> kUnavailable when the call as a whole met no server (or the
// connection is down now), else kRetry; anything else -> kRetry. cnats
// reconnects by itself, forever; a connection it gives up (credentials
// refused twice) is made anew by the next Publish(). See docs/nats.md.
#ifndef HERALD_PUBLISH_NATS_NATS_PUBLISHER_H_
#define HERALD_PUBLISH_NATS_NATS_PUBLISHER_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include <nats/status.h>  // natsStatus, for the error callback's signature

#include "herald/event.h"
#include "herald/publisher.h"
#include "herald/status.h"
#include "publish/common/cloud_events.h"
#include "publish/nats/nats_config.h"

typedef struct __natsConnection natsConnection;
typedef struct __natsMsg natsMsg;
typedef struct __natsSubscription natsSubscription;
typedef struct __jsCtx jsCtx;
typedef struct jsPubAck jsPubAck;
typedef struct jsPubAckErr jsPubAckErr;

namespace herald::publish {

class NatsPublisher final : public Publisher {
 public:
  // Parses `url` and `options` (see ParseNatsConfig) and starts connecting.
  // InvalidArgument for a bad URL or option, or options cnats refuses (an
  // unreadable creds or certificate file). A server that cannot be reached
  // now is no error: the connection keeps trying in the background, and
  // until it succeeds deliveries are kUnavailable.
  static Result<std::unique_ptr<NatsPublisher>> Open(std::string_view url,
                                                     const PublisherOptions& options);

  // Waits (up to the ack timeout) for outstanding acks, reports what is
  // left kRetry, and closes the connection.
  ~NatsPublisher() override;
  NatsPublisher(const NatsPublisher&) = delete;
  NatsPublisher& operator=(const NatsPublisher&) = delete;

  // keeps_key_order: false. Messages already handed to cnats when one of
  // them fails may still land (from cnats's reconnect buffer, or because
  // only the ack was lost), so a failure cannot stop what follows it; the
  // relay then keeps one event per key in flight. deduplicates_by_id: true
  // (Nats-Msg-Id, within the stream's duplicate window).
  Guarantees guarantees() const override;

  // Publishes every event asynchronously and returns; blocks only while
  // herald.max_pending messages wait for their acks. Deliveries arrive on
  // cnats's thread, failures of a call once its last event is known.
  // REQUIRES: one caller at a time.
  void Publish(std::span<const Event> events, DeliveryCallback on_delivery) override;

  // How many acks said the server dropped the message as a duplicate of
  // one it already stored (reported kPublished).
  std::uint64_t duplicates() const { return duplicates_.load(); }
  // True while connected to a server.
  bool connected() const;
  // How many times the connection was made anew after cnats closed it.
  int rebuilds() const { return rebuilds_.load(); }

 private:
  class Call;
  class Listener;
  struct Ref {
    Call* call;
    std::size_t index;
  };

  explicit NatsPublisher(NatsConfig config);

  Status Connect();
  // Waits (bounded) for outstanding calls, hands back what still waits for
  // an ack (kRetry) and closes the connection. No-op without one.
  void CloseConnection();
  // Closes the connection cnats gave up and makes a new one.
  void Rebuild();
  // Creates the configured stream if it does not exist. No-op without one,
  // or once it was found or made.
  void EnsureStream();
  // Publishes event `index` of `call`, or reports it failed.
  void PublishOne(Call& call, std::size_t index, const Event& event);
  void Register(natsMsg* msg, Ref ref);
  // The ref of `msg`, removed; nullopt-like {nullptr, 0} if none.
  Ref Take(natsMsg* msg);
  void CallStarted();
  void CallFinished();
  // False on timeout.
  bool WaitForCalls(std::chrono::milliseconds timeout);

  // cnats's callbacks; `closure` is the connection's Listener.
  static void OnDisconnected(natsConnection* nc, void* closure);
  static void OnClosed(natsConnection* nc, void* closure);
  static void OnAsyncError(natsConnection* nc, natsSubscription* sub, natsStatus err,
                           void* closure);
  // Notes that the server refused a publish to `subject` (permissions).
  void Denied(std::string subject);
  // True if the server refused a publish to `subject` lately.
  bool WasDenied(std::string_view subject);
  static void OnAck(jsCtx* js, natsMsg* msg, jsPubAck* ack, jsPubAckErr* error, void* closure);
  void HandleAck(natsMsg* msg, const jsPubAck* ack, const jsPubAckErr* error);

  const NatsConfig config_;
  const CloudEventsOptions cloud_events_;
  // Replaced only by Publish() (Rebuild), when no call is outstanding.
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
  // What cnats's callbacks for nc_ reach this publisher through; outlives
  // it until the connection's last callback has run.
  Listener* listener_ = nullptr;
  std::atomic<bool> stream_ready_{false};
  std::atomic<std::uint64_t> duplicates_{0};
  std::atomic<int> rebuilds_{0};

  std::mutex denied_mu_;
  std::unordered_map<std::string, std::chrono::steady_clock::time_point>
      denied_;  // guarded by denied_mu_

  std::mutex refs_mu_;
  std::unordered_map<natsMsg*, Ref> refs_;  // guarded by refs_mu_

  std::mutex mu_;
  std::condition_variable calls_done_;
  std::size_t outstanding_calls_ = 0;  // guarded by mu_
};

}  // namespace herald::publish

#endif  // HERALD_PUBLISH_NATS_NATS_PUBLISHER_H_
