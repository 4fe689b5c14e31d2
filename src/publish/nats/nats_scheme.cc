// The scheme of the NATS folder:
// "nats://[USER:PASSWORD@]HOST:PORT[,HOST:PORT...]" (docs/nats.md).
#include <array>
#include <span>

#include "publish/nats/nats_publisher.h"
#include "publish/scheme.h"

namespace herald::publish::nats {
namespace {

constexpr std::array kSchemes = {
    Scheme{{"nats", "nats://HOST:PORT[,HOST:PORT...]", "docs/nats.md"}, OpenAs<NatsPublisher>},
};

}  // namespace

std::span<const Scheme> Schemes() { return kSchemes; }

}  // namespace herald::publish::nats
