// Copyright (c) Herald authors. Licensed under the Apache License 2.0.
//
// Relay moves committed events from a Store to a Publisher: claim due
// events in batches, publish them, then settle (acknowledge the confirmed
// ones, record failures with their next attempt time, dead-letter poison). It
// is the only place that knows about batching, per-key ordering, backoff,
// dead letters and shutdown; it knows no particular database or bus.
//
// Guarantees, given a store and publisher that keep their contracts:
//  - at least once: an event leaves the outbox only after kPublished (I2);
//  - per-key order of first deliveries (I3), with a failing event holding
//    back only later events of its own key;
//  - poison goes to the dead-letter table after kRejected or max_attempts
//    kRetry outcomes (I6);
//  - bounded memory (the window below) and, while the bus is kUnavailable,
//    one probe per backoff interval (I8); a settlement the store refuses is
//    retried with backoff, and nothing new is claimed or published again
//    meanwhile.
//
// The window: several Publish() calls are on the bus at once, up to
// RelayOptions::max_in_flight_events / _bytes held between their claim and
// their settlement. The engine claims the next batch while earlier ones are
// outstanding and settles deliveries as they come, in one store transaction
// for whatever has come, whatever the order of completion. With a publisher
// that keeps key order, events of one key may be in several calls at once; a
// failure holds its key back and makes its later events in flight retries
// (see Guarantees::keeps_key_order). Otherwise at most one event per key is
// on the bus, the next ones wait in memory, and every other key keeps flowing.
#ifndef HERALD_RELAY_H_
#define HERALD_RELAY_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stop_token>

#include "herald/clock.h"
#include "herald/publisher.h"
#include "herald/relay_listener.h"
#include "herald/status.h"
#include "herald/store.h"

namespace herald {

struct RelayOptions {
  // Events claimed per round trip to the store, and at most per Publish().
  std::size_t batch_size = 500;
  // The window: at most this many events are held between their claim and
  // their settlement (on the bus, waiting for an earlier event of their key,
  // or confirmed and not yet settled), and a batch is claimed only while the
  // events held take fewer than `max_in_flight_bytes` (payload, key, topic,
  // type and headers; one batch may go over). batch_size or fewer: one batch
  // at a time.
  std::size_t max_in_flight_events = 10000;
  std::size_t max_in_flight_bytes = 32u << 20;
  // kRetry outcomes after which an event is dead-lettered; 0: never.
  int max_attempts = 10;
  // Backoff of a failing event, of the whole relay while the bus is
  // unavailable or the store fails, and of a settlement the store refused:
  // exponential from `backoff_initial`, capped at `backoff_max`, with full
  // jitter (a uniform draw in [0, computed]).
  std::chrono::milliseconds backoff_initial{200};
  std::chrono::milliseconds backoff_max{30000};
  // Longest idle wait before the store is asked again even without a wake-up.
  // Each duration is taken within [1ms, 24h], and backoff_max at least
  // backoff_initial; sizes below 1 are taken as 1.
  std::chrono::milliseconds poll_interval{1000};
  // After Stop(): how long Run() waits for the deliveries of the calls on
  // the bus before it returns anyway. Events whose delivery has not come stay
  // pending and are published again by the next relay (a duplicate, never a
  // loss); later deliveries of them are ignored.
  std::chrono::milliseconds shutdown_timeout{5000};
  // Run() returns OK once nothing is pending (retries included).
  bool exit_when_drained = false;
  // Wait as a standby while another relay holds the store (see
  // Store::AcquireRelayRole) instead of failing.
  bool standby = false;
  // Time and sleep; nullptr means Clock::Real(). Not owned.
  Clock* clock = nullptr;
  // Seed of the jitter; 0 draws one from std::random_device.
  std::uint64_t seed = 0;
  // Told of every outcome, claim and settlement (see RelayListener);
  // nullptr: nobody. Not owned; must outlive Run().
  RelayListener* listener = nullptr;
};

// Counters since construction. Safe to read from any thread.
struct RelayStats {
  std::uint64_t published = 0;
  std::uint64_t retried = 0;        // kRetry outcomes recorded
  std::uint64_t unavailable = 0;    // kUnavailable outcomes (attempt not counted)
  std::uint64_t dead_lettered = 0;
  std::uint64_t batches = 0;        // Publish() calls
  std::uint64_t claims = 0;         // Store::ClaimDue() calls
  std::uint64_t settles = 0;        // Store::Settle() calls that succeeded
  std::uint64_t settle_failures = 0;
  // The state now.
  bool holds_role = false;          // Run() holds the relay role and relays
  bool bus_down = false;            // backing off after kUnavailable, probing
  bool store_failing = false;       // the last claim or settlement failed
  std::size_t in_flight_events = 0;  // held between claim and settlement
  std::size_t in_flight_bytes = 0;
};

class Relay {
 public:
  // `store` and `publisher` are not owned and must outlive the Relay.
  Relay(Store& store, Publisher& publisher, RelayOptions options = {});
  ~Relay();
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  // Acquires the relay role, then relays until Stop() is called (or, with
  // exit_when_drained, until nothing is pending). On Stop() it hands nothing
  // new to the publisher, waits for the deliveries of the calls in flight,
  // settles them and returns OK: nothing is lost, unsettled events stay
  // pending. Returns an error only for a condition that retrying cannot fix
  // (no schema, role refused); store and bus outages are retried with
  // backoff.
  // REQUIRES: called once, from one thread.
  Status Run();

  // Asks Run() to finish as described above. Thread-safe; returns at once.
  void Stop();

  RelayStats stats() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace herald

#endif  // HERALD_RELAY_H_
