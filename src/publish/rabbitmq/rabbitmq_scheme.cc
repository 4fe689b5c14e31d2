// The schemes of the RabbitMQ folder: "amqp://USER:PASSWORD@HOST:PORT/VHOST"
// and "amqps://..." (TLS); docs/rabbitmq.md.
#include <array>
#include <span>

#include "publish/rabbitmq/rabbitmq_publisher.h"
#include "publish/scheme.h"

namespace herald::publish::rabbitmq {
namespace {

constexpr std::array kSchemes = {
    Scheme{{"amqp", "amqp://USER:PASSWORD@HOST:PORT/VHOST", "docs/rabbitmq.md"},
           OpenAs<RabbitMqPublisher>},
    Scheme{{"amqps", "amqps://USER:PASSWORD@HOST:PORT/VHOST", "docs/rabbitmq.md"},
           OpenAs<RabbitMqPublisher>},
};

}  // namespace

std::span<const Scheme> Schemes() { return kSchemes; }

}  // namespace herald::publish::rabbitmq
