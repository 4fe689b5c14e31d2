// JetStream for the example consumers: a stream of a run's own, and a reader
// of it (bus_reader.h) that starts at the stream's first message through an
// ordered consumer of its own (no durable consumer, nothing acknowledged),
// the event id from the `Nats-Msg-Id` header and the key from `ce-subject`.
#ifndef HERALD_EXAMPLES_SERVICES_NATS_READER_H_
#define HERALD_EXAMPLES_SERVICES_NATS_READER_H_

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "herald/status.h"
#include "publish/nats/nats_config.h"
#include "services/bus_reader.h"

typedef struct __natsConnection natsConnection;
typedef struct __jsCtx jsCtx;
typedef struct __natsSubscription natsSubscription;

namespace herald::examples {

// Creates the stream `name` (file storage) capturing `subject`, replacing a
// stream of that name, on the servers of `config` with its credentials and
// TLS. Unavailable when no server answers; the server's refusal otherwise.
Status CreateNatsStream(const publish::NatsConfig& config, const std::string& name,
                        const std::string& subject);
// Deletes the stream `name`; a stream that is not there is no error.
Status DeleteNatsStream(const publish::NatsConfig& config, const std::string& name);

class NatsStreamReader final : public BusReader {
 public:
  // Reads every message of `stream` from its first.
  static Result<std::unique_ptr<NatsStreamReader>> Open(const publish::NatsConfig& config,
                                                        const std::string& stream);
  ~NatsStreamReader() override;
  NatsStreamReader(const NatsStreamReader&) = delete;
  NatsStreamReader& operator=(const NatsStreamReader&) = delete;

  Result<std::optional<BusMessage>> Poll(std::chrono::milliseconds timeout) override;

 private:
  NatsStreamReader() = default;
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
  natsSubscription* sub_ = nullptr;
};

}  // namespace herald::examples

#endif  // HERALD_EXAMPLES_SERVICES_NATS_READER_H_
