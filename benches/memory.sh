#!/usr/bin/env bash
# Figures of issue 11 (memory), as a user runs them, from outside: `monstrum run` of a one-step
# workflow whose bot (scripted model) calls memory.set, memory.get and memory.search once each,
# with the recall of relevant memory into the step's context, on a workspace whose bot has
# N entries (default 100,000) against the same workspace with an empty memory. Best of five.
# The inner figures (the calls alone, SQLite and PostgreSQL) are
# `cargo bench -p monstrum-core --bench memory`.
#
#   benches/memory.sh [N]        uses target/debug/monstrum, or MONSTRUM=path/to/monstrum
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
N=${1:-100000}

make_ws() {
  local ws=$1
  mkdir -p "$ws/bots" "$ws/workflows" "$ws/scripts"
  cat > "$ws/bots/ops.yaml" <<'EOF'
name: ops
model: { provider: scripted, script: scripts/ops.yaml }
EOF
  cat > "$ws/scripts/ops.yaml" <<'EOF'
- tool_calls:
    - { name: memory.set, arguments: { key: latest, value: "disk full on web-1 again" } }
    - { name: memory.get, arguments: { key: note-77 } }
    - { name: memory.search, arguments: { query: "kaloka tenloka disk" } }
- text: done
EOF
  cat > "$ws/workflows/ask.yaml" <<'EOF'
name: ask
bot: ops
steps:
  - id: ask
    llm: { prompt: "What do we know about kaloka and the disk on web-1?" }
EOF
  # The first run creates the store.
  "$MONSTRUM" run "$ws/workflows/ask.yaml" >/dev/null 2>&1
}

make_ws "$WORK/empty"
make_ws "$WORK/full"
python3 - "$WORK/full/.monstrum/monstrum.db" "$N" <<'PY'
import random, sqlite3, sys
db, n = sys.argv[1], int(sys.argv[2])
syl = ["ka", "lo", "mi", "ten", "ra", "vo", "si", "dun", "pe", "gar", "no", "bi", "tu", "shen", "al", "or", "ex", "zu", "hy", "qua"]
words = [syl[i % 20] + syl[(i // 20) % 20] + syl[(i // 400) % 20] for i in range(2000)]
rnd = random.Random(7)
parts = lambda i: "global" if i % 2 == 0 else f"channel:ops-slack/C{i % 50}" if i % 4 == 1 else f"resource:db-{i % 20}"
conn = sqlite3.connect(db)
# Rows go in through the table, so the store's own triggers index them (FTS5).
conn.executemany(
    "INSERT INTO memory (bot, part, mkey, value, updated_at) VALUES ('ops', ?, ?, ?, 0)",
    ((parts(i), f"note-{i}", '"' + " ".join(rnd.choice(words) for _ in range(12)) + '"') for i in range(n)),
)
conn.commit()
print(f"filled: {conn.execute('SELECT count(*) FROM memory').fetchone()[0]} entries")
PY

empty=$(best 5 "$MONSTRUM" run "$WORK/empty/workflows/ask.yaml")
full=$(best 5 "$MONSTRUM" run "$WORK/full/workflows/ask.yaml")
echo "monstrum run, one LLM step with memory.set/get/search and recall (best of 5):"
echo "  empty memory:        ${empty} ms"
echo "  ${N} entries:      ${full} ms"
"$MONSTRUM" run --json "$WORK/full/workflows/ask.yaml" | python3 -c '
import json, sys
for line in sys.stdin:
    e = json.loads(line)
    if e["type"] == "llm_request" and e.get("memory"):
        print("  recalled into the first request:", ", ".join(e["memory"]))
        break
'
