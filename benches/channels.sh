#!/usr/bin/env bash
# The channel gateway's webhook ingestion as a service sees it (issue 13): `monstrum serve` on
# loopback, wrk posting pre-signed, distinct events (benches/channels/sign.py) to /hooks/NAME,
# Slack-signed and Standard-Webhooks-signed. Each acknowledged request must be a delivery in the
# store: the script counts them there afterwards ("lost" = acknowledged but not recorded).
#
#   benches/channels.sh
#
# Cases: `slack` and `webhook`, whose route never matches (verify, route, record, audit, ack:
# ingestion alone), and `webhook_routed`, where every message starts a one-step run (the run
# goes on after the ack; the script waits for every run to end and counts them).
# Environment: BIN (default target/release/monstrum, built if absent), DURATION=10s,
# CONNECTIONS=16, THREADS=2, N=400000 (requests signed per case). Prints one JSON line per case,
# also appended to target/bench-results/channels.jsonl.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BIN=${BIN:-$ROOT/target/release/monstrum}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-16}
THREADS=${THREADS:-2}
N=${N:-400000}
OUT=$ROOT/target/bench-results
mkdir -p "$OUT"
command -v wrk >/dev/null || { echo "benches/channels.sh needs wrk (apt-get install wrk)" >&2; exit 1; }
[ -x "$BIN" ] || cargo build --release -p monstrum -j"${JOBS:-2}"

WORK=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
WS=$WORK/ws
SLACK_SECRET=8f742231b10e8888abcd99yyyzzz85a5
HOOK_SECRET=whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD
mkdir -p "$WS/bots" "$WS/channels" "$WS/workflows"
printf 'name: ops\npersonality: answers\n' >"$WS/bots/ops.yaml"
cat >"$WS/workflows/ack.yaml" <<'YAML'
name: ack
bot: ops
inputs:
  message: { type: object }
steps:
  - { id: echo, tool: core.echo, with: { text: "{{ inputs.message.text }}" } }
outputs:
  reply: "{{ steps.echo.output.text }}"
YAML
never='  - { if: "message.text == '"'"'never'"'"'", bot: ops }'
printf 'name: slack\nkind: slack\nsecrets: { signing_secret: s, bot_token: t }\nroutes:\n%s\n' "$never" >"$WS/channels/slack.yaml"
printf 'name: webhook\nkind: webhook\nsecrets: { signing_secret: h }\nroutes:\n%s\n' "$never" >"$WS/channels/webhook.yaml"
# Answers go to a closed port: the run ends, its answer is tried and recorded as not delivered.
printf 'name: routed\nkind: webhook\nsecrets: { signing_secret: h }\ncallback: http://127.0.0.1:9/answers\nroutes:\n  - { bot: ops, workflow: workflows/ack.yaml }\n' >"$WS/channels/routed.yaml"
(cd "$WS" && printf '%s' "$SLACK_SECRET" | "$BIN" vault set s && printf 'xoxb' | "$BIN" vault set t \
  && printf '%s' "$HOOK_SECRET" | "$BIN" vault set h) >/dev/null

emit() { echo "$1" | tee -a "$OUT/channels.jsonl"; }

start() {
    local log=$WORK/serve.log
    (cd "$WS" && RUST_LOG=error exec "$BIN" serve --addr 127.0.0.1:0 2>"$log") &
    PID=$!
    URL=
    until [ -n "$URL" ]; do URL=$(grep -o 'http://[0-9.:]*' "$log" 2>/dev/null | head -n1 || true); done
    until curl -fs "$URL/health" >/dev/null 2>&1; do :; done
}

deliveries() { python3 -c '
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
print(db.execute("SELECT count(*) FROM channel_deliveries WHERE channel = ?", (sys.argv[2],)).fetchone()[0])' \
    "$WS/.monstrum/monstrum.db" "$1"; }

bench() { # case channel kind secret
    local name=$1 channel=$2 kind=$3 secret=$4 out
    python3 benches/channels/sign.py "$kind" "$secret" "$N" "$WORK/requests.tsv"
    out=$(REQUESTS=$WORK/requests.tsv THREADS=$THREADS wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency \
        -s benches/channels/wrk.lua "$URL/hooks/$channel")
    local recorded
    recorded=$(deliveries "$channel")
    python3 - "$name" "$out" "$recorded" <<'PY'
import json, re, sys
name, out, recorded = sys.argv[1], sys.argv[2], int(sys.argv[3])
def ms(s):
    v, unit = float(re.match(r"([\d.]+)", s).group(1)), re.search(r"(us|ms|s)$", s).group(1)
    return round(v / 1000 if unit == "us" else v * 1000 if unit == "s" else v, 3)
lat = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)", out, re.M))
done = int(re.search(r"(\d+) requests in", out).group(1))
m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
bad = int(m.group(1)) if m else 0
acked = done - bad
print(json.dumps({"case": name, "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
                  "p50_ms": ms(lat["50"]), "p90_ms": ms(lat["90"]), "p99_ms": ms(lat["99"]),
                  "acknowledged": acked, "non2xx": bad, "recorded": recorded, "lost": max(0, acked - recorded)}))
PY
}

start
emit "$(bench slack slack slack "$SLACK_SECRET")"
emit "$(bench webhook webhook webhook "$HOOK_SECRET")"
emit "$(bench webhook_routed routed webhook "$HOOK_SECRET")"
# Every routed message's run ends (driven after the ack; the last ones may not have started when
# wrk stops): wait until each routed delivery has a run that ended, then count them by status.
t0=$(date +%s)
while :; do
    left=$(python3 -c '
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
print(db.execute("""SELECT count(*) FROM channel_deliveries d LEFT JOIN runs r ON r.id = d.run_id
                      WHERE d.channel = ? AND (r.id IS NULL OR r.status IN (?, ?))""",
                 ("routed", "running", "waiting")).fetchone()[0])' \
        "$WS/.monstrum/monstrum.db")
    # A delivery recorded but never started would hold the wait forever: give up after 2 min.
    [ "$left" = 0 ] || [ $(( $(date +%s) - t0 )) -gt 120 ] && break
    sleep 1
done
runs=$(python3 -c '
import sqlite3, sys, json
db = sqlite3.connect(sys.argv[1])
print(json.dumps(dict(db.execute("SELECT status, count(*) FROM runs GROUP BY status").fetchall())))' "$WS/.monstrum/monstrum.db")
emit "{\"case\":\"routed_runs\",\"by_status\":$runs,\"not_run\":$left,\"drained_s\":$(( $(date +%s) - t0 ))}"
