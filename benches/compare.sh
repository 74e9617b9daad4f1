#!/usr/bin/env bash
# Orchestration overhead of Monstrum beside LangGraph on the same three DAG shapes, and the
# cold start of `monstrum run`. See benches/README.md for what each figure means.
#
#   benches/compare.sh
#
# Environment:
#   JOBS=2                     cargo build jobs
#   PROFILE=                   a cargo profile for both the bench and the binary (e.g. `profiling`, which
#                              is release with symbols, to reuse the build of benches/instructions.sh);
#                              default: `cargo bench`'s and `--release`
#   LANGGRAPH_SIZES=1000,10000 sizes run in LangGraph (10,000 takes about 2 minutes per mode)
#   LANGGRAPH_MODES="sync async"   LangGraph's invoke() and/or ainvoke(); the ratio uses the faster
#   COLD_RUNS=20               runs of `monstrum run examples/hello/workflows/hello.yaml`
#   PYTHON=python3             the Python that creates the venv (target/bench-venv)
#   PEERS="restate dbos"       durable peers run by benches/peers/run.sh (PEERS=none: skip them; the
#                              summary then shows target/bench-results/peers.jsonl of an earlier run, if any)
#   MONSTRUM_BENCH_THREADS     tokio worker threads of the Rust bench (default: the cores)
# Results are kept in target/bench-results/.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
JOBS=${JOBS:-2}
LANGGRAPH_SIZES=${LANGGRAPH_SIZES:-1000,10000}
LANGGRAPH_MODES=${LANGGRAPH_MODES:-sync async}
COLD_RUNS=${COLD_RUNS:-20}
PYTHON=${PYTHON:-python3}
VENV=$ROOT/target/bench-venv
OUT=$ROOT/target/bench-results
mkdir -p "$OUT"

say() { printf '\n== %s\n' "$*" >&2; }

# ---- LangGraph, installed from PyPI into a venv under target/ (gitignored)
say "LangGraph venv ($VENV)"
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r benches/langgraph/requirements.txt
"$VENV/bin/python" -c 'import importlib.metadata as m; print("langgraph", m.version("langgraph"))' >&2

# ---- Monstrum: the figures of runtime/core/benches/orchestration.rs, in release
PROFILE=${PROFILE:-}
PROFILE_ARGS=()
[ -n "$PROFILE" ] && PROFILE_ARGS=(--profile "$PROFILE")
say "Monstrum: cargo bench ${PROFILE_ARGS[*]} -p monstrum-core --bench orchestration -- --figures"
cargo bench "${PROFILE_ARGS[@]}" -p monstrum-core --bench orchestration -j"$JOBS" -- --figures | tee "$OUT/monstrum.txt"

# ---- LangGraph
: > "$OUT/langgraph.jsonl"
for mode in $LANGGRAPH_MODES; do
    flag=""
    [ "$mode" = async ] && flag="--async"
    say "LangGraph ($mode): benches/langgraph/bench.py --sizes $LANGGRAPH_SIZES $flag"
    "$VENV/bin/python" benches/langgraph/bench.py --sizes "$LANGGRAPH_SIZES" $flag | tee -a "$OUT/langgraph.jsonl"
done

# ---- Durable peers (Restate, DBOS), each a chain of 1,000 durable no-op steps; a peer that fails
# is reported and makes the exit status non-zero once the summary is printed
PEERS=${PEERS:-restate dbos}
PEERS_FAILED=""
if [ "$PEERS" != none ]; then
    say "Durable peers: benches/peers/run.sh $PEERS"
    : > "$OUT/peers.jsonl"
    # shellcheck disable=SC2086
    benches/peers/run.sh $PEERS || PEERS_FAILED=1
fi

# ---- Cold `monstrum run` of the hello example, each in a fresh copy (no .monstrum: the SQLite
# store is created, migrated and used by that run)
say "Cold run: cargo build ${PROFILE_ARGS[*]:---release} -p monstrum"
if [ -n "$PROFILE" ]; then
    cargo build --profile "$PROFILE" -p monstrum -j"$JOBS"
    BIN=$ROOT/target/$PROFILE/monstrum
else
    cargo build --release -p monstrum -j"$JOBS"
    BIN=$ROOT/target/release/monstrum
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cp -r examples/hello "$WORK/hello"
rm -rf "$WORK/hello/.monstrum"
say "Cold run: $COLD_RUNS x monstrum run examples/hello/workflows/hello.yaml (fresh workspace each)"
: > "$OUT/cold.txt"
if command -v hyperfine > /dev/null; then
    hyperfine --style basic -N --warmup 2 --runs "$COLD_RUNS" \
        --prepare "rm -rf $WORK/hello/.monstrum" \
        --export-json "$OUT/cold.json" \
        "$BIN run $WORK/hello/workflows/hello.yaml" >&2
    "$VENV/bin/python" -c '
