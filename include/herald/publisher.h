// Copyright (c) Herald authors. Licensed under the Apache License 2.0.
//
// A Publisher carries events to one bus. It is asynchronous and works in
// batches: Publish() starts a call and reports one Delivery per event, and
// several calls may be in flight at once (the relay keeps a window of them on
// the bus). It never touches a store; the relay engine turns deliveries into
// outbox updates.
#ifndef HERALD_PUBLISHER_H_
#define HERALD_PUBLISHER_H_

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "herald/event.h"
#include "herald/status.h"

namespace herald {

enum class Outcome {
  // The bus confirmed the event (Kafka ack, fsync, JetStream ack...).
  kPublished,
  // This event failed for a reason that may pass; try it again after a
  // backoff. Counts towards RelayOptions::max_attempts.
  kRetry,
  // The bus as a whole cannot be reached. Not the event's fault: the attempt
  // does not count, and the relay backs off before it asks the store again.
  kUnavailable,
  // The bus refused this event for good (too large, not authorised, invalid
  // topic). It goes to the dead-letter table at once.
  kRejected,
};

std::string_view OutcomeName(Outcome outcome);

struct Delivery {
  Outcome outcome = Outcome::kPublished;
  // Why, when the outcome is not kPublished; stored as the event's last error.
  std::string error;
};

// What a publisher promises; the engine relies on exactly this much.
struct Guarantees {
  // Events of one key reach the bus in the order they were handed over, in
  // one call and across calls in flight at the same time. Once one of them is
  // not kPublished, no event of its key handed over after it is kPublished
  // until Resume() names the key: those are reported kRetry, and events
  // already on their way must not land either (a bus that keeps order lets a
  // failure stop what follows it, as Kafka's idempotent producer does). When
  // false, the engine has at most one event per key in flight at a time and
  // never calls Resume().
  bool keeps_key_order = false;
  // The bus drops a second message carrying the same event id.
  bool deduplicates_by_id = false;
};

class Publisher {
 public:
  using DeliveryCallback = std::function<void(std::size_t index, Delivery delivery)>;

  virtual ~Publisher() = default;

  virtual Guarantees guarantees() const = 0;

  // Starts publishing `events` and may return before they are confirmed.
  // Calls `on_delivery(i, ...)` exactly once for every i in
  // [0, events.size()), from any thread, in any order, possibly before
  // Publish returns. `events` and `on_delivery` stay valid until the last
  // call has returned. A publisher reports its own timeouts as deliveries, so
  // every call eventually comes. Publish may be called again before the
  // deliveries of earlier calls have come; it may block while the bus
  // client's own buffer is full, never until earlier calls are confirmed.
  // REQUIRES: one caller at a time.
  virtual void Publish(std::span<const Event> events, DeliveryCallback on_delivery) = 0;

  // For a publisher that keeps key order: the caller has taken into account
  // every failure of `keys` reported so far, so their events handed over from
  // now on may be published again (see Guarantees::keeps_key_order).
  // REQUIRES: the caller of Publish(), between two calls of it.
  virtual void Resume(std::span<const std::string> keys) { static_cast<void>(keys); }
};

struct PublisherOptions {
  // Passed through to the bus client (for Kafka: librdkafka properties).
  std::map<std::string, std::string> properties;
};

// Opens a publisher from a URL whose scheme names the bus: "stdout:",
// "file:PATH", and, as built, "kafka://host:port,..." (docs/kafka.md),
// "nats://host:port,..." (docs/nats.md) and the others PublisherSchemes()
// lists. InvalidArgument for a malformed URL, an unknown scheme or an option
// the bus does not take; the publisher's own error otherwise.
Result<std::unique_ptr<Publisher>> OpenPublisher(std::string_view url,
                                                 const PublisherOptions& options = {});

// One URL scheme OpenPublisher can open in this build.
struct PublisherScheme {
  std::string_view name;  // "nats": URLs start with "nats:"
  std::string_view form;  // the URL's shape, e.g. "nats://HOST:PORT[,HOST:PORT...]"
  std::string_view doc;   // where its options are described, e.g. "docs/nats.md"
  std::string library;    // the client library as linked, "cnats 3.4.1"; empty: Herald's own
};

// Every scheme of this build, in a fixed order ("stdout" and "file" first).
std::vector<PublisherScheme> PublisherSchemes();

}  // namespace herald

#endif  // HERALD_PUBLISHER_H_
