#include "store/postgres/schema.h"

#include <fmt/format.h>

#include <iterator>
#include <string>

#include "core/macros.h"
#include "herald/postgres.h"
#include "store/postgres/pg.h"

namespace herald::pg_internal {
namespace {

// Version 1. {s}: the schema; {p}: the partition count; {channel}: the
// wake-up channel. Every object lives in the schema.
constexpr const char* kSchemaV1 = R"sql(
CREATE SCHEMA IF NOT EXISTS {s};

CREATE TABLE {s}.config (
  version    int         NOT NULL,
  partitions int         NOT NULL CHECK (partitions BETWEEN 1 AND 4096),
  applied_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO {s}.config (version, partitions) VALUES (1, {p});

CREATE TABLE {s}.outbox (
  seq             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  event_id        uuid        NOT NULL UNIQUE,
  topic           text        NOT NULL CHECK (topic <> '' AND octet_length(topic) <= 255),
  key             text        NOT NULL DEFAULT '' CHECK (octet_length(key) <= 255),
  type            text        NOT NULL DEFAULT '' CHECK (octet_length(type) <= 255),
  payload         bytea       NOT NULL,
  content_type    text        NOT NULL DEFAULT 'application/json',
  headers         jsonb       NOT NULL DEFAULT '{{}}' CHECK (jsonb_typeof(headers) = 'object'),
  created_at      timestamptz NOT NULL DEFAULT now(),
  partition       int         NOT NULL GENERATED ALWAYS AS (
                    ((('x' || substr(md5(CASE WHEN key = '' THEN event_id::text ELSE key END),
                                     1, 8))::bit(32)::int & 2147483647) % {p})) STORED,
  attempts        int         NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT 'epoch',
  last_error      text
);
CREATE INDEX outbox_claim ON {s}.outbox (partition, seq);
CREATE INDEX outbox_key_due ON {s}.outbox (key, next_attempt_at);

CREATE TABLE {s}.dead_letters (
  seq          bigint      PRIMARY KEY,
  event_id     uuid        NOT NULL UNIQUE,
  topic        text        NOT NULL,
  key          text        NOT NULL,
  type         text        NOT NULL,
  payload      bytea       NOT NULL,
  content_type text        NOT NULL,
  headers      jsonb       NOT NULL,
  created_at   timestamptz NOT NULL,
  attempts     int         NOT NULL,
  last_error   text        NOT NULL,
  failed_at    timestamptz NOT NULL
);
CREATE INDEX dead_letters_topic ON {s}.dead_letters (topic);

CREATE TABLE {s}.relays (
  relay_id     text        PRIMARY KEY,
  started_at   timestamptz NOT NULL DEFAULT now(),
  heartbeat_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE {s}.partitions (
  partition   int         PRIMARY KEY,
  owner       text,
  epoch       bigint      NOT NULL DEFAULT 0,
  lease_until timestamptz
);
INSERT INTO {s}.partitions (partition) SELECT generate_series(0, {p} - 1);

-- A UUIDv7: 48 bits of Unix milliseconds from clock_timestamp(), version 7,
-- the rest random.
CREATE FUNCTION {s}.uuid_v7() RETURNS uuid LANGUAGE sql VOLATILE AS $$
  SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
           PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint)
                             FROM 3)
           FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid
$$;

CREATE FUNCTION {s}.enqueue(topic text, key text, type text, payload bytea,
                            content_type text DEFAULT 'application/json',
                            headers jsonb DEFAULT '{{}}', event_id uuid DEFAULT NULL,
                            created_at timestamptz DEFAULT NULL)
RETURNS uuid LANGUAGE sql VOLATILE AS $$
  INSERT INTO {s}.outbox (event_id, topic, key, type, payload, content_type, headers, created_at)
  VALUES (COALESCE(event_id, {s}.uuid_v7()), topic, COALESCE(key, ''), COALESCE(type, ''),
          payload, COALESCE(content_type, 'application/json'), COALESCE(headers, '{{}}'),
          COALESCE(created_at, now()))
  RETURNING event_id
$$;

CREATE FUNCTION {s}.enqueue(topic text, key text, type text, payload text,
                            content_type text DEFAULT 'application/json',
                            headers jsonb DEFAULT '{{}}', event_id uuid DEFAULT NULL,
                            created_at timestamptz DEFAULT NULL)
RETURNS uuid LANGUAGE sql VOLATILE AS $$
  SELECT {s}.enqueue(topic, key, type, convert_to(payload, 'UTF8'), content_type, headers,
                     event_id, created_at)
$$;

CREATE FUNCTION {s}.enqueue(topic text, key text, type text, payload jsonb,
                            content_type text DEFAULT 'application/json',
                            headers jsonb DEFAULT '{{}}', event_id uuid DEFAULT NULL,
                            created_at timestamptz DEFAULT NULL)
RETURNS uuid LANGUAGE sql VOLATILE AS $$
  SELECT {s}.enqueue(topic, key, type, convert_to(payload::text, 'UTF8'), content_type, headers,
                     event_id, created_at)
$$;

-- One wake-up per inserting statement; PostgreSQL folds identical
-- notifications of one transaction into one, delivered at commit.
CREATE FUNCTION {s}.wake() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('{channel}', '');
  RETURN NULL;
END
$$;
CREATE TRIGGER outbox_wake AFTER INSERT ON {s}.outbox
  FOR EACH STATEMENT EXECUTE FUNCTION {s}.wake();
)sql";

// Version 2: a session (or transaction) may turn the wake-up off with
// `SET herald.wake = off`. A notifying transaction holds PostgreSQL's
// notification lock from before its commit record is flushed until it ends,
// so concurrent notifying commits are flushed one at a time instead of in
// groups; writers that commit at a high rate from many connections turn it
// off and let relays poll (see docs/postgres.md).
constexpr const char* kSchemaV2 = R"sql(
CREATE OR REPLACE FUNCTION {s}.wake() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF coalesce(current_setting('herald.wake', true), '') <> 'off' THEN
    PERFORM pg_notify('{channel}', '');
  END IF;
  RETURN NULL;
END
$$;
UPDATE {s}.config SET version = 2, applied_at = now();
)sql";

