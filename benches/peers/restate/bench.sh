#!/usr/bin/env bash
# Restate peer: a chain of N durable no-op steps (ctx.run) in one invocation, timed through
# the ingress. Prints one JSON line on stdout; progress goes to stderr.
#
#   benches/peers/restate/bench.sh
#
# Environment:
#   RUNS=5                     timed invocations of chain(1) and of chain(STEPS); the median is used
#   STEPS=1000                 length of the long chain
#   RESTATE_INGRESS_PORT, RESTATE_ADMIN_PORT, RESTATE_FABRIC_PORT, RESTATE_SERVICE_PORT
#                              ports on 127.0.0.1 (default: free ports picked at start)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
HERE=$ROOT/benches/peers/restate
PREFIX=$ROOT/target/peers/restate
RUNS=${RUNS:-5}
STEPS=${STEPS:-1000}

log() { printf 'restate: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

command -v node > /dev/null || die "node is not installed"

# ---- Install the server (npm ships the binary) and the SDK, at the versions of package.json
mkdir -p "$PREFIX"
cp "$HERE/package.json" "$HERE/service.mjs" "$PREFIX/"
log "npm install --prefix $PREFIX"
SCARF_ANALYTICS=false npm install --prefix "$PREFIX" --no-audit --no-fund --loglevel=error >&2 \
    || die "npm install of @restatedev/restate-server and @restatedev/restate-sdk failed"
# the binary itself, not the node wrapper of node_modules/.bin, so that it gets our signals
SERVER=$(cd "$PREFIX" && node -p 'require.resolve(`@restatedev/restate-server-${process.platform}-${process.arch}/bin/restate-server`)') \
    || die "no restate-server binary for $(uname -sm) in $PREFIX/node_modules"
"$SERVER" --version > /dev/null 2>&1 || die "$SERVER does not run (no binary for $(uname -sm)?)"
VERSION=$("$SERVER" --version | awk '{ print $NF }')

INGRESS=${RESTATE_INGRESS_PORT:-$(free_port)}
ADMIN=${RESTATE_ADMIN_PORT:-$(free_port)}
FABRIC=${RESTATE_FABRIC_PORT:-$(free_port)}
SVC=${RESTATE_SERVICE_PORT:-$(free_port)}
for p in "$INGRESS" "$ADMIN" "$FABRIC" "$SVC"; do
    [ "$p" != 7410 ] || die "port 7410 is reserved, pick another"
    if (exec 3<> "/dev/tcp/127.0.0.1/$p") 2> /dev/null; then die "port $p on 127.0.0.1 is in use"; fi
done

# ---- Server and service, both stopped (and the data removed) however this script ends
WORK=$(mktemp -d -t monstrum-restate.XXXXXX)
SERVER_PID="" SVC_PID=""
cleanup() {
    for pid in $SVC_PID $SERVER_PID; do
        kill "$pid" 2> /dev/null || true
    done
    for pid in $SVC_PID $SERVER_PID; do
        wait "$pid" 2> /dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Everything at the server's defaults (RocksDB, WAL fsync on, 24 partitions) except the
# addresses, TCP only, and no telemetry.
cat > "$WORK/restate.toml" <<TOML
bind-ip = "127.0.0.1"
bind-port = $FABRIC
listen-mode = "tcp"
disable-telemetry = true
[admin]
bind-port = $ADMIN
[ingress]
bind-port = $INGRESS
TOML

log "restate-server $VERSION: ingress :$INGRESS, admin :$ADMIN, fabric :$FABRIC, data in $WORK"
"$SERVER" --config-file "$WORK/restate.toml" --base-dir "$WORK/data" --node-name bench --no-logo \
    > "$WORK/server.log" 2>&1 &
SERVER_PID=$!
(cd "$PREFIX" && exec node service.mjs "$SVC") > "$WORK/service.log" 2>&1 &
SVC_PID=$!

fail() { log "$*"; log "server log (tail):"; tail -n 20 "$WORK/server.log" >&2; log "service log (tail):"; tail -n 20 "$WORK/service.log" >&2; exit 1; }
for _ in $(seq 1 300); do
    curl -sf "http://127.0.0.1:$ADMIN/health" > /dev/null 2>&1 && break
    kill -0 "$SERVER_PID" 2> /dev/null || fail "restate-server exited"
    sleep 0.1
done
curl -sf "http://127.0.0.1:$ADMIN/health" > /dev/null || fail "admin API not up after 30 s"
kill -0 "$SVC_PID" 2> /dev/null || fail "the service (node service.mjs) exited"

log "registering http://127.0.0.1:$SVC"
registered=""
for _ in $(seq 1 100); do
    if curl -sf -X POST "http://127.0.0.1:$ADMIN/deployments" -H 'content-type: application/json' \
        -d "{\"uri\": \"http://127.0.0.1:$SVC\"}" > "$WORK/register.json" 2>&1; then
        registered=1
        break
    fi
    sleep 0.1
done
[ -n "$registered" ] || fail "POST /deployments failed: $(cat "$WORK/register.json")"

# chain(n) through the ingress; prints the wall time in seconds, checks the answer
call() {
    local t
    t=$(curl -sS --max-time "${CALL_TIMEOUT:-120}" --fail-with-body -o "$WORK/out" -w '%{time_total}' -X POST \
        "http://127.0.0.1:$INGRESS/Bench/chain" -H 'content-type: application/json' -d "$1") \
        || { log "chain($1) failed: $(cat "$WORK/out" 2> /dev/null)"; return 1; }
    [ "$(cat "$WORK/out")" = "$1" ] || { log "chain($1) answered $(cat "$WORK/out")"; return 1; }
    echo "$t"
}

log "waiting for the ingress to know Bench/chain"
ready=""
for _ in $(seq 1 100); do
    if CALL_TIMEOUT=5 call 1 > /dev/null 2>&1; then ready=1; break; fi
    sleep 0.1
done
[ -n "$ready" ] || fail "Bench/chain not callable through the ingress after 10 s"

log "warm-up: chain(1) x 5, chain($STEPS) x 1"
for _ in 1 2 3 4 5; do call 1 > /dev/null || fail "warm-up chain(1) failed"; done
call "$STEPS" > /dev/null || fail "warm-up chain($STEPS) failed"

: > "$WORK/t1"
: > "$WORK/tn"
for i in $(seq 1 "$RUNS"); do
    t1=$(call 1) || fail "chain(1) failed"
    tn=$(call "$STEPS") || fail "chain($STEPS) failed"
    echo "$t1" >> "$WORK/t1"
    echo "$tn" >> "$WORK/tn"
    log "run $i/$RUNS: chain(1) $(awk -v t="$t1" 'BEGIN { printf "%.1f", t * 1e3 }') ms, chain($STEPS) $(awk -v t="$tn" 'BEGIN { printf "%.1f", t * 1e3 }') ms"
done

node - "$WORK/t1" "$WORK/tn" "$STEPS" "$VERSION" "$RUNS" <<'JS'
const fs = require("fs");
const [t1f, tnf, steps, version, runs] = process.argv.slice(2);
const median = (f) => {
    const v = fs.readFileSync(f, "utf8").trim().split("\n").map(Number).sort((a, b) => a - b);
    return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};
const us = ((median(tnf) - median(t1f)) * 1e6) / (Number(steps) - 1);
console.log(JSON.stringify({ peer: "restate", version, shape: "chain", steps: Number(steps),
    us_per_step: Math.round(us * 100) / 100, runs: Number(runs) }));
JS
