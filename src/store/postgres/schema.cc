#include "store/postgres/schema.h"

#include <fmt/format.h>

#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "core/macros.h"
#include "herald/postgres.h"
#include "store/postgres/pg.h"

namespace herald::pg_internal {
namespace {

// Version 1's tables and indexes. {s}: the schema; {p}: the partition
// count. Every object lives in the schema.
//
// Every migration runs to the current version in one transaction, so no
// schema is ever left at an older version by this code: the functions and
// the trigger, which later versions changed, are made only once, in their
// current form, by kCurrentObjects (which version 3's step runs). A schema
// made at version 1 or 2 by an older herald has its own versions of them,
// which that step replaces.
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
)sql";

// Version 2: a session (or transaction) may turn the wake-up off with
// `SET herald.wake = off`. A notifying transaction holds PostgreSQL's
// notification lock from before its commit record is flushed until it ends,
// so concurrent notifying commits are flushed one at a time instead of in
// groups; writers that commit at a high rate from many connections turn it
// off and let relays poll (see docs/postgres.md). The wake-up of
// kCurrentObjects keeps that switch.
constexpr const char* kSchemaV2 = R"sql(
UPDATE {s}.config SET version = 2, applied_at = now();
)sql";

// The functions, the trigger and the index of the current version, in
// their latest form. Idempotent: version 3's step runs it (as must the step
// of any later version that changes one of them), and `herald migrate` runs
// it again to repair a
// schema that lost one of them.
//
// The wake-up no longer makes every enqueueing commit take PostgreSQL's
// notification lock (held through the commit's flush, so such commits are
// flushed one at a time): a relay about to sleep holds the session advisory
// lock (kWakeLockClass, hashtext(schema)) exclusively, and a statement
// notifies only when it cannot take that lock in shared mode, that is while
// some relay sleeps. A statement that took it shared holds it until its
// transaction ends, so a relay that takes it exclusively afterwards (and
// then claims once more before sleeping) sees that transaction's rows: no
// commit is missed between the relay's last claim and its sleep.
//
// The claim reads rows in seq order (the primary key) and finds held-back
// keys through outbox_scheduled, a partial index of the rows with an attempt
// time set (retries, re-queued dead letters), which a new row never enters.
constexpr const char* kCurrentObjects = R"sql(
CREATE OR REPLACE FUNCTION {s}.uuid_v7() RETURNS uuid LANGUAGE sql VOLATILE AS $$
  SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
           PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint)
                             FROM 3)
           FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid
$$;

CREATE OR REPLACE FUNCTION {s}.enqueue(topic text, key text, type text, payload bytea,
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

CREATE OR REPLACE FUNCTION {s}.enqueue(topic text, key text, type text, payload text,
                            content_type text DEFAULT 'application/json',
                            headers jsonb DEFAULT '{{}}', event_id uuid DEFAULT NULL,
                            created_at timestamptz DEFAULT NULL)
RETURNS uuid LANGUAGE sql VOLATILE AS $$
  SELECT {s}.enqueue(topic, key, type, convert_to(payload, 'UTF8'), content_type, headers,
                     event_id, created_at)
$$;

CREATE OR REPLACE FUNCTION {s}.enqueue(topic text, key text, type text, payload jsonb,
                            content_type text DEFAULT 'application/json',
                            headers jsonb DEFAULT '{{}}', event_id uuid DEFAULT NULL,
                            created_at timestamptz DEFAULT NULL)
RETURNS uuid LANGUAGE sql VOLATILE AS $$
  SELECT {s}.enqueue(topic, key, type, convert_to(payload::text, 'UTF8'), content_type, headers,
                     event_id, created_at)
$$;

CREATE OR REPLACE FUNCTION {s}.wake() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF coalesce(current_setting('herald.wake', true), '') <> 'off'
     AND NOT pg_try_advisory_xact_lock_shared({lock_class}, hashtext('{s}')) THEN
    PERFORM pg_notify('{channel}', '');
  END IF;
  RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS outbox_wake ON {s}.outbox;
CREATE TRIGGER outbox_wake AFTER INSERT ON {s}.outbox
  FOR EACH STATEMENT EXECUTE FUNCTION {s}.wake();

-- For a relay about to sleep: 'acquired' (it holds the wake lock now),
-- 'sleeper' (another relay holds it, so inserts notify), or 'busy' (inserting
-- transactions hold it shared: their rows are about to be visible).
CREATE OR REPLACE FUNCTION {s}.relay_may_sleep() RETURNS text LANGUAGE sql VOLATILE AS $$
  SELECT CASE
    WHEN pg_try_advisory_lock({lock_class}, hashtext('{s}')) THEN 'acquired'
    WHEN EXISTS (SELECT 1 FROM pg_locks
                 WHERE locktype = 'advisory' AND classid = {lock_class}::oid
                   AND objid = hashtext('{s}')::oid AND objsubid = 2
                   AND mode = 'ExclusiveLock' AND granted) THEN 'sleeper'
    ELSE 'busy' END
$$;

CREATE INDEX IF NOT EXISTS outbox_scheduled ON {s}.outbox (key, seq)
  INCLUDE (next_attempt_at, partition) WHERE next_attempt_at > 'epoch'::timestamptz;
)sql";

