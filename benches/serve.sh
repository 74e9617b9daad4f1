#!/usr/bin/env bash
# `monstrum serve` as a client sees it, on loopback: requests/s and latency of three routes
# under wrk, the cold start to a healthy /health, the memory of an idle server, and the SSE
# fan-out (1,000 subscribers on one run). See benches/README.md ("The server").
#
#   benches/serve.sh
#
# Environment:
#   BIN=target/release/monstrum   the binary (built with `cargo build --release -p monstrum` if absent)
#   DURATION=10s  CONNECTIONS=16  THREADS=2     wrk's settings
#   SUBSCRIBERS=1000  FANOUT_STEPS=200          the fan-out case (ONLY=fanout: that case alone)
# Needs wrk (Debian's `wrk`) and Python's httpx. Prints one JSON line per case on stdout, also
# appended to target/bench-results/serve.jsonl.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BIN=${BIN:-$ROOT/target/release/monstrum}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-16}
THREADS=${THREADS:-2}
SUBSCRIBERS=${SUBSCRIBERS:-1000}
FANOUT_STEPS=${FANOUT_STEPS:-200}
OUT=$ROOT/target/bench-results
mkdir -p "$OUT"
command -v wrk >/dev/null || { echo "benches/serve.sh needs wrk (apt-get install wrk)" >&2; exit 1; }
[ -x "$BIN" ] || cargo build --release -p monstrum -j"${JOBS:-2}"

WORK=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
WS=$WORK/ws
mkdir -p "$WS/workflows"
cat >"$WS/workflows/three.yaml" <<'YAML'
name: three
steps:
  - { id: a, tool: core.echo, with: { n: 1 } }
  - { id: b, needs: [a], tool: core.echo, with: { n: 2 } }
  - { id: c, needs: [b], tool: core.echo, with: { n: 3 } }
YAML
python3 - "$WS/workflows/chain.yaml" "$FANOUT_STEPS" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
# `hold` gives the fan-out's subscribers time to connect before the chain runs.
lines = ["name: chain", "steps:", "  - { id: hold, tool: core.wait, with: { seconds: 15 } }",
         "  - { id: s0, needs: [hold], tool: core.echo, with: { i: 0 } }"]
lines += [f"  - {{ id: s{i}, needs: [s{i-1}], tool: core.echo, with: {{ i: {i} }} }}" for i in range(1, n)]
open(path, "w").write("\n".join(lines) + "\n")
PY
TOKEN=$(cd "$WS" && "$BIN" token create --role editor --name bench | tail -n 1)
export TOKEN

emit() { echo "$1" | tee -a "$OUT/serve.jsonl"; }

# Starts the server; sets PID, URL and STARTUP_MS (spawn to a healthy /health).
start() {
    local t0 t1 log=$WORK/serve.log
    t0=$(date +%s%N)
    (cd "$WS" && exec "$BIN" serve --addr 127.0.0.1:0 2>"$log") &
    PID=$!
    URL=
    until [ -n "$URL" ]; do URL=$(grep -o 'http://[0-9.:]*' "$log" 2>/dev/null | head -n1 || true); done
    until curl -fs "$URL/health" >/dev/null 2>&1; do :; done
    t1=$(date +%s%N)
    STARTUP_MS=$(( (t1 - t0) / 1000000 ))
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=; }
rss_kb() { awk '/VmRSS/ { print $2 }' "/proc/$PID/status"; }

# ONLY=fanout runs the fan-out case alone.
if [ "${ONLY:-}" = fanout ]; then
    start
    emit "$(python3 benches/serve/fanout.py "$URL" "$TOKEN" chain "$FANOUT_STEPS" "$SUBSCRIBERS" "$PID")"
    exit 0
fi

# ---- Cold start, five times (the first also creates the store).
cold=()
for _ in 1 2 3 4 5; do start; cold+=("$STARTUP_MS"); stop; done
emit "{\"case\":\"cold_start_ms\",\"runs\":[$(IFS=,; echo "${cold[*]}")]}"

start
sleep 1
emit "{\"case\":\"idle_rss_kb\",\"value\":$(rss_kb)}"

# ---- wrk: one JSON line per route (requests/s, p50/p99 in ms, answers that were not 2xx).
bench() { # name method path [body-file content-type]
    local name=$1 method=$2 path=$3 out
    if [ "$method" = POST ]; then
        out=$(BODY_FILE=$4 CONTENT_TYPE=$5 wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s benches/serve/wrk.lua "$URL$path")
    else
        out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s benches/serve/wrk.lua "$URL$path")
    fi
    python3 - "$name" "$out" <<'PY'
import json, re, sys
name, out = sys.argv[1], sys.argv[2]
def ms(s):
    v, unit = float(re.match(r"([\d.]+)", s).group(1)), re.search(r"(us|ms|s)$", s).group(1)
    return round(v / 1000 if unit == "us" else v * 1000 if unit == "s" else v, 3)
lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
print(json.dumps({"case": name, "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
                  "p50_ms": ms(lat["50"]), "p99_ms": ms(lat["99"]),
                  "non2xx": int(re.search(r"non2xx=(\d+)", out).group(1))}))
PY
}
for _ in $(seq 1 20); do
    curl -fs -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '{"workflow":"three"}' "$URL/api/runs" >/dev/null
done
sleep 1
emit "$(bench get_runs GET '/api/runs?limit=20')"
emit "$(bench validate POST /api/workflows/validate "$WS/workflows/three.yaml" application/yaml)"
echo '{"workflow":"three"}' >"$WORK/start.json"
emit "$(bench start_three_step_run POST /api/runs "$WORK/start.json" application/json)"
# Every run started under load finishes (they are driven in the background): counted in the
# store by the command line, not through the API.
t0=$(date +%s)
while :; do
    counts=$(cd "$WS" && "$BIN" runs list --limit 1000000 --json | python3 -c '
import json, sys, collections
c = collections.Counter(json.loads(l)["status"] for l in sys.stdin if l.strip())
print(json.dumps(c))')
    python3 -c 'import json,sys; sys.exit(0 if json.loads(sys.argv[1]).get("running", 0) == 0 else 1)' "$counts" && break
    sleep 0.5
done
emit "{\"case\":\"runs_started_under_load\",\"by_status\":$counts,\"drained_s\":$(( $(date +%s) - t0 ))}"
emit "{\"case\":\"rss_after_load_kb\",\"value\":$(rss_kb)}"

# ---- SSE fan-out.
emit "$(python3 benches/serve/fanout.py "$URL" "$TOKEN" chain "$FANOUT_STEPS" "$SUBSCRIBERS" "$PID")"
