#!/usr/bin/env bash
# Herald's main job on embedded defaults, no servers: migrate a SQLite outbox,
# save sample transactions together with their events (rolling some back),
# relay the committed events to stdout, and show that nothing is pending.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
./scripts/build.sh --target herald sqlite_producer >/dev/null
build_dir=${HERALD_BUILD_DIR:-build}
herald=$build_dir/src/cli/herald
producer=$build_dir/examples/sqlite_producer

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
db="sqlite:$work/transactions.db"

echo "== herald migrate --db $db"
"$herald" migrate --db "$db"
echo
echo "== the Transactions service saves 12 transactions, each with its event, in one SQLite transaction"
"$producer" --db "$work/transactions.db" --count 12 --accounts 3 --rollback-ratio 0.25 --seed 7
echo
echo "== herald status"
"$herald" status --db "$db"
echo
echo "== herald relay --publisher stdout: --exit-when-drained   (one JSON line per event)"
"$herald" relay --db "$db" --publisher stdout: --exit-when-drained --log-level warn
echo
echo "== herald status"
"$herald" status --db "$db"
