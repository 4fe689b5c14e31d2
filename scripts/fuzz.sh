#!/usr/bin/env bash
# Fuzzes Herald's input paths with clang's libFuzzer, under AddressSanitizer
# and UndefinedBehaviorSanitizer: the JSON-line event parser, the sink's
# event rendering and stored headers, durations, the TOML configuration and
# database/publisher URLs (fuzz/fuzz_*.cc). Each target starts from its seed
# corpus in fuzz/corpus/<name>/ and runs for $HERALD_FUZZ_SECONDS (default
# 20). Exits 1 if any target crashes or breaks a property; the input that
# did it is kept in build-fuzz/crashes/ (add it to the corpus once fixed).
# Usage: scripts/fuzz.sh [target...]   (default: all)
# Installs clang 16 and its runtime if missing (Debian 12, as root).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build_dir=${HERALD_FUZZ_BUILD_DIR:-build-fuzz}
seconds=${HERALD_FUZZ_SECONDS:-20}
targets=("$@")
if ((${#targets[@]} == 0)); then targets=(event_line event_json duration toml urls); fi

missing=()
for p in clang-16 libclang-rt-16-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# libstdc++ 12 offers std::expected only where __cpp_concepts says C++20
# concepts are complete; clang 16 implements what <expected> needs but still
# reports the older value.
flags="-Wno-builtin-macro-redefined -U__cpp_concepts -D__cpp_concepts=202002L"
flags+=" -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
CXX=clang++-16 cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DHERALD_BUILD_TESTS=OFF -DHERALD_BUILD_BENCH=OFF "${launcher[@]}" \
  "-DCMAKE_CXX_FLAGS=$flags" "-DHERALD_FUZZ_LINK=-fsanitize=fuzzer,address,undefined" >/dev/null
cmake --build "$build_dir" -j"${HERALD_JOBS:-2}" --target "${targets[@]/#/fuzz_}" >/dev/null

failed=()
mkdir -p "$build_dir/crashes"
for t in "${targets[@]}"; do
  work="$build_dir/corpus/$t"
  mkdir -p "$work"
  log="$build_dir/fuzz_$t.log"
  # New inputs go to the work directory; the seed corpus is only read.
  if "$build_dir/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -max_len=65536 -print_final_stats=1 -artifact_prefix="$build_dir/crashes/$t-" \
      "$work" "$root/fuzz/corpus/$t" >"$log" 2>&1; then
    echo "fuzz $t: $(grep -Eo 'Done [0-9]+ runs in [0-9]+ second' "$log" | tail -1)s, no crash"
  else
    echo "fuzz $t: FAILED (log: $log)" >&2
    grep -E "property broken|ERROR:|SUMMARY:" "$log" | head -5 >&2 || true
    failed+=("$t")
  fi
done
if ((${#failed[@]})); then
  echo "scripts/fuzz.sh: failed: ${failed[*]}; inputs in $build_dir/crashes/" >&2
  exit 1
fi
