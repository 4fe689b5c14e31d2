// Copyright (c) Herald authors. Licensed under the Apache License 2.0.
//
// cnats connection options made from a NatsConfig: the servers, credentials,
// TLS and timing that every cnats connection of Herald's uses (the
// publisher's, and the example consumers' of `herald demo`). Internal.
#ifndef HERALD_PUBLISH_NATS_NATS_CONNECTION_H_
#define HERALD_PUBLISH_NATS_NATS_CONNECTION_H_

#include <nats/nats.h>

#include <string>

#include "herald/status.h"
#include "publish/nats/nats_config.h"

namespace herald::publish {

// cnats's last error on this thread, or the text of `s`.
std::string NatsLastError(natsStatus s);

// Sets on `opts` the config's servers, name, credentials (user and
// password, token or creds file), TLS, connect timeout, ping interval (two
// pings unanswered: the connection is gone) and endless reconnection with
// its wait, and lets a first connect that fails go on in the background.
// InvalidArgument naming the option cnats refused (a creds or certificate
// file it cannot load, say).
Status SetNatsConnectionOptions(natsOptions* opts, const NatsConfig& config);

}  // namespace herald::publish

#endif  // HERALD_PUBLISH_NATS_NATS_CONNECTION_H_
