#!/usr/bin/env bash
# Installs the build tree $1 into a temporary prefix, builds tests/install
# against it with nothing of the source tree on its paths, and runs it: three
# events enqueued in the application's transaction must reach the file.
# Usage: tests/install/run.sh BUILD_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$1" && pwd)
work=$(mktemp -d /tmp/herald-install.XXXXXX)
trap 'rm -rf "$work"' EXIT

cmake --install "$build" --prefix "$work/prefix" >/dev/null
test -x "$work/prefix/bin/herald"
test -f "$work/prefix/include/herald/relay.h"
"$work/prefix/bin/herald" --version >/dev/null

launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
cmake -S "$here" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" "${launcher[@]}" >/dev/null
cmake --build "$work/build" -j"${HERALD_JOBS:-2}" >/dev/null
# (spdlog's default logger, which the library logs through, writes to stdout)
out=$("$work/build/install_check" "$work/app.db" "$work/out.jsonl" | tail -n 1)
echo "$out"
[[ $out == "published 3" ]]
[[ $(wc -l <"$work/out.jsonl") -eq 3 ]]
# The same program built with pkg-config alone, as a Makefile would.
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
pkg-config --exists herald
# shellcheck disable=SC2046
g++ -o "$work/pc_check" "$here/install_check.cc" $(pkg-config --cflags --libs herald) -lsqlite3
out=$("$work/pc_check" "$work/pc.db" "$work/pc.jsonl" | tail -n 1)
[[ $out == "published 3" ]]
[[ $(wc -l <"$work/pc.jsonl") -eq 3 ]]
# A component this build does not have fails a REQUIRED find_package.
mkdir -p "$work/missing"
cat >"$work/missing/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.25)
project(missing LANGUAGES CXX)
find_package(herald CONFIG REQUIRED COMPONENTS no_such_bus)
CMAKE
if cmake -S "$work/missing" -B "$work/missing/build" -DCMAKE_PREFIX_PATH="$work/prefix" \
     >/dev/null 2>&1; then
  echo "find_package(herald COMPONENTS no_such_bus) succeeded" >&2
  exit 1
fi
echo "install check passed"
