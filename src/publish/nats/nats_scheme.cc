// The scheme of the NATS folder:
// "nats://[USER:PASSWORD@]HOST:PORT[,HOST:PORT...]" (docs/nats.md).
#include <array>
#include <span>

#include <nats/nats.h>

#include <string>

#include "publish/nats/nats_publisher.h"
#include "publish/scheme.h"

namespace herald::publish::nats {
namespace {

std::string Library() { return std::string("cnats ") + nats_GetVersion(); }

constexpr std::array kSchemes = {
    Scheme{"nats", "nats://HOST:PORT[,HOST:PORT...]", "docs/nats.md", OpenAs<NatsPublisher>,
           Library},
};

}  // namespace

std::span<const Scheme> Schemes() { return kSchemes; }

}  // namespace herald::publish::nats
