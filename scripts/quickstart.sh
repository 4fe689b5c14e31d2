#!/usr/bin/env bash
# Herald's main job on embedded defaults, no servers to install: `herald demo`
# runs the Transactions / Budgets / Analytics story twice — the naive dual
# write, then the outbox — through a bus outage (librdkafka's mock cluster in
# process) and a kill -9 of the relay, with SQLite databases in a temporary
# directory, and prints both side by side. It exits non-zero if the outbox run
# lost or double-applied anything. Arguments go to `herald demo`
# (see `herald demo --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
./scripts/build.sh --target herald >/dev/null
exec "${HERALD_BUILD_DIR:-build}/src/cli/herald" demo "$@"
