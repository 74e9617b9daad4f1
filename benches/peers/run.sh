#!/usr/bin/env bash
# Durable peers of Monstrum on this machine: a chain of 1,000 durable no-op steps in Restate and
# in DBOS. See benches/peers/README.md.
#
#   benches/peers/run.sh [restate|dbos ...]      (default: both)
#
# Each peer prints one JSON line on stdout, also appended to target/bench-results/peers.jsonl.
# A peer that cannot be installed, started or run is reported on stderr and makes the exit
# status non-zero; the other peers still run.
#
# Environment:
#   RUNS=5, STEPS=1000         timed runs of chain(1) and chain(STEPS) per peer (median of each)
#   PYTHON=python3             the Python that creates target/peers/dbos-venv
#   DBOS_PG=postgresql://postgres@127.0.0.1:5432   the PostgreSQL server DBOS uses
#   RESTATE_{INGRESS,ADMIN,FABRIC,SERVICE}_PORT    see benches/peers/restate/bench.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
export RUNS=${RUNS:-5} STEPS=${STEPS:-1000}
PYTHON=${PYTHON:-python3}
DBOS_PG=${DBOS_PG:-postgresql://postgres@127.0.0.1:5432}
OUT=$ROOT/target/bench-results
mkdir -p "$OUT"

restate() {
    benches/peers/restate/bench.sh
}

dbos() {
    local venv=$ROOT/target/peers/dbos-venv
    if [ ! -x "$venv/bin/python" ]; then
        "$PYTHON" -m venv "$venv" >&2 || { echo "dbos: cannot create a venv with $PYTHON" >&2; return 1; }
    fi
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r benches/peers/dbos/requirements.txt >&2 \
        || { echo "dbos: pip install -r benches/peers/dbos/requirements.txt failed" >&2; return 1; }
    "$venv/bin/python" benches/peers/dbos/bench.py --runs "$RUNS" --steps "$STEPS" --pg "$DBOS_PG"
}

peers=("$@")
[ ${#peers[@]} -gt 0 ] || peers=(restate dbos)
for peer in "${peers[@]}"; do
    case $peer in
        restate | dbos) ;;
        *) echo "unknown peer '$peer' (known: restate dbos)" >&2; exit 2 ;;
    esac
done

failed=()
for peer in "${peers[@]}"; do
    printf '\n== peer: %s\n' "$peer" >&2
    if line=$("$peer" | tail -n 1) && [[ $line == '{"peer":'* ]]; then
        echo "$line"
        echo "$line" >> "$OUT/peers.jsonl"
    else
        echo "peer $peer FAILED: no result (see the messages above)" >&2
        failed+=("$peer")
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "failed peers: ${failed[*]}" >&2
    exit 1
fi
