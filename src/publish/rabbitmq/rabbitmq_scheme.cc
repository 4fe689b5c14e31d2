// The schemes of the RabbitMQ folder: "amqp://USER:PASSWORD@HOST:PORT/VHOST"
// and "amqps://..." (TLS); docs/rabbitmq.md.
#include <array>
#include <span>

#include <amqp.h>

#include <string>

#include "publish/rabbitmq/rabbitmq_publisher.h"
#include "publish/scheme.h"

namespace herald::publish::rabbitmq {
namespace {

std::string Library() { return std::string("rabbitmq-c ") + amqp_version(); }

constexpr std::array kSchemes = {
    Scheme{"amqp", "amqp://USER:PASSWORD@HOST:PORT/VHOST", "docs/rabbitmq.md",
           OpenAs<RabbitMqPublisher>, Library},
    Scheme{"amqps", "amqps://USER:PASSWORD@HOST:PORT/VHOST", "docs/rabbitmq.md",
           OpenAs<RabbitMqPublisher>, Library},
};

}  // namespace

std::span<const Scheme> Schemes() { return kSchemes; }

}  // namespace herald::publish::rabbitmq
