#!/usr/bin/env bash
# Figures of issue 11 (marketplace), as a user runs them, from outside: `monstrum skill install`
# and `monstrum plugin install` of a signed package from an index `monstrum serve` hosts, and
# from a folder index, into a workspace that trusts the publisher. Each install resolves the
# version, downloads the package, verifies its SHA-256, every entry's checksum, the Ed25519
# signature and the publisher's trust, audits the decision and writes the files (--force, so
# every round writes). The packages: the shipped skill log-triage (two files) and the built-in
# github plugin (its 160 KB component). Best and median of 10.
# The inner figure (reading and verifying a package, no process or I/O) is
# `cargo bench -p monstrum-core --bench marketplace`.
#
#   benches/marketplace.sh       uses target/debug/monstrum, or MONSTRUM=path/to/monstrum
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
COMPONENT=$ROOT/target/guests/wasm32-wasip2/release/github.wasm
[ -f "$COMPONENT" ] || { echo "no $COMPONENT: cargo build -p monstrum first" >&2; exit 2; }

mkdir -p "$WORK/publisher" "$WORK/server/workflows" "$WORK/ws/workflows" "$WORK/index"
cd "$WORK/publisher"
KEY=$("$MONSTRUM" key create bench | tail -n 1)
"$MONSTRUM" plugin pack "$ROOT/plugins/github" --component "$COMPONENT" -o github.mst > /dev/null

cd "$WORK/server"
ADMIN=$("$MONSTRUM" token create --role admin --name ada | tail -n 1)
VIEWER=$("$MONSTRUM" token create --role viewer --name vic | tail -n 1)
"$MONSTRUM" serve --addr 127.0.0.1:0 2> "$WORK/serve.log" > /dev/null &
PIDS+=($!)
for _ in $(seq 100); do grep -q "listening on" "$WORK/serve.log" && break; sleep 0.1; done
URL=$(sed -n 's/.*listening on \([^ ]*\).*/\1/p' "$WORK/serve.log")

cd "$WORK/publisher"
for index in "$URL" "$WORK/index"; do
  "$MONSTRUM" skill publish "$ROOT/skills/log-triage" --key bench --index "$index" --token "$ADMIN" > /dev/null
  "$MONSTRUM" plugin publish github.mst --key bench --index "$index" --token "$ADMIN" > /dev/null
done

cd "$WORK/ws"
printf 'trust:\n  - name: bench\n    key: %s\n' "$KEY" > monstrum.yaml
# The first install creates the store.
"$MONSTRUM" skill install log-triage --index "$URL" --token "$VIEWER" > /dev/null

# best and median of 10 runs of CMD, in milliseconds.
stats() {
  local times=() t
  for _ in $(seq 10); do times+=("$(time_cmd "$@")"); done
  printf '%s\n' "${times[@]}" | sort -n | awk '{ a[NR] = $1 } END { printf "best %4d ms   median %4d ms", a[1], (a[5] + a[6]) / 2 }'
}

echo "install of a signed package, verified and written (monstrum $(basename "$(dirname "$MONSTRUM")") binary):"
for index in "$URL" "$WORK/index"; do
  where=$([ "$index" = "$URL" ] && echo "served index" || echo "folder index")
  echo "  skill log-triage,  $where:  $(stats "$MONSTRUM" skill install log-triage --index "$index" --token "$VIEWER" --force)"
  echo "  plugin github,     $where:  $(stats "$MONSTRUM" plugin install github --index "$index" --token "$VIEWER" --force)"
done
echo "  for scale, monstrum --version:             $(stats "$MONSTRUM" --version)"
"$MONSTRUM" audit list --kind install --limit 1 | tail -n 1 | cut -c1-160
