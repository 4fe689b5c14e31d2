#!/usr/bin/env bash
# Builds Herald with AddressSanitizer and UndefinedBehaviorSanitizer in a
# directory of its own ($HERALD_SANITIZE_BUILD_DIR, default build-sanitize)
# and runs the unit tests there (ctest -L unit); any report fails the run.
# Usage: scripts/sanitize.sh [ctest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
build_dir=${HERALD_SANITIZE_BUILD_DIR:-build-sanitize}
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHERALD_SANITIZE=ON \
  -DHERALD_BUILD_BENCH=OFF "${launcher[@]}" >/dev/null
cmake --build "$build_dir" -j"${HERALD_JOBS:-2}" --target herald_unit_tests
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
cd "$build_dir"
ctest --output-on-failure -j"${HERALD_JOBS:-2}" --timeout 600 -L unit "$@"