// The step that upgrades version i to version i + 1.
constexpr const char* kSteps[] = {kSchemaV1, kSchemaV2};
static_assert(std::size(kSteps) == postgres::kSchemaVersion, "one migration step per version");

Status NewerSchemaError(const std::string& schema, int version) {
  return FailedPrecondition(
      fmt::format("Herald schema '{}' has version {}, newer than this herald supports ({}); "
                  "upgrade herald",
                  schema, version, postgres::kSchemaVersion));
}

std::string StepSql(int step, const std::string& schema, int partitions) {
  return fmt::format(fmt::runtime(kSteps[step]), fmt::arg("s", schema),
                     fmt::arg("p", partitions), fmt::arg("channel", WakeChannel(schema)));
}

Status MigrateLocked(PGconn* conn, const std::string& schema, int partitions) {
  Params lock;
  lock.Add(fmt::format("herald.migrate.{}", schema));
  HERALD_ASSIGN_OR_RETURN(
      ResultPtr locked,
      Exec(conn, "SELECT pg_advisory_xact_lock(hashtext($1))", lock, "lock the schema"));
  HERALD_ASSIGN_OR_RETURN(int version, SchemaVersion(conn, schema));
  if (version > postgres::kSchemaVersion) return NewerSchemaError(schema, version);
  // Steps run in the migration's one transaction: all of them or none.
  for (int step = version; step < postgres::kSchemaVersion; ++step) {
    HERALD_RETURN_IF_ERROR(ExecSimple(
        conn, StepSql(step, schema, partitions),
        fmt::format("{} Herald schema '{}' version {}", step == 0 ? "create" : "upgrade to",
                    schema, step + 1)));
  }
  return OkStatus();
}

}  // namespace

Result<int> SchemaVersion(PGconn* conn, const std::string& schema) {
  Params params;
  params.Add(fmt::format("{}.config", schema));
  HERALD_ASSIGN_OR_RETURN(ResultPtr exists,
                          Exec(conn, "SELECT (to_regclass($1) IS NOT NULL)::int::int8", params,
                               "read the schema version"));
  HERALD_ASSIGN_OR_RETURN(std::int64_t exists_flag, Int64(exists.get(), 0, 0));
  if (exists_flag == 0) return 0;
  HERALD_ASSIGN_OR_RETURN(
      ResultPtr res, Exec(conn, fmt::format("SELECT COALESCE(MAX(version), 0)::int8 FROM {}.config",
                                            schema),
                          Params(), "read the schema version"));
  HERALD_ASSIGN_OR_RETURN(std::int64_t version, Int64(res.get(), 0, 0));
  return static_cast<int>(version);
}

Status MigrateSchema(PGconn* conn, const std::string& schema, int partitions) {
  HERALD_RETURN_IF_ERROR(CheckSchemaName(schema));
  if (partitions < 1 || partitions > kMaxPartitions) {
    return InvalidArgument(
        fmt::format("partitions must be between 1 and {}, not {}", kMaxPartitions, partitions));
  }
  if (PQtransactionStatus(conn) != PQTRANS_IDLE) {
    if (PQstatus(conn) == CONNECTION_BAD) return Unavailable(ConnectionMessage(conn));
    return FailedPrecondition(
        "migrate runs in a transaction of its own; a transaction is already open on this "
        "connection");
  }
  HERALD_RETURN_IF_ERROR(ExecSimple(conn, "BEGIN", "migrate"));
  Status s = MigrateLocked(conn, schema, partitions);
  if (!s.ok()) {
    static_cast<void>(ExecSimple(conn, "ROLLBACK", "migrate"));
    return s;
  }
  return ExecSimple(conn, "COMMIT", "migrate");
}

Status CheckSchema(PGconn* conn, const std::string& schema,
                   const std::string& url_for_messages) {
  HERALD_ASSIGN_OR_RETURN(int version, SchemaVersion(conn, schema));
  if (version > postgres::kSchemaVersion) return NewerSchemaError(schema, version);
  if (version == 0) {
    return FailedPrecondition(
        fmt::format("database has no Herald schema '{}'; run `herald migrate --db {}`", schema,
                    url_for_messages));
  }
  return OkStatus();
}

}  // namespace herald::pg_internal
