// Copyright (c) Herald authors. Licensed under the Apache License 2.0.
//
// The libpqxx adapter of the PostgreSQL write side: enqueue an event inside
// the application's own pqxx transaction.
//
//   pqxx::work tx(conn);
//   tx.exec_params("INSERT INTO transactions ...", ...);
//   herald::Status s = herald::postgres::Enqueue(tx, herald::Event::Make(
//       "transactions", account_id, "TransactionCreated", json));
//   if (s.ok()) tx.commit();   // else the transaction is aborted when tx goes
//
// Header-only, so it builds with the application's own libpqxx (6.4 or
// newer). It calls the schema's SQL function <schema>.enqueue(...) (see
// docs/postgres.md). This is the one Herald header that includes a
// third-party header, <pqxx/pqxx>; include it only where libpqxx is used.
#ifndef HERALD_POSTGRES_PQXX_H_
#define HERALD_POSTGRES_PQXX_H_

#include <pqxx/pqxx>

#include <chrono>
#include <cstdint>
#include <exception>
#include <string>
#include <string_view>

#include "herald/event.h"
#include "herald/postgres.h"
#include "herald/status.h"

namespace herald::postgres {
namespace pqxx_detail {

inline bool IsSchemaName(std::string_view schema) {
  if (schema.empty() || schema.size() > 48 || (schema[0] >= '0' && schema[0] <= '9')) {
    return false;
  }
  for (char c : schema) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

inline void AppendJsonString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      out += "\\u00";
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    } else {
      out += c;
    }
  }
  out += '"';
}

// The headers as a JSON object (PostgreSQL checks the UTF-8).
inline std::string HeadersJson(const Headers& headers) {
  std::string out = "{";
  for (const auto& [name, value] : headers) {
    if (out.size() > 1) out += ',';
    AppendJsonString(out, name);
    out += ':';
    AppendJsonString(out, value);
  }
  out += '}';
  return out;
}

inline std::string Hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) {
    const auto u = static_cast<unsigned char>(c);
    out += kHex[u >> 4];
    out += kHex[u & 0xf];
  }
  return out;
}

// Same mapping as the libpq write side.
inline Status FromSqlState(const std::string& state, const std::string& what) {
  if (state == "23505") return AlreadyExists(what);
  if (state == "40001" || state == "40P01") return Aborted(what);
  if (state == "42P01" || state == "42883" || state == "3F000") {
    return FailedPrecondition(what + "; Herald's schema is missing: run `herald migrate`");
  }
  if (state.rfind("08", 0) == 0 || state.rfind("57P", 0) == 0 || state.rfind("53", 0) == 0) {
    return Unavailable(what);
  }
  if (state.rfind("22", 0) == 0 || state.rfind("23", 0) == 0) return InvalidArgument(what);
  return Internal(what);
}

inline std::string FirstLine(const char* what) {
  std::string s(what);
  std::size_t nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

}  // namespace pqxx_detail

// Inserts `event` into the outbox inside `tx` by calling
// <options.schema>.enqueue(...). Validate(event) runs first; nothing is sent
// if it fails. Errors as in postgres.h: InvalidArgument, AlreadyExists for a
// duplicate id, Aborted for serialization failures and deadlocks,
// FailedPrecondition when the schema is missing, Unavailable when the
// connection is lost. After any database error PostgreSQL has failed the
// transaction: abort it (let `tx` go out of scope) and retry as the code says.
// Never throws.
inline Status Enqueue(pqxx::transaction_base& tx, const Event& event,
                      const EnqueueOptions& options = {}) {
  if (Status s = Validate(event, options.max_payload_bytes); !s.ok()) return s;
  if (!pqxx_detail::IsSchemaName(options.schema)) {
    return InvalidArgument("invalid Herald schema name '" + options.schema + "'");
  }
  const std::string id = event.id.ToString();
  const std::string what = "enqueue event " + id;
  const std::int64_t created_ms =
      event.created_at == TimePoint{}
          ? std::int64_t{-1}
          : std::chrono::duration_cast<std::chrono::milliseconds>(
                event.created_at.time_since_epoch())
                .count();
  const std::string sql =
      "SELECT " + options.schema +
      ".enqueue($1::text, $2::text, $3::text, decode($4::text, 'hex'), $5::text, $6::jsonb, "
      "$7::uuid, CASE WHEN $8::int8 < 0 THEN NULL "
      "ELSE 'epoch'::timestamptz + $8::int8 * interval '1 millisecond' END)";
  try {
    tx.exec_params(sql, event.topic, event.key, event.type, pqxx_detail::Hex(event.payload),
                   event.content_type, pqxx_detail::HeadersJson(event.headers), id, created_ms);
    return OkStatus();
  } catch (const pqxx::broken_connection& e) {
    return Unavailable(what + ": " + pqxx_detail::FirstLine(e.what()));
  } catch (const pqxx::sql_error& e) {
    return pqxx_detail::FromSqlState(e.sqlstate(),
                                     what + ": " + pqxx_detail::FirstLine(e.what()));
  } catch (const pqxx::in_doubt_error& e) {
    return InDoubt(what + ": " + pqxx_detail::FirstLine(e.what()));
  } catch (const std::exception& e) {
    return Internal(what + ": " + pqxx_detail::FirstLine(e.what()));
  }
}

}  // namespace herald::postgres

#endif  // HERALD_POSTGRES_PQXX_H_
