#!/usr/bin/env bash
# A private NATS server with JetStream for tests and benchmarks, on a
# loopback port, its storage in a temporary directory.
#
#   scripts/nats.sh start [PORT]   starts it (default port 54222) and prints its URL (nats://...)
#   scripts/nats.sh stop           stops it by its PID and removes its directory
#   scripts/nats.sh url            prints the URL of the running server
#
# State lives in $HERALD_NATS_DIR (default /tmp/herald-nats). Starting a server
# that is already running only prints its URL. Installs nats-server if it is
# missing (Debian 12, as root).
set -euo pipefail

dir=${HERALD_NATS_DIR:-/tmp/herald-nats}

server_bin() {
  command -v nats-server 2>/dev/null || { [[ -x /usr/sbin/nats-server ]] && echo /usr/sbin/nats-server; } || true
}

ensure_installed() {
  if [[ -z $(server_bin) ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nats-server >/dev/null
  fi
}

port() {
  if [[ ! -f $dir/port ]]; then
    echo "scripts/nats.sh: no server was started in $dir" >&2
    exit 1
  fi
  cat "$dir/port"
}
url() {
  local p
  p=$(port)
  echo "nats://127.0.0.1:$p"
}

running() {
  [[ -f $dir/pid ]] && kill -0 "$(cat "$dir/pid")" 2>/dev/null
}

# True once the server accepts connections on its port.
accepts() { (exec 3<>"/dev/tcp/127.0.0.1/$(port)") 2>/dev/null; }

start() {
  ensure_installed
  if running; then url; return; fi
  local p=${1:-54222}
  rm -rf "$dir"
  mkdir -p "$dir/js"
  echo "$p" >"$dir/port"
  setsid "$(server_bin)" -a 127.0.0.1 -p "$p" -js -sd "$dir/js" -l "$dir/log" </dev/null >/dev/null 2>&1 &
  echo $! >"$dir/pid"
  for _ in $(seq 1 100); do
    if accepts; then url; return; fi
    if ! running; then break; fi
    sleep 0.1
  done
  echo "scripts/nats.sh: nats-server did not start on port $p; see $dir/log" >&2
  exit 1
}

stop() {
  if running; then
    local pid
    pid=$(cat "$dir/pid")
    kill -TERM "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
  fi
}

case ${1:-} in
  start) start "${2:-}" ;;
  stop) stop; rm -rf "$dir" ;;
  url) url ;;
  *) echo "usage: scripts/nats.sh start [PORT] | stop | url" >&2; exit 2 ;;
esac
