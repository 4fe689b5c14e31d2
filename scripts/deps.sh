#!/usr/bin/env bash
# Installs the Debian packages Herald builds and tests with, if any is missing.
# Debian 12, as root. Prints nothing but apt's own progress when it installs.
set -euo pipefail

packages=(
  g++ cmake make pkg-config
  libsqlite3-dev sqlite3
  libpq-dev libpqxx-dev postgresql-15
  librdkafka-dev
  libnats-dev nats-server
  prometheus-cpp-dev libcivetweb-dev
  librabbitmq-dev rabbitmq-server
  libhiredis-dev redis-server
  libcurl4-openssl-dev libssl-dev python3
  libspdlog-dev libfmt-dev nlohmann-json3-dev libcli11-dev libtomlplusplus-dev
  libgtest-dev libgmock-dev libbenchmark-dev
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "scripts/deps.sh: missing packages: ${missing[*]} (run as root to install them)" >&2
    exit 1
  fi
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
