// The bus of one `herald demo` run: where the relay (or the naive service)
// publishes, what Budgets and Analytics read, and whether the demo can take
// it down for the outage. Kafka (librdkafka's mock cluster in this process,
// made anew for each run, or an external cluster), NATS JetStream, RabbitMQ
// and Redis Streams (external servers), as the build has them. See
// docs/demo.md.
#ifndef HERALD_CLI_DEMO_BUS_H_
#define HERALD_CLI_DEMO_BUS_H_

#include <map>
#include <memory>
#include <string>

#include "herald/status.h"
#include "services/bus_reader.h"

namespace herald::cli::demo {

// What the command line says of the bus.
struct BusChoice {
  // --publisher: empty for the mock cluster; else a URL of a bus the demo's
  // consumers can read.
  std::string url;
  // --publisher-option KEY=VALUE: for every client of that bus (Kafka: a
  // librdkafka property; NATS and RabbitMQ: the publisher's options, whose
  // connection settings the consumers share).
  std::map<std::string, std::string> options;
  // Names this invocation's topics on an external bus, so that no run reads
  // another's messages (see DemoBus::Prepare).
  std::string run_id;
  // Set by CheckBusChoice: the demo runs this bus itself (the mock cluster,
  // the webhook endpoint), so it can take it down for the outage.
  bool self_hosted = true;
  // Set by CheckBusChoice: a restarted consumer gets every message again
  // (false for webhooks, which are pushed once).
  bool replays = true;
  // What goes down in the outage ("every broker", "the webhook endpoint").
  std::string outage_subject = "every broker";

  bool external() const { return !url.empty(); }
};

// Checks `choice.url` and its options as the bus would (InvalidArgument in
// one line for a URL or option it refuses, or a bus the demo's consumers
// cannot read) and draws run_id for an external bus.
Status CheckBusChoice(BusChoice& choice);

// "kafka", "nats", "amqp": the schemes the demo runs on in this build, for
// messages.
std::string DemoBusSchemes();

class DemoBus {
 public:
  virtual ~DemoBus() = default;

  // Makes the run's topic ready before anything is published to it: a Kafka
  // topic, a JetStream stream capturing the subject, a fanout exchange with a
  // queue per consumer. `mode` ("naive", "outbox") names it on an external
  // bus: herald-demo-<run_id>-<mode>.
  virtual Status Prepare(const std::string& mode) = 0;
  // Removes what Prepare made where the bus holds it for no one else (the
  // stream, the exchange and queues); Kafka topics stay. Errors are ignored.
  virtual void Remove() {}

  // The topic the Transactions service writes its events with.
  const std::string& topic() const { return topic_; }
  // The URL for `herald relay --publisher` and OpenPublisher.
  virtual std::string url() const = 0;
  // The publisher options of the relay; with `naive`, the naive service's,
  // which give the bus a bounded time for each event.
  virtual std::map<std::string, std::string> PublisherOptions(bool naive) const = 0;
  // A reader of everything the run's topic holds for `consumer`
  // ("budgets", "analytics"), from the beginning.
  virtual Result<std::unique_ptr<examples::BusReader>> OpenReader(
      const std::string& consumer) = 0;

  // Whether the demo can take this bus down (a bus it runs itself).
  virtual bool can_go_down() const { return false; }
  virtual void TakeDown() {}
  virtual void BringUp() {}

  // One line for the report ("librdkafka's mock cluster in this process (3
  // brokers)", "nats://host:4222, streams herald-demo-...").
  virtual std::string Describe() const = 0;

 protected:
  std::string topic_;
};

// The bus of one run, per `choice` (checked).
Result<std::unique_ptr<DemoBus>> MakeDemoBus(const BusChoice& choice);

}  // namespace herald::cli::demo

#endif  // HERALD_CLI_DEMO_BUS_H_
