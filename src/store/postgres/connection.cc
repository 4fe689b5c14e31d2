#include "store/postgres/connection.h"

#include <fmt/format.h>

#include <array>

#include "core/log.h"

namespace herald::pg_internal {

Connection::Connection(std::string conninfo, std::string application_name, std::string what,
                       std::function<Status(PGconn*)> setup)
    : conninfo_(std::move(conninfo)),
      application_name_(std::move(application_name)),
      what_(std::move(what)),
      setup_(std::move(setup)) {}

Result<PGconn*> Connection::Get() {
  if (conn_ != nullptr && PQstatus(conn_.get()) == CONNECTION_OK) return conn_.get();
  if (conn_ != nullptr) Drop(ConnectionMessage(conn_.get()));
  if (failures_ > 0 && std::chrono::steady_clock::now() < next_attempt_) {
    return std::unexpected(
        Unavailable(fmt::format("not connected to PostgreSQL ({}): {}", what_, last_error_)));
  }
  Status s = Connect();
  if (!s.ok()) {
    ++failures_;
    last_error_ = s.message();
    next_attempt_ = std::chrono::steady_clock::now() + backoff_.Delay(failures_, rng_);
    return std::unexpected(s);
  }
  if (lost_) LogInfo("reconnected to PostgreSQL ({})", what_);
  lost_ = false;
  failures_ = 0;
  ever_connected_ = true;
  return conn_.get();
}

Status Connection::Connect() {
  // Keywords before dbname are defaults the URL may override.
  std::array<const char*, 4> keys = {"application_name", "connect_timeout", "dbname", nullptr};
  std::array<const char*, 4> values = {application_name_.c_str(), "5", conninfo_.c_str(),
                                       nullptr};
  ConnPtr conn(PQconnectdbParams(keys.data(), values.data(), /*expand_dbname=*/1));
  if (conn == nullptr || PQstatus(conn.get()) != CONNECTION_OK) {
    std::string message = ConnectionMessage(conn.get());
    if (message.find("does not exist") != std::string::npos) {
      return NotFound(fmt::format("connect to PostgreSQL: {}", message));
    }
    return Unavailable(fmt::format("connect to PostgreSQL: {}", message));
  }
  // Server notices (NOTICE, WARNING) are not errors; keep them off stderr.
  PQsetNoticeProcessor(
      conn.get(), [](void*, const char* message) { LogDebug("PostgreSQL: {}", message); },
      nullptr);
  if (setup_) {
    Status s = setup_(conn.get());
    if (!s.ok()) return s.WithContext("set up the PostgreSQL connection");
  }
  conn_ = std::move(conn);
  ++generation_;
  return OkStatus();
}

void Connection::Observe(const Status& status) {
  if (status.ok() || conn_ == nullptr) return;
  if (PQstatus(conn_.get()) == CONNECTION_BAD) Drop(status.message());
}

void Connection::Drop(std::string_view reason) {
  conn_.reset();
  if (ever_connected_ && !lost_) {
    LogWarning("lost connection to PostgreSQL ({}): {}; reconnecting", what_, reason);
    lost_ = true;
  }
}

}  // namespace herald::pg_internal
