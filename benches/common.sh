# Sourced by the bench scripts that time the `monstrum` binary from outside (memory.sh,
# skills.sh, plugin_author.sh, marketplace.sh):
#   ROOT      the repository
#   MONSTRUM  the binary: target/debug/monstrum unless set (MONSTRUM=target/release/monstrum)
#   WORK      a temporary folder, removed on exit, with every process whose pid is in PIDS
#   now, ms START, time_cmd CMD..., best N CMD...   wall-clock timing in milliseconds
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MONSTRUM=${MONSTRUM:-$ROOT/target/debug/monstrum}
[ -x "$MONSTRUM" ] || { echo "no $MONSTRUM: cargo build -p monstrum first, or set MONSTRUM" >&2; exit 2; }
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

now() { date +%s.%N; }
# Milliseconds since START (a `now`).
ms() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.0f", (b - a) * 1000 }'; }
# Milliseconds one run of CMD takes (its output dropped).
time_cmd() { local s; s=$(now); "$@" > /dev/null 2>&1; ms "$s"; }
# The best of N runs of CMD, in milliseconds.
best() {
  local n=$1 b= t
  shift
  for _ in $(seq "$n"); do
    t=$(time_cmd "$@")
    if [ -z "$b" ] || [ "$t" -lt "$b" ]; then b=$t; fi
  done
  echo "$b"
}
