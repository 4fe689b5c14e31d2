#!/usr/bin/env bash
# A private Redis server for tests and benchmarks, on a loopback port, its
# data (AOF, fsync every second, no RDB snapshots) in a temporary directory.
#
#   scripts/redis.sh start [PORT]   starts it (default port 56379) and prints its URL (redis://...)
#   scripts/redis.sh stop           stops it by its PID and removes its directory
#   scripts/redis.sh url            prints the URL of the running server
#
# State lives in $HERALD_REDIS_DIR (default /tmp/herald-redis). Starting a
# server that is already running only prints its URL. Installs redis-server
# if it is missing (Debian 12, as root).
set -euo pipefail

dir=${HERALD_REDIS_DIR:-/tmp/herald-redis}

server_bin() {
  command -v redis-server 2>/dev/null || { [[ -x /usr/bin/redis-server ]] && echo /usr/bin/redis-server; } || true
}

ensure_installed() {
  if [[ -z $(server_bin) ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null
  fi
}

port() {
  if [[ ! -f $dir/port ]]; then
    echo "scripts/redis.sh: no server was started in $dir" >&2
    exit 1
  fi
  cat "$dir/port"
}
url() {
  local p
  p=$(port)
  echo "redis://127.0.0.1:$p"
}

running() {
  [[ -f $dir/pid ]] && kill -0 "$(cat "$dir/pid")" 2>/dev/null
}

# True once the server answers PING with PONG (not LOADING).
pongs() {
  local reply
  reply=$( (exec 3<>"/dev/tcp/127.0.0.1/$(port)" && printf 'PING\r\n' >&3 && timeout 1 head -c 7 <&3) 2>/dev/null) || return 1
  [[ $reply == +PONG* ]]
}

start() {
  ensure_installed
  if running; then url; return; fi
  local p=${1:-56379}
  rm -rf "$dir"
  mkdir -p "$dir/data"
  echo "$p" >"$dir/port"
  setsid "$(server_bin)" --port "$p" --bind 127.0.0.1 --dir "$dir/data" --appendonly yes \
    --appendfsync everysec --save '' --daemonize no --logfile "$dir/log" </dev/null >/dev/null 2>&1 &
  echo $! >"$dir/pid"
  for _ in $(seq 1 100); do
    if pongs; then url; return; fi
    if ! running; then break; fi
    sleep 0.1
  done
  echo "scripts/redis.sh: redis-server did not start on port $p; see $dir/log" >&2
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
  *) echo "usage: scripts/redis.sh start [PORT] | stop | url" >&2; exit 2 ;;
esac