// Version 3: the claim's indexes and the wake-up above.
constexpr const char* kSchemaV3 = R"sql(
DROP INDEX IF EXISTS {s}.outbox_claim;
DROP INDEX IF EXISTS {s}.outbox_key_due;
{current}
UPDATE {s}.config SET version = 3, applied_at = now();
)sql";

// The step that upgrades version i to version i + 1.
constexpr const char* kSteps[] = {kSchemaV1, kSchemaV2, kSchemaV3};
static_assert(std::size(kSteps) == postgres::kSchemaVersion, "one migration step per version");

Status NewerSchemaError(const std::string& schema, int version) {
  return FailedPrecondition(
      fmt::format("Herald schema '{}' has version {}, newer than this herald supports ({}); "
                  "upgrade herald",
                  schema, version, postgres::kSchemaVersion));
}

std::string SchemaSql(std::string_view text, const std::string& schema, int partitions) {
  const std::string current =
      fmt::format(fmt::runtime(kCurrentObjects), fmt::arg("s", schema),
                  fmt::arg("channel", WakeChannel(schema)), fmt::arg("lock_class", kWakeLockClass));
  return fmt::format(fmt::runtime(text), fmt::arg("s", schema), fmt::arg("p", partitions),
                     fmt::arg("current", current));
}

std::string StepSql(int step, const std::string& schema, int partitions) {
  return SchemaSql(kSteps[step], schema, partitions);
}

// What the current version must hold, as (description, SQL that is true
// when it is there); `repairable` ones are made again by kCurrentObjects.
struct SchemaObject {
  const char* what;
  const char* present;
  bool repairable;
};
constexpr SchemaObject kObjects[] = {
    {"table {s}.config", "to_regclass('{s}.config') IS NOT NULL", false},
    {"table {s}.outbox", "to_regclass('{s}.outbox') IS NOT NULL", false},
    {"table {s}.dead_letters", "to_regclass('{s}.dead_letters') IS NOT NULL", false},
    {"table {s}.relays", "to_regclass('{s}.relays') IS NOT NULL", false},
    {"table {s}.partitions", "to_regclass('{s}.partitions') IS NOT NULL", false},
    {"index {s}.outbox_scheduled", "to_regclass('{s}.outbox_scheduled') IS NOT NULL", true},
    {"function {s}.uuid_v7()", "to_regprocedure('{s}.uuid_v7()') IS NOT NULL", true},
    {"function {s}.enqueue(..., bytea, ...)",
     "to_regprocedure('{s}.enqueue(text,text,text,bytea,text,jsonb,uuid,timestamptz)') "
     "IS NOT NULL",
     true},
    {"function {s}.enqueue(..., text, ...)",
     "to_regprocedure('{s}.enqueue(text,text,text,text,text,jsonb,uuid,timestamptz)') "
     "IS NOT NULL",
     true},
    {"function {s}.enqueue(..., jsonb, ...)",
     "to_regprocedure('{s}.enqueue(text,text,text,jsonb,text,jsonb,uuid,timestamptz)') "
     "IS NOT NULL",
     true},
    {"function {s}.wake()", "to_regprocedure('{s}.wake()') IS NOT NULL", true},
    {"function {s}.relay_may_sleep()", "to_regprocedure('{s}.relay_may_sleep()') IS NOT NULL",
     true},
    {"trigger outbox_wake on {s}.outbox",
     "EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'outbox_wake' AND "
     "tgrelid = to_regclass('{s}.outbox') AND tgenabled <> 'D')",
     true},
};