import json, sys
times = json.load(open(sys.argv[1]))["results"][0]["times"]
for t in times: print(f"{t * 1e3:.3f}")' "$OUT/cold.json" > "$OUT/cold.txt"
    COLD_TOOL=hyperfine
else
    for i in $(seq 1 $((COLD_RUNS + 2))); do
        rm -rf "$WORK/hello/.monstrum"
        t0=$(date +%s%N)
        "$BIN" run "$WORK/hello/workflows/hello.yaml" > /dev/null 2>&1
        t1=$(date +%s%N)
        # the first two are warm-up (page cache, binary)
        [ "$i" -gt 2 ] && echo "$(( (t1 - t0) / 1000 ))" | awk '{ printf "%.3f\n", $1 / 1000 }' >> "$OUT/cold.txt"
    done
    COLD_TOOL="a date +%s%N loop"
fi

# ---- What a user sees: `monstrum run` of generated 1,000-step workflows, timed from outside
say "Per step as a user sees it: benches/steps.sh (STORES=${STORES:-sqlite postgres})"
: > "$OUT/user-path.jsonl"
BIN=$BIN benches/steps.sh > /dev/null

# ---- Side by side
say "Summary"
"$VENV/bin/python" - "$OUT/monstrum.txt" "$OUT/langgraph.jsonl" "$OUT/cold.txt" "$COLD_TOOL" "$(nproc)" \
    "$OUT/peers.jsonl" "$OUT/user-path.jsonl" <<'PY'
import json, os, statistics, sys

monstrum_file, langgraph_file, cold_file, cold_tool, cores, peers_file, user_path_file = sys.argv[1:8]

def lines(path):
    out = []
    for line in open(path):
        line = line.strip()
        if line.startswith("{"):
            out.append(json.loads(line))
    return out

m = {(r["shape"], r["mode"], r["steps"]): r for r in lines(monstrum_file) if "shape" in r}
lg = {}
lg_version = "?"
for r in lines(langgraph_file):
    lg_version = r.get("langgraph", lg_version)
    key = (r["shape"], r["steps"])
    lg.setdefault(key, {})[r["mode"]] = r["us_per_step"]

def us(shape, mode, steps):
    r = m.get((shape, mode, steps))
    return r["us_per_step"] if r else None

def f(v, fmt="{:.2f}"):
    return fmt.format(v) if v is not None else "-"

print()
print(f"Orchestration overhead per step, core.echo DAGs (us/step, median; {cores} cores; LangGraph {lg_version}, no checkpointer)")
print("ratio = LangGraph (faster of invoke/ainvoke) us/step / Monstrum us/step, at the same size")
print()
hdr = (f"{'shape':<8} {'steps':>6} | {'memory':>7} {'mem/task':>8} {'durable':>8} | {'LG sync':>8} {'LG async':>8} | "
       f"{'ratio mem':>9} {'mem/task':>8} {'durable':>8} | goal 50x")
print(hdr)
print("-" * len(hdr))
misses = []
for shape in ["chain", "fan", "lattice"]:
    sizes = sorted({k[2] for k in m if k[0] == shape} | {k[1] for k in lg if k[0] == shape})
    for steps in sizes:
        mem, task, dur = us(shape, "memory", steps), us(shape, "memory/task", steps), us(shape, "durable", steps)
        modes = lg.get((shape, steps), {})
        sync, asyn = modes.get("memory"), modes.get("memory/async")
        best = min([v for v in (sync, asyn) if v is not None], default=None)
        ratio = lambda x: (best / x) if (best is not None and x) else None
        r_mem, r_task, r_dur = ratio(mem), ratio(task), ratio(dur)
        goal = "-" if r_mem is None else ("ok" if r_mem >= 50 else f"MISS ({r_mem:.0f}x)")
        if r_mem is not None and r_mem < 50:
            misses.append(f"{shape} {steps}")
        print(f"{shape:<8} {steps:>6} | {f(mem):>7} {f(task):>8} {f(dur):>8} | {f(sync):>8} {f(asyn):>8} | "
              f"{f(r_mem, '{:.0f}x'):>9} {f(r_task, '{:.0f}x'):>8} {f(r_dur, '{:.1f}x'):>8} | {goal}")

print()
print("Issue 2 goals (Monstrum, 10,000 steps):")
for shape in ["chain", "fan", "lattice"]:
    mem, dur = us(shape, "memory", 10000), us(shape, "durable", 10000)
    task = us(shape, "memory/task", 10000)
    g_mem = "ok" if mem is not None and mem <= 5 else "MISS"
    g_dur = "ok" if dur is not None and 1e6 / dur >= 5000 else "MISS"
    grow = [us(shape, "memory", n) for n in (1000, 10000, 100000)]
    grow = [g for g in grow if g is not None]
    growth = " -> ".join(f"{g:.2f}" for g in grow)
    print(f"  {shape:<8} in memory {f(mem)} us/step [{g_mem} <= 5] (in a task: {f(task)})   "
          f"durable {f(dur and 1e6 / dur, '{:.0f}')} steps/s [{g_dur} >= 5,000]   "
          f"growth us/step 1k -> 10k{' -> 100k' if len(grow) > 2 else ''}: {growth}")
