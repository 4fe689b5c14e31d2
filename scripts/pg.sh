#!/usr/bin/env bash
# A private PostgreSQL 15 cluster for tests and benchmarks, on a loopback port
# in a temporary directory, run as the postgres user.
#
#   scripts/pg.sh start [PORT]   prints the connection URL (postgres://...)
#   scripts/pg.sh stop           stops the cluster by its PID and removes it
#   scripts/pg.sh restart        stops and starts the same data directory (tests of restarts)
#   scripts/pg.sh halt           stops the cluster and keeps its data (tests of outages)
#   scripts/pg.sh resume         starts a halted cluster again
#   scripts/pg.sh url            prints the URL of the running cluster
#
# State lives in $HERALD_PG_DIR (default /tmp/herald-pg). Installs PostgreSQL 15
# if it is missing (Debian 12, as root).
set -euo pipefail

dir=${HERALD_PG_DIR:-/tmp/herald-pg}
bin=/usr/lib/postgresql/15/bin

ensure_installed() {
  if [[ ! -x $bin/postgres ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null
  fi
}

port() { cat "$dir/port"; }
url() { echo "postgres://postgres@127.0.0.1:$(port)/herald"; }

running() {
  [[ -f $dir/data/postmaster.pid ]] && kill -0 "$(head -1 "$dir/data/postmaster.pid")" 2>/dev/null
}

launch() {
  su postgres -s /bin/sh -c "$bin/pg_ctl -D '$dir/data' -l '$dir/log' -w -t 60 start -o \
    \"-p $(port) -k '$dir' -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=200 \
      -c shared_buffers=128MB -c wal_level=logical -c max_replication_slots=10 -c max_wal_senders=10\"" >/dev/null
}

start() {
  ensure_installed
  if running; then url; return; fi
  local p=${1:-55432}
  rm -rf "$dir"
  mkdir -p "$dir"
  echo "$p" >"$dir/port"
  chown -R postgres:postgres "$dir"
  su postgres -s /bin/sh -c "$bin/initdb -D '$dir/data' -U postgres -A trust -E UTF8 --no-sync" >/dev/null
  launch
  su postgres -s /bin/sh -c "$bin/createdb -h '$dir' -p $p -U postgres herald"
  url
}

stop() {
  if running; then
    local pid
    pid=$(head -1 "$dir/data/postmaster.pid")
    kill -INT "$pid"  # fast shutdown
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
}

case ${1:-} in
  start) start "${2:-}" ;;
  stop) stop; rm -rf "$dir" ;;
  restart) stop; launch; url ;;
  halt) stop ;;
  resume) running || launch; url ;;
  url) url ;;
  *) echo "usage: scripts/pg.sh start [PORT] | stop | restart | halt | resume | url" >&2; exit 2 ;;
esac
