#!/usr/bin/env bash
# A private RabbitMQ node for tests and benchmarks, on a loopback port, its
# state in a temporary directory.
#
#   scripts/rabbitmq.sh start [PORT]   starts it (default port 55672) and prints its URL (amqp://...)
#   scripts/rabbitmq.sh stop           stops it by its PID, and its epmd, and removes its directory
#   scripts/rabbitmq.sh url            prints the URL of the running node
#
# State lives in $HERALD_RABBITMQ_DIR (default /tmp/herald-rabbitmq); the port
# may also come from $HERALD_RABBITMQ_PORT. The node's distribution port and
# its epmd's port are derived from the AMQP port (PORT-10000 and PORT-9999,
# or PORT+10000 and PORT+10001 for a low port); $HERALD_RABBITMQ_DIST_PORT and
# $HERALD_RABBITMQ_EPMD_PORT override them. Starting a node that is already
# running only prints its URL. Installs rabbitmq-server if it is missing
# (Debian 12, as root).
set -euo pipefail

dir=${HERALD_RABBITMQ_DIR:-/tmp/herald-rabbitmq}
server_bin=/usr/lib/rabbitmq/bin/rabbitmq-server

ensure_installed() {
  if [[ ! -x $server_bin ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends rabbitmq-server >/dev/null
  fi
}

port() {
  if [[ ! -f $dir/port ]]; then
    echo "scripts/rabbitmq.sh: no node was started in $dir" >&2
    exit 1
  fi
  cat "$dir/port"
}
url() {
  local p
  p=$(port)
  echo "amqp://guest:guest@127.0.0.1:$p/"
}

running() {
  [[ -f $dir/pid ]] && kill -0 "$(cat "$dir/pid")" 2>/dev/null
}

# True once the node answers the AMQP protocol header with a frame of its own
# (connection.start: a method frame, type 1).
accepts() {
  local reply
  reply=$( (exec 3<>"/dev/tcp/127.0.0.1/$(port)" && printf 'AMQP\x00\x00\x09\x01' >&3 &&
            timeout 1 head -c 1 <&3 | od -An -tx1) 2>/dev/null) || return 1
  [[ ${reply// /} == 01 ]]
}

valid_port() { [[ $1 =~ ^[0-9]+$ ]] && (($1 >= 1 && $1 <= 65535)); }

start() {
  ensure_installed
  if running; then url; return; fi
  local p=${1:-${HERALD_RABBITMQ_PORT:-55672}}
  local dist epmd
  if ((p > 11024)); then dist=$((p - 10000)); epmd=$((p - 9999)); else dist=$((p + 10000)); epmd=$((p + 10001)); fi
  dist=${HERALD_RABBITMQ_DIST_PORT:-$dist}
  epmd=${HERALD_RABBITMQ_EPMD_PORT:-$epmd}
  for q in "$p" "$dist" "$epmd"; do
    if ! valid_port "$q"; then echo "scripts/rabbitmq.sh: bad port $q" >&2; exit 2; fi
  done
  rm -rf "$dir"
  mkdir -p "$dir/mnesia" "$dir/log" "$dir/home"
  echo "$p" >"$dir/port"
  echo "$epmd" >"$dir/epmd_port"
  echo "[]." >"$dir/enabled_plugins"
  HOME=$dir/home RABBITMQ_NODENAME=rabbit@localhost RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
    RABBITMQ_NODE_PORT=$p RABBITMQ_DIST_PORT=$dist ERL_EPMD_PORT=$epmd \
    RABBITMQ_MNESIA_BASE=$dir/mnesia RABBITMQ_LOG_BASE=$dir/log \
    RABBITMQ_ENABLED_PLUGINS_FILE=$dir/enabled_plugins RABBITMQ_PID_FILE=$dir/rabbit.pid \
    setsid "$server_bin" </dev/null >"$dir/log/stdout" 2>&1 &
  echo $! >"$dir/pid"
  for _ in $(seq 1 300); do
    if accepts; then url; return; fi
    if ! running; then break; fi
    sleep 0.1
  done
  echo "scripts/rabbitmq.sh: rabbitmq-server did not start on port $p; see $dir/log" >&2
  exit 1
}

stop() {
  if running; then
    local pid
    pid=$(cat "$dir/pid")
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid"; fi
  fi
  # epmd refuses -kill until the node's registration is gone, a moment after it ends.
  if [[ -f $dir/epmd_port ]]; then
    for _ in $(seq 1 50); do
      ERL_EPMD_PORT=$(cat "$dir/epmd_port") epmd -kill >/dev/null 2>&1 && break
      ERL_EPMD_PORT=$(cat "$dir/epmd_port") epmd -names >/dev/null 2>&1 || break
      sleep 0.1
    done
  fi
}

case ${1:-} in
  start) start "${2:-}" ;;
  stop) stop; rm -rf "$dir" ;;
  url) url ;;
  *) echo "usage: scripts/rabbitmq.sh start [PORT] | stop | url" >&2; exit 2 ;;
esac
