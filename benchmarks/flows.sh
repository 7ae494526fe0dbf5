#!/usr/bin/env bash
# flows.sh - portflow on real flows against Node-RED, side by side in one run each (../shared/bench/ping_vs.sh):
#   ping     examples/ping.yaml                       vs Node-RED's ping flow
#   greet_*  benchmarks/flows/greet-LANG.yaml          vs Node-RED's JSON greet flow (flows-json.json, greet.lua):
#            POST /greet {"name","n","tags"} -> a javascript / cel / python snippet -> a JSON answer
#   fanout   benchmarks/flows/fanout.yaml              vs benchmarks/flows/nodered-fanout.json: split over 4
#            branches, merge
#   bare_*   benchmarks/flows_bare.py on granian (no engine) on the ping and greet paths, vs Node-RED as well,
#            so that portflow / bare shows the engine's own cost
# Prints each run's figures, the non-2xx counts (must be 0) and peak RSS (VmHWM) of the candidate, then
#   ping_ratio=X greet_js_ratio=X greet_cel_ratio=X greet_python_ratio=X
# Knobs: ping_vs.sh's (ROUNDS, DURATION, ...); FLOWS="ping greet_js ..." picks runs; PING_VS the script.
set -uo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=${PING_VS:-$REPO/../shared/bench/ping_vs.sh}
BENCH_DIR=$(cd "$(dirname "$BENCH")" && pwd)
if command -v portflow >/dev/null 2>&1; then PORTFLOW=$(command -v portflow); else PORTFLOW=$REPO/.venv/bin/portflow; fi
GRANIAN=$(dirname "$PORTFLOW")/granian
FLOWS=${FLOWS:-"ping greet_js greet_cel greet_python fanout bare_ping bare_greet"}
export PORTFLOW_DATABASE_URL=${PORTFLOW_DATABASE_URL:-memory://}  # never touch ~/.portflow
TMP=$(mktemp -d /tmp/flows_sh.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
# ping_vs.sh reads Node-RED flows beside itself: a copy of it whose nodered/ also holds the fan-out flow
mkdir -p "$TMP/bench/nodered"
cp "$BENCH" "$TMP/bench/ping_vs.sh"
for f in "$BENCH_DIR"/nodered/* "$REPO/benchmarks/flows/nodered-fanout.json"; do ln -s "$f" "$TMP/bench/nodered/"; done
GREET_LUA=$BENCH_DIR/greet.lua

peak_rss() {  # pidfile outfile: poll the candidate's VmHWM (kB) until it ends; the last value is its peak
    local pid="" hwm
    for _ in $(seq 1 900); do [ -s "$1" ] && { pid=$(cat "$1"); break; }; sleep 0.1; done
    [ -n "$pid" ] || return
    while hwm=$(awk '/^VmHWM/{print $2}' "/proc/$pid/status" 2>/dev/null) && [ -n "$hwm" ]; do
        echo "$hwm" >"$2"; sleep 0.5; done
}

declare -A RATIO
run() {  # name nr_flow nr_path wrk_script url_path command...
    local name=$1 nr_flow=$2 nr_path=$3 script=$4 path=$5 cmd=$6 out
    echo "== $name"
    rm -f "$TMP/pid" "$TMP/rss"
    peak_rss "$TMP/pid" "$TMP/rss" &
    local sampler=$!
    out=$(NR_FLOW=$nr_flow NR_PATH=$nr_path WRK_SCRIPT=$script "$TMP/bench/ping_vs.sh" \
          "echo \$\$ >$TMP/pid; exec $cmd" "$path" 2>&1)
    wait "$sampler" 2>/dev/null
    echo "$out" | grep -v '^#'
    [ -s "$TMP/rss" ] && awk '{printf "candidate_peak_rss_mb=%.1f\n", $1/1024}' "$TMP/rss"
    RATIO[$name]=$(awk -F= '/^ratio_vs_nodered=/{print $2}' <<<"$out")
}
start() { echo "$PORTFLOW start --from-specs $REPO/$1 -e PORT=\$PORT"; }
bare="$GRANIAN --interface asgi --loop uvloop --no-ws --log-level warning --backlog 4096 --host 127.0.0.1 --port \$PORT --working-dir $REPO/benchmarks flows_bare:app"

for f in $FLOWS; do
    case $f in
    ping)         run ping flows.json /ping "" /ping "$(start examples/ping.yaml)" ;;
    greet_js)     run greet_js flows-json.json /greet "$GREET_LUA" /greet "$(start benchmarks/flows/greet-javascript.yaml)" ;;
    greet_cel)    run greet_cel flows-json.json /greet "$GREET_LUA" /greet "$(start benchmarks/flows/greet-cel.yaml)" ;;
    greet_python) run greet_python flows-json.json /greet "$GREET_LUA" /greet "$(start benchmarks/flows/greet-python.yaml)" ;;
    fanout)       run fanout nodered-fanout.json /greet "$GREET_LUA" /greet "$(start benchmarks/flows/fanout.yaml)" ;;
    bare_ping)    run bare_ping flows.json /ping "" /ping "$bare" ;;
    bare_greet)   run bare_greet flows-json.json /greet "$GREET_LUA" /greet "$bare" ;;
    *) echo "unknown flow $f" >&2; exit 2 ;;
    esac
done
extra=""
for k in fanout bare_ping bare_greet; do [ -n "${RATIO[$k]:-}" ] && extra+=" ${k}_ratio=${RATIO[$k]}"; done
[ -n "$extra" ] && echo "#${extra}"
echo "ping_ratio=${RATIO[ping]:-NaN} greet_js_ratio=${RATIO[greet_js]:-NaN} greet_cel_ratio=${RATIO[greet_cel]:-NaN} greet_python_ratio=${RATIO[greet_python]:-NaN}"
