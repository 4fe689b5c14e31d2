#include "store/postgres/pg.h"

#include <fmt/format.h>

#include <cstring>

namespace herald::pg_internal {
namespace {

std::string OneLine(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool space = false;
  for (char c : text) {
    if (c == '\n' || c == '\r' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space && c != ' ') out += ' ';
    space = false;
    out += c;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::string WithContext(std::string_view context, std::string_view message) {
  return context.empty() ? std::string(message) : fmt::format("{}: {}", context, message);
}

Code CodeForSqlState(std::string_view state, Code conflict_code) {
  if (state == "23505") return Code::kAlreadyExists;
  if (state == "40001" || state == "40P01") return conflict_code;
  if (state == "42P01" || state == "3F000") return Code::kFailedPrecondition;
  if (state == "55P03" || state == "57014") return Code::kUnavailable;
  if (state.starts_with("08") || state.starts_with("57P") || state.starts_with("53")) {
    return Code::kUnavailable;
  }
  if (state.starts_with("22") || state.starts_with("23")) return Code::kInvalidArgument;
  return Code::kInternal;
}

}  // namespace

std::vector<const char*> Params::Pointers() const {
  std::vector<const char*> out;
  out.reserve(values_.size());
  for (const auto& v : values_) out.push_back(v ? v->c_str() : nullptr);
  return out;
}

std::string ArrayLiteral(std::span<const std::string> items) {
  std::string out = "{";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (char c : items[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

std::string IntArrayLiteral(std::span<const std::int64_t> items) {
  std::string out = "{";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(items[i]);
  }
  out += '}';
  return out;
}

std::string ConnectionMessage(PGconn* conn) {
  if (conn == nullptr) return "out of memory allocating a connection";
  std::string message = OneLine(PQerrorMessage(conn));
  return message.empty() ? "connection to PostgreSQL lost" : message;
}

Status NoSchemaError(std::string_view schema) {
  return FailedPrecondition(fmt::format(
      "database has no Herald schema '{}'; run `herald migrate --db postgres://...`", schema));
}

Status MapError(PGconn* conn, const PGresult* res, std::string_view context, Code conflict_code) {
  if (PQstatus(conn) == CONNECTION_BAD) {
    return Unavailable(WithContext(context, ConnectionMessage(conn)));
  }
  const char* state = res != nullptr ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  const char* primary = res != nullptr ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  std::string message = primary != nullptr ? OneLine(primary) : ConnectionMessage(conn);
  if (state == nullptr) return Unavailable(WithContext(context, message));
  Code code = CodeForSqlState(state, conflict_code);
  if (code == Code::kFailedPrecondition) {
    message += "; Herald's schema is missing: run `herald migrate`";
  }
  return Status(code, WithContext(context, message));
}

namespace {

// `res` if its command succeeded, otherwise the mapped error.
Result<ResultPtr> Succeeded(PGconn* conn, ResultPtr res, std::string_view context,
                            Code conflict_code) {
  ExecStatusType st = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return res;
  return std::unexpected(MapError(conn, res.get(), context, conflict_code));
}

}  // namespace

Result<ResultPtr> Exec(PGconn* conn, std::string_view sql, const Params& params,
                       std::string_view context, Code conflict_code) {
  std::string text(sql);
  std::vector<const char*> values = params.Pointers();
  return Succeeded(conn,
                   ResultPtr(PQexecParams(conn, text.c_str(), params.size(), nullptr,
                                          values.data(), nullptr, nullptr, /*resultFormat=*/1)),
                   context, conflict_code);
}

Status Prepare(PGconn* conn, const std::string& name, std::string_view sql,
               std::string_view context, Code conflict_code) {
  std::string text(sql);
  Result<ResultPtr> res = Succeeded(
      conn, ResultPtr(PQprepare(conn, name.c_str(), text.c_str(), 0, nullptr)), context,
      conflict_code);
  return res ? OkStatus() : res.error();
}

Result<ResultPtr> ExecPrepared(PGconn* conn, const std::string& name, const Params& params,
                               std::string_view context, Code conflict_code) {
  std::vector<const char*> values = params.Pointers();
  return Succeeded(conn,
                   ResultPtr(PQexecPrepared(conn, name.c_str(), params.size(), values.data(),
                                            nullptr, nullptr, /*resultFormat=*/1)),
                   context, conflict_code);
}

Status ExecSimple(PGconn* conn, std::string_view sql, std::string_view context,
                  Code conflict_code) {
  std::string text(sql);
  Result<ResultPtr> res =
      Succeeded(conn, ResultPtr(PQexec(conn, text.c_str())), context, conflict_code);
  return res ? OkStatus() : res.error();
}

bool IsNull(const PGresult* res, int row, int col) { return PQgetisnull(res, row, col) != 0; }

Result<std::int64_t> Int64(const PGresult* res, int row, int col) {
  if (PQgetlength(res, row, col) != 8 || PQfformat(res, col) != 1) {
    return std::unexpected(Internal(
        fmt::format("column {} ('{}') is not a binary bigint", col, PQfname(res, col))));
  }
  const auto* p = reinterpret_cast<const unsigned char*>(PQgetvalue(res, row, col));
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return static_cast<std::int64_t>(v);
}

std::string Bytes(const PGresult* res, int row, int col) {
  return std::string(PQgetvalue(res, row, col),
                     static_cast<std::size_t>(PQgetlength(res, row, col)));
}

bool IsValidSchemaName(std::string_view schema) {
  if (schema.empty() || schema.size() > 48) return false;
  if (schema.front() >= '0' && schema.front() <= '9') return false;
  for (char c : schema) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

Status CheckSchemaName(std::string_view schema) {
  if (IsValidSchemaName(schema)) return OkStatus();
  return InvalidArgument(fmt::format(
      "invalid Herald schema name '{}': use 1 to 48 of a-z, 0-9 and _, not starting with a digit",
      schema));
}

std::string WakeChannel(std::string_view schema) { return fmt::format("{}_wake", schema); }

}  // namespace herald::pg_internal
