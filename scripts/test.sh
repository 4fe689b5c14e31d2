#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds, runs every test.
# Usage: scripts/test.sh [ctest arguments, e.g. -L unit]
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
./scripts/build.sh
build_dir=${HERALD_BUILD_DIR:-build}
cd "$build_dir"
ctest --output-on-failure -j"${HERALD_JOBS:-2}" --timeout 600 "$@"
