#!/usr/bin/env bash
# The visual editor as a browser gets it: the size of its WebAssembly and JavaScript (raw and
# gzip -9) as the release binary serves them, the first load to the sign-in form on loopback in
# headless Chromium (six loads, through chromedriver), and a 500-step workflow: open to drawn,
# and frame times while dragging a node in it (benches/editor/big_graph.py). See benches/README.md.
#
#   benches/editor.sh
#
# Needs Debian's chromium and chromium-driver, and Python's httpx. Prints one JSON line per case.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BIN=${BIN:-$ROOT/target/release/monstrum}
[ -x "$BIN" ] || cargo build --release -p monstrum -j"${JOBS:-2}"

WORK=$(mktemp -d)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
DRIVER=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$WORK/workflows"
# 500 steps in 25 layers of 20, each step needing one or two of the layer before.
python3 - "$WORK/workflows/big.yaml" <<'PY'
import sys
lines = ["name: big", "steps:"]
for layer in range(25):
    for i in range(20):
        needs = [] if layer == 0 else sorted({f"s{layer - 1}_{i}", f"s{layer - 1}_{(i * 7 + 3) % 20}"})
        lines.append(f"  - {{ id: s{layer}_{i}, tool: core.echo, with: {{ n: {i} }}"
                     + (f", needs: [{', '.join(needs)}]" if needs else "") + " }")
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
PY
TOKEN=$(cd "$WORK" && "$BIN" token create --role editor --name bench 2>/dev/null | tail -n 1)
(cd "$WORK" && "$BIN" serve --addr "127.0.0.1:$PORT" >/dev/null 2>&1) &
PIDS+=($!)
chromedriver --port="$DRIVER" >/dev/null 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done

for file in monstrum_ui_bg.wasm monstrum_ui.js; do
  raw=$(curl -s "http://127.0.0.1:$PORT/ui/$file" | wc -c)
  gz=$(curl -s "http://127.0.0.1:$PORT/ui/$file" | gzip -9 | wc -c)
  echo "{\"case\":\"size\",\"file\":\"$file\",\"raw_bytes\":$raw,\"gzip_bytes\":$gz}"
done
for file in codemirror.js; do
  raw=$(curl -s "http://127.0.0.1:$PORT/ui/$file" | wc -c)
  gz=$(curl -s "http://127.0.0.1:$PORT/ui/$file" | gzip -9 | wc -c)
  echo "{\"case\":\"size\",\"file\":\"$file\",\"raw_bytes\":$raw,\"gzip_bytes\":$gz}"
done
python3 benches/editor/first_load.py "http://127.0.0.1:$DRIVER" "http://127.0.0.1:$PORT/" "$WORK/profile"
python3 benches/editor/big_graph.py "http://127.0.0.1:$DRIVER" "http://127.0.0.1:$PORT/" "$WORK/profile2" "$TOKEN"