loads = [r for r in lines(monstrum_file) if r.get("mode") in ("load", "plan") and r["steps"] == 10000]
if loads:
    print("Cold-run fixed costs at 10,000 steps (not in the figures):")
    for shape in ["chain", "fan", "lattice"]:
        parts = [f"{r['mode']} {r['us_per_step'] * r['steps'] / 1e3:.1f} ms ({r['us_per_step']:.2f} us/step)"
                 for r in loads if r["shape"] == shape]
        print(f"  {shape:<8} " + ", ".join(parts))
opens = [r for r in lines(monstrum_file) if r.get("mode") == "store_open"]
if opens:
    print(f"  Store::open of a fresh SQLite file: {opens[0]['ms']:.2f} ms")

cold = [float(x) for x in open(cold_file) if x.strip()]
if cold:
    print()
    print(f"Cold `monstrum run examples/hello/workflows/hello.yaml` (release, fresh workspace copy, SQLite created), "
          f"{len(cold)} runs with {cold_tool}: median {statistics.median(cold):.1f} ms, min {min(cold):.1f} ms")
if misses:
    print()
    print("Below 50x: " + ", ".join(misses))

# What a user sees (benches/steps.sh) beside LangGraph's in-memory graph of the same shape and size.
user_rows = lines(user_path_file) if os.path.exists(user_path_file) else []
if user_rows:
    print()
    print("`monstrum run` of 1,000 core.echo steps, timed from outside, a one-step run subtracted (us/step, median)")
    print("ratio = LangGraph in memory (faster of invoke/ainvoke) / Monstrum durable; goals: chain >= 5,000 steps/s, fan >= 10,000")
    hdr = f"{'store':<9} {'shape':<6} {'--json':<6} | {'us/step':>8} {'best':>8} {'steps/s':>8} | {'LangGraph':>9} {'ratio':>6} | goal"
    print(hdr)
    print("-" * len(hdr))
    for r in user_rows:
        modes = lg.get((r["shape"], r["steps"]), {})
        best = min([v for v in modes.values() if v is not None], default=None)
        rate = 1e6 / r["us_per_step"] if r["us_per_step"] > 0 else float("inf")
        goal = 5000 if r["shape"] == "chain" else 10000
        print(f"{r['store']:<9} {r['shape']:<6} {str(r['json']).lower():<6} | {f(r['us_per_step'], '{:.1f}'):>8} "
              f"{f(r['best_us_per_step'], '{:.1f}'):>8} {rate:>8.0f} | {f(best):>9} "
              f"{f(best / r['us_per_step'] if best else None, '{:.1f}x'):>6} | {'ok' if rate >= goal else 'MISS'}")

# Durable peers (benches/peers/run.sh) beside Monstrum's durable chain of 1,000 steps: the engine
# bench's durable row (SQLite) and, if benches/steps.sh wrote them, `monstrum run` per store.
peers = {}
for r in (lines(peers_file) if os.path.exists(peers_file) else []):
    if r.get("shape") == "chain" and r.get("steps") == 1000:
        peers[r["peer"]] = r  # the last line of each peer
if peers:
    user = {}
    for r in (lines(user_path_file) if os.path.exists(user_path_file) else []):
        if (r.get("what"), r.get("shape"), r.get("steps")) == ("monstrum run", "chain", 1000) and not r.get("json"):
            user[r["store"]] = r["us_per_step"]
    ours = [("engine SQLite", us("chain", "durable", 1000)),
            ("run SQLite", user.get("sqlite")), ("run PostgreSQL", user.get("postgres"))]
    print()
    print("Durable peers, 1,000-step chain of no-op steps (us/step, median; ratio = peer us/step / Monstrum us/step)")
    print("Monstrum: " + ", ".join(f"{name} {f(v)}" for name, v in ours)
          + "   (engine = orchestration bench, durable row; run = `monstrum run`, benches/steps.sh)")
    hdr = f"{'peer':<8} {'version':>8} {'us/step':>9} | " + " ".join(f"{'vs ' + name:>17}" for name, _ in ours)
    print(hdr)
    print("-" * len(hdr))
    for name in sorted(peers):
        r = peers[name]
        v = r["us_per_step"]
        ratios = " ".join(f"{f(v / o if o else None, '{:.1f}x'):>17}" for _, o in ours)
        print(f"{name:<8} {r.get('version', '?'):>8} {f(v):>9} | {ratios}")
PY
if [ -n "$PEERS_FAILED" ]; then
    echo "benches/peers/run.sh failed for some of: $PEERS (see above)" >&2
    exit 1
fi
