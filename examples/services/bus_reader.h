// What a consumer service reads from the bus: one message at a time, each
// turned into the event id of its CloudEvents `id` attribute (or the bus's
// de-duplication field that carries it), its key and its payload. A reader
// starts at the beginning of what the bus holds for it and acknowledges or
// commits nothing: a new reader delivers every message again, as after a
// consumer's crash, and the inbox is what makes a second reading harmless.
//
// Thread-compatible: one thread at a time.
#ifndef HERALD_EXAMPLES_SERVICES_BUS_READER_H_
#define HERALD_EXAMPLES_SERVICES_BUS_READER_H_

#include <chrono>
#include <optional>
#include <string>

#include "herald/event.h"
#include "herald/status.h"

namespace herald::examples {

struct BusMessage {
  EventId id;
  std::string key;
  std::string payload;
};

class BusReader {
 public:
  virtual ~BusReader() = default;
  // The next message, or nullopt when none came within `timeout`. A message
  // without a valid event id is InvalidArgument (skip it). Transport errors
  // are the client library's to ride out and are not reported.
  virtual Result<std::optional<BusMessage>> Poll(std::chrono::milliseconds timeout) = 0;
};

}  // namespace herald::examples

#endif  // HERALD_EXAMPLES_SERVICES_BUS_READER_H_
