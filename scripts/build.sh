#!/usr/bin/env bash
# Configures and builds Herald into ./build (or $HERALD_BUILD_DIR).
# Extra arguments are passed to `cmake --build` (for example: --target herald).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${HERALD_BUILD_DIR:-build}
jobs=${HERALD_JOBS:-2}
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHERALD_WERROR=ON >/dev/null
cmake --build "$build_dir" -j"$jobs" "$@"
