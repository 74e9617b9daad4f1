#!/usr/bin/env bash
# Figures of issue 11 (skills), as a user runs them, from outside:
#   - `monstrum skill list --json` of a workspace with N skills (default 1,000), each a SKILL.md
#     of about 1.5 KB as published for other hosts (license, metadata, allowed-tools, a field of
#     another host, so every one is parsed, checked and warned about): cold (the page cache
#     dropped first, where the machine lets us) and warm (best of three);
#   - `monstrum run` of a one-step workflow (scripted model) whose bot enables all N skills (past
#     the prompt budget: the catalogue), against the same bot enabling none: what loading and
#     compiling the skills adds to a run.
#
#   benches/skills.sh [N]        uses target/debug/monstrum, or MONSTRUM=path/to/monstrum
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
N=${1:-1000}
WS=$WORK/ws

python3 - "$WS" "$N" <<'PY'
import os, sys
ws, n = sys.argv[1], int(sys.argv[2])
body = "\n".join(f"{i}. Check the service's state, then act only on what the logs show." for i in range(1, 20))
names = []
for i in range(n):
    name = f"skill-{i:04d}"
    names.append(name)
    os.makedirs(f"{ws}/skills/{name}/references", exist_ok=True)
    with open(f"{ws}/skills/{name}/SKILL.md", "w") as f:
        f.write(f"---\nname: {name}\ndescription: \"Skill {i}: triage one kind of incident. Use when its alert fires.\"\n"
                f"license: Apache-2.0\nmetadata:\n  author: bench\n  version: \"1.{i}.0\"\n"
                f"argument-hint: \"[service]\"\nallowed-tools: ops.exec, ops.read\n---\n# Skill {i}\n\n{body}\n")
    with open(f"{ws}/skills/{name}/references/guide.md", "w") as f:
        f.write("A guide.\n")
os.makedirs(f"{ws}/bots", exist_ok=True)
os.makedirs(f"{ws}/workflows", exist_ok=True)
os.makedirs(f"{ws}/scripts", exist_ok=True)
with open(f"{ws}/scripts/say.yaml", "w") as f:
    f.write("- text: done\n")
for bot, skills in (("many", names), ("none", [])):
    with open(f"{ws}/bots/{bot}.yaml", "w") as f:
        f.write(f"name: {bot}\nmodel: {{ provider: scripted, script: scripts/say.yaml }}\nskills: [{', '.join(skills)}]\n")
    with open(f"{ws}/workflows/{bot}.yaml", "w") as f:
        f.write(f"name: {bot}\nbot: {bot}\nsteps:\n  - id: ask\n    llm: {{ prompt: hi }}\n")
PY

drop_caches() { sync; { echo 1 > /proc/sys/vm/drop_caches; } 2> /dev/null && echo dropped || echo "not dropped (no permission): warm"; }

listed=$("$MONSTRUM" --workspace "$WS" --json skill list | grep -c '"status":"warnings"')
[ "$listed" = "$N" ] || { echo "expected $N skills loaded with warnings, got $listed" >&2; exit 1; }
cache=$(drop_caches)
cold=$(time_cmd "$MONSTRUM" --workspace "$WS" --json skill list)
warm=$(best 3 "$MONSTRUM" --workspace "$WS" --json skill list)
run_none=$(best 3 "$MONSTRUM" --workspace "$WS" run "$WS/workflows/none.yaml")
run_many=$(best 3 "$MONSTRUM" --workspace "$WS" run "$WS/workflows/many.yaml")
cat <<EOF
binary                                   $MONSTRUM
skills                                   $N ($(du -sh "$WS/skills" | cut -f1) on disk)
skill list, cold (page cache $cache)     ${cold} ms
skill list, warm (best of 3)             ${warm} ms
run, bot with no skill (best of 3)       ${run_none} ms
run, bot enabling all $N (best of 3)   ${run_many} ms
EOF
