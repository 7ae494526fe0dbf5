#!/usr/bin/env bash
# ping.sh - portflow's ping workflow (examples/ping.yaml) against Node-RED's, with ../shared/bench/ping_vs.sh.
# Prints ping_vs.sh's figures; its last line is ratio_vs_nodered=X.XX. Knobs are ping_vs.sh's (ROUNDS, ...).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=${PING_VS:-$REPO/../shared/bench/ping_vs.sh}
if command -v portflow >/dev/null 2>&1; then PORTFLOW=$(command -v portflow); else PORTFLOW=$REPO/.venv/bin/portflow; fi
SPECS=$REPO/examples/ping.yaml
cd "$REPO"
# A throw-away store per run, so that the benchmark never touches ~/.portflow.
export PORTFLOW_DATABASE_URL=${PORTFLOW_DATABASE_URL:-memory://}
exec "$BENCH" "$PORTFLOW start --from-specs $SPECS -e PORT=\$PORT"
