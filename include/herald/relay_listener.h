// Copyright (c) Herald authors. Licensed under the Apache License 2.0.
//
// RelayListener: what a Relay tells an application about its work, for
// metrics and logs of its own (herald relay's Prometheus endpoint is one).
// Every method is called on the relay's engine thread, between two steps of
// its loop: it must return quickly, must not block on the bus or the store,
// and must not call back into the Relay. The default of each does nothing.
#ifndef HERALD_RELAY_LISTENER_H_
#define HERALD_RELAY_LISTENER_H_

#include <chrono>
#include <cstddef>
#include <string_view>

#include "herald/event.h"

namespace herald {

class RelayListener {
 public:
  virtual ~RelayListener() = default;

  // The bus confirmed `event` (kPublished), `age` after event.created_at
  // (when it was enqueued, on the application's clock). It leaves the outbox
  // with the next settlement; a crash before that publishes it again.
  virtual void OnPublished(const Event& event, std::chrono::milliseconds age) {
    static_cast<void>(event);
    static_cast<void>(age);
  }
  // `event` failed and will be tried again after a backoff (kRetry).
  virtual void OnRetry(const Event& event, std::string_view error) {
    static_cast<void>(event);
    static_cast<void>(error);
  }
  // `event` goes to the dead-letter table with `error` (kRejected, or
  // RelayOptions::max_attempts reached).
  virtual void OnDeadLetter(const Event& event, std::string_view error) {
    static_cast<void>(event);
    static_cast<void>(error);
  }
  // A claim returned `events` events in `took`; `ok` false when the store
  // failed it.
  virtual void OnClaim(std::size_t events, std::chrono::microseconds took, bool ok) {
    static_cast<void>(events);
    static_cast<void>(took);
    static_cast<void>(ok);
  }
  // A settlement of `events` outcomes took `took`; `ok` false when the store
  // refused it (it is tried again).
  virtual void OnSettle(std::size_t events, std::chrono::microseconds took, bool ok) {
    static_cast<void>(events);
    static_cast<void>(took);
    static_cast<void>(ok);
  }
  // The bus answered kUnavailable (`available` false: the relay backs off
  // and probes) or answered again after that (`available` true).
  virtual void OnBusState(bool available) { static_cast<void>(available); }
};

}  // namespace herald

#endif  // HERALD_RELAY_LISTENER_H_
