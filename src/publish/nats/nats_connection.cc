// Copyright (c) Herald authors. Licensed under the Apache License 2.0.
#include "publish/nats/nats_connection.h"

#include <string_view>
#include <vector>

#include <fmt/format.h>

namespace herald::publish {

std::string NatsLastError(natsStatus s) {
  const char* text = nats_GetLastError(nullptr);
  if (text != nullptr && *text != '\0') return text;
  return natsStatus_GetText(s);
}

Status SetNatsConnectionOptions(natsOptions* opts, const NatsConfig& config) {
  std::vector<const char*> servers;
  for (const std::string& s : config.servers) servers.push_back(s.c_str());
  auto check = [](natsStatus s, std::string_view what) -> Status {
    if (s == NATS_OK) return OkStatus();
    return InvalidArgument(fmt::format("nats {}: {}", what, NatsLastError(s)));
  };
  Status s = check(natsOptions_SetServers(opts, servers.data(), static_cast<int>(servers.size())),
                   "servers");
  if (s.ok()) s = check(natsOptions_SetName(opts, config.name.c_str()), "option 'name'");
  if (s.ok() && !config.user.empty()) {
    s = check(natsOptions_SetUserInfo(opts, config.user.c_str(), config.password.c_str()),
              "option 'user'");
  }
  if (s.ok() && !config.token.empty()) {
    s = check(natsOptions_SetToken(opts, config.token.c_str()), "option 'token'");
  }
  if (s.ok() && !config.creds_file.empty()) {
    s = check(natsOptions_SetUserCredentialsFromFiles(opts, config.creds_file.c_str(), nullptr),
              "option 'creds'");
  }
  if (s.ok() && config.tls) s = check(natsOptions_SetSecure(opts, true), "option 'tls'");
  if (s.ok() && !config.tls_ca_file.empty()) {
    s = check(natsOptions_LoadCATrustedCertificates(opts, config.tls_ca_file.c_str()),
              "option 'tls.ca'");
  }
  if (s.ok() && !config.tls_cert_file.empty()) {
    s = check(natsOptions_LoadCertificatesChain(opts, config.tls_cert_file.c_str(),
                                                config.tls_key_file.c_str()),
              "options 'tls.cert'/'tls.key'");
  }
  if (s.ok() && !config.tls_hostname.empty()) {
    s = check(natsOptions_SetExpectedHostname(opts, config.tls_hostname.c_str()),
              "option 'tls.hostname'");
  }
  if (s.ok() && config.tls_skip_verify) {
    s = check(natsOptions_SkipServerVerification(opts, true), "option 'tls.skip_verify'");
  }
  if (s.ok()) {
    s = check(natsOptions_SetTimeout(opts, config.connect_timeout.count()), "connect timeout");
  }
  if (s.ok()) s = check(natsOptions_SetMaxReconnect(opts, -1), "reconnects");
  if (s.ok()) {
    s = check(natsOptions_SetReconnectWait(opts, config.reconnect_wait.count()),
              "option 'reconnect_wait_ms'");
  }
  if (s.ok()) {
    s = check(natsOptions_SetPingInterval(opts, config.ping_interval.count()),
              "option 'ping_interval_ms'");
  }
  if (s.ok()) s = check(natsOptions_SetMaxPingsOut(opts, 2), "pings");
  if (s.ok()) {
    s = check(natsOptions_SetRetryOnFailedConnect(opts, true, nullptr, nullptr),
              "retry on failed connect");
  }
  return s;
}

}  // namespace herald::publish