// The objects of kObjects missing from `schema`, split by whether migrate
// can make them again.
struct Missing {
  std::vector<std::string> repairable;
  std::vector<std::string> lost;
  bool empty() const { return repairable.empty() && lost.empty(); }
};

Result<Missing> FindMissing(PGconn* conn, const std::string& schema) {
  std::string sql = "SELECT array_to_string(ARRAY[";
  for (std::size_t i = 0; i < std::size(kObjects); ++i) {
    if (i > 0) sql += ", ";
    sql += fmt::format("CASE WHEN {} THEN '1' ELSE '0' END",
                       fmt::format(fmt::runtime(kObjects[i].present), fmt::arg("s", schema)));
  }
  sql += "], '')";
  HERALD_ASSIGN_OR_RETURN(ResultPtr res, Exec(conn, sql, Params(), "check the Herald schema"));
  const std::string flags = Bytes(res.get(), 0, 0);
  Missing missing;
  for (std::size_t i = 0; i < std::size(kObjects) && i < flags.size(); ++i) {
    if (flags[i] == '1') continue;
    std::string what = fmt::format(fmt::runtime(kObjects[i].what), fmt::arg("s", schema));
    (kObjects[i].repairable ? missing.repairable : missing.lost).push_back(std::move(what));
  }
  return missing;
}

std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

Status LostObjectsError(const std::string& schema, const Missing& missing) {
  return FailedPrecondition(fmt::format(
      "Herald schema '{}' is damaged: {} missing, which `herald migrate` cannot make again "
      "without losing what they held; restore them from a backup, or drop the schema and "
      "migrate anew",
      schema, JoinNames(missing.lost)));
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
  // A schema at the current version that lost a function, the trigger or
  // an index gets them back; one that lost a table is refused.
  HERALD_ASSIGN_OR_RETURN(Missing missing, FindMissing(conn, schema));
  if (!missing.lost.empty()) return LostObjectsError(schema, missing);
  if (!missing.repairable.empty()) {
    HERALD_RETURN_IF_ERROR(ExecSimple(conn, SchemaSql("{current}", schema, partitions),
                                      fmt::format("repair Herald schema '{}' ({})", schema,
                                                  JoinNames(missing.repairable))));
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
  if (version < postgres::kSchemaVersion) {
    return FailedPrecondition(
        fmt::format("Herald schema '{}' has version {}, older than this herald's ({}); run "
                    "`herald migrate --db {}`",
                    schema, version, postgres::kSchemaVersion, url_for_messages));
  }
  HERALD_ASSIGN_OR_RETURN(Missing missing, FindMissing(conn, schema));
  if (!missing.lost.empty()) return LostObjectsError(schema, missing);
  if (!missing.repairable.empty()) {
    return FailedPrecondition(fmt::format(
        "Herald schema '{}' is missing {}; run `herald migrate --db {}` to make them again",
        schema, JoinNames(missing.repairable), url_for_messages));
  }
  return OkStatus();
}

}  // namespace herald::pg_internal
