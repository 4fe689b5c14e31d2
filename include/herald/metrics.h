// Copyright (c) Herald authors. Licensed under the Apache License 2.0.
//
// MetricsServer: a relay's metrics and health checks over HTTP, for
// Prometheus and for Kubernetes probes (herald relay --metrics-address).
//
//   GET /metrics  the Prometheus text format (docs/metrics.md lists every
//                 metric): events published, retried and dead-lettered per
//                 topic, commit-to-confirmed latency, claim and settle
//                 durations, the window, the relay role, the bus breaker,
//                 and, from the store, pending events and the age of the
//                 oldest per topic, dead letters and partitions owned.
//   GET /healthz  200 "ok" while the process serves requests.
//   GET /readyz   200 "ready" when the relay holds its role, the bus is not
//                 down, the store answers and the oldest pending event is
//                 younger than MetricsOptions::ready_max_oldest_age; 503 and
//                 the first reason otherwise.
//
// Usage:
//   auto server = herald::MetricsServer::Start({.address = "9464"});
//   options.listener = &(*server)->listener();
//   herald::Relay relay(store, publisher, options);
//   (*server)->Watch(&relay, stats_store.get());
//   relay.Run();
//   (*server)->Watch(nullptr, nullptr);
#ifndef HERALD_METRICS_H_
#define HERALD_METRICS_H_

#include <chrono>
#include <memory>
#include <string>

#include "herald/relay.h"
#include "herald/relay_listener.h"
#include "herald/status.h"
#include "herald/store.h"

namespace herald {

struct MetricsOptions {
  // Where to listen: "PORT" (on 127.0.0.1), "HOST:PORT" or "[IPV6]:PORT";
  // port 0 takes a free one (see MetricsServer::port()).
  std::string address;
  // /readyz says unready while the oldest pending event is older than this;
  // zero: no such check.
  std::chrono::seconds ready_max_oldest_age{0};
  // A scrape reuses the store's figures of an earlier one this young, so
  // that many scrapers cost the database one query per interval.
  std::chrono::milliseconds store_stats_max_age{1000};
};

class MetricsServer {
 public:
  // Parses options.address and starts serving; /healthz answers from now
  // on. InvalidArgument for a malformed address; Unavailable when it cannot
  // be bound (in use, no such interface).
  static Result<std::unique_ptr<MetricsServer>> Start(const MetricsOptions& options);

  // Stops serving; requests being answered finish first.
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // What the relay reports to (RelayOptions::listener). Lives as long as
  // the server.
  RelayListener& listener();

  // The relay whose stats() the gauges and /readyz read, and the store the
  // backlog figures come from (Store::Stats(), asked from the server's
  // threads one at a time: a connection of its own, read-only will do, not
  // the relay's). nullptr: none (not ready; no backlog figures).
  // Thread-safe. REQUIRES: both outlive the next Watch() call or the server.
  void Watch(const Relay* relay, Store* stats_store);

  // The port it listens on.
  int port() const;

 private:
  class Impl;
  explicit MetricsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace herald

#endif  // HERALD_METRICS_H_
