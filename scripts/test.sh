#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds, runs every test;
# then the unit tests again under AddressSanitizer and UndefinedBehaviorSanitizer
# (scripts/sanitize.sh) and every fuzz target for a bounded time
# (scripts/fuzz.sh, $HERALD_FUZZ_SECONDS each).
# Usage: scripts/test.sh [ctest arguments, e.g. -L unit]
# With ctest arguments it runs only those tests, in build/.
#
# The PostgreSQL tests need a server. With HERALD_TEST_PG_URL set, that one is
# used as it is. Otherwise a private cluster is started with scripts/pg.sh
# (in $HERALD_PG_DIR, on port $HERALD_PG_PORT, default 55432; one already
# running there is reused) and its URL exported; a cluster started here is
# stopped when the script exits, however it exits. If no server can be had
# the script fails: it never lets those tests skip. One test restarts the
# server (alone, RUN_SERIAL): give a shared server's URL only if that is fine.
#
# The NATS tests (ctest label nats) need a nats-server with JetStream, the
# same way: HERALD_TEST_NATS_URL if set, otherwise a private one started with
# scripts/nats.sh (in $HERALD_NATS_DIR, on port $HERALD_NATS_PORT, default
# 54222; one already running there is reused) and stopped at exit. Those
# tests fail without a server; the outage tests start servers of their own.
#
# The RabbitMQ tests (ctest label rabbitmq), when the build has them
# (HERALD_WITH_RABBITMQ), the same way: HERALD_TEST_RABBITMQ_URL if set,
# otherwise a private node started with scripts/rabbitmq.sh (in
# $HERALD_RABBITMQ_DIR, on port $HERALD_RABBITMQ_PORT, default 55672; one
# already running there is reused) and stopped at exit.
#
# The Redis tests (ctest label redis), when the build has them
# (HERALD_WITH_REDIS), the same way: HERALD_TEST_REDIS_URL if set, otherwise
# a private server started with scripts/redis.sh (in $HERALD_REDIS_DIR, on
# port $HERALD_REDIS_PORT, default 56379; one already running there is
# reused) and stopped at exit. Those tests fail without a server; the outage
# test starts servers of its own.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
./scripts/deps.sh
./scripts/build.sh
build_dir=${HERALD_BUILD_DIR:-build}

# True if the cluster scripts/pg.sh manages is up and answering.
pg_answers() {
  local url
  url=$(./scripts/pg.sh url 2>/dev/null) || return 1
  pg_isready -q -d "$url" -t 5
}

# What to stop when the script exits, however it exits.
cleanup=()
stop_all() {
  for c in "${cleanup[@]}"; do "$root/scripts/$c" stop || true; done
}
trap stop_all EXIT

if [[ -z ${HERALD_TEST_PG_URL:-} ]]; then
  if pg_answers; then
    echo "scripts/test.sh: using the PostgreSQL cluster already running"
  else
    cleanup+=(pg.sh)
    ./scripts/pg.sh start "${HERALD_PG_PORT:-}" >/dev/null
  fi
  HERALD_TEST_PG_URL=$(./scripts/pg.sh url)
  export HERALD_TEST_PG_URL
fi
if ! pg_isready -q -d "$HERALD_TEST_PG_URL" -t 10; then
  echo "scripts/test.sh: no PostgreSQL server answers at $HERALD_TEST_PG_URL" >&2
  exit 1
fi

# True if the server scripts/nats.sh manages is up and accepting.
nats_answers() {
  local url hostport
  url=$(./scripts/nats.sh url 2>/dev/null) || return 1
  hostport=${url#nats://}
  (exec 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}") 2>/dev/null
}

if [[ -z ${HERALD_TEST_NATS_URL:-} ]]; then
  if nats_answers; then
    echo "scripts/test.sh: using the NATS server already running"
  else
    cleanup+=(nats.sh)
    ./scripts/nats.sh start "${HERALD_NATS_PORT:-}" >/dev/null
  fi
  HERALD_TEST_NATS_URL=$(./scripts/nats.sh url)
  export HERALD_TEST_NATS_URL
fi
# True if the build has the RabbitMQ publisher.
with_rabbitmq() {
  grep -q '^HERALD_WITH_RABBITMQ:BOOL=ON' "$build_dir/CMakeCache.txt" 2>/dev/null
}

# True if the node scripts/rabbitmq.sh manages is up and accepting.
rabbitmq_answers() {
  local url hostport
  url=$(./scripts/rabbitmq.sh url 2>/dev/null) || return 1
  hostport=${url#*@}
  hostport=${hostport%/}
  (exec 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}") 2>/dev/null
}

if with_rabbitmq && [[ -z ${HERALD_TEST_RABBITMQ_URL:-} ]]; then
  if rabbitmq_answers; then
    echo "scripts/test.sh: using the RabbitMQ node already running"
  else
    cleanup+=(rabbitmq.sh)
    ./scripts/rabbitmq.sh start "${HERALD_RABBITMQ_PORT:-}" >/dev/null
  fi
  HERALD_TEST_RABBITMQ_URL=$(./scripts/rabbitmq.sh url)
  export HERALD_TEST_RABBITMQ_URL
fi
# True if the build has the Redis publisher.
with_redis() {
  grep -q '^HERALD_WITH_REDIS:BOOL=ON' "$build_dir/CMakeCache.txt" 2>/dev/null
}

# True if the server scripts/redis.sh manages is up and accepting.
redis_answers() {
  local url hostport
  url=$(./scripts/redis.sh url 2>/dev/null) || return 1
  hostport=${url#redis://}
  hostport=${hostport#*@}
  hostport=${hostport%%/*}
  (exec 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}") 2>/dev/null
}

if with_redis && [[ -z ${HERALD_TEST_REDIS_URL:-} ]]; then
  if redis_answers; then
    echo "scripts/test.sh: using the Redis server already running"
  else
    cleanup+=(redis.sh)
    ./scripts/redis.sh start "${HERALD_REDIS_PORT:-}" >/dev/null
  fi
  HERALD_TEST_REDIS_URL=$(./scripts/redis.sh url)
  export HERALD_TEST_REDIS_URL
fi
(cd "$build_dir" && ctest --output-on-failure -j"${HERALD_JOBS:-2}" --timeout 600 "$@")
if (($# == 0)); then
  ./scripts/sanitize.sh
  ./scripts/fuzz.sh
fi
