"""The three DAG shapes of runtime/core/benches/orchestration.rs, in LangGraph.

Each node does the equivalent of `core.echo`: it returns a tiny state update ({"n": 1}).
The state has one key, `n`, with an `operator.add` reducer, so fan-in (a node that needs
several others) is a LangGraph join (`add_edge([a, b], c)`, which waits for all of them)
and the final `n` counts the nodes that ran, which is checked against the graph's size.

- chain:   s0 -> s1 -> ... -> s(n-1)
- fan:     root -> n-2 parallel middles -> sink (the sink waits for every middle)
- lattice: a rows x cols grid where (r, c) waits for (r-1, c) and (r, c-1)

Only `invoke` is timed (time.perf_counter); building and compiling the graph is timed apart.
No checkpointer: this is LangGraph's in-memory execution. Prints one JSON line per
shape/size with `shape`, `mode` ("memory"), `steps`, `us_per_step`, `steps_per_sec`, and
a readable table on stderr.

Usage: python bench.py [--sizes 1000,10000] [--shapes chain,fan,lattice] [--budget 2]
       [--max-seconds 120] [--async]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import operator
import statistics
import sys
import time
from typing import Annotated, TypedDict

import langgraph
from langgraph.graph import END, START, StateGraph

try:
    from importlib.metadata import version as _version

    LANGGRAPH_VERSION = _version("langgraph")
except Exception:  # pragma: no cover
    LANGGRAPH_VERSION = getattr(langgraph, "__version__", "?")


class State(TypedDict):
    n: Annotated[int, operator.add]


def _echo(state: State) -> dict:
    return {"n": 1}


async def _aecho(state: State) -> dict:
    return {"n": 1}


def grid(n: int) -> tuple[int, int]:
    """The most square rows x cols == n (rows <= cols), as in the Rust bench."""
    for rows in range(math.isqrt(n), 0, -1):
        if n % rows == 0:
            return rows, n // rows
    return 1, n


def describe(shape: str, steps: int) -> str:
    if shape == "chain":
        return f"chain of {steps}"
    if shape == "fan":
        return f"1 -> {steps - 2} -> 1"
    r, c = grid(steps)
    return f"{r} x {c} grid"


def build(shape: str, steps: int, use_async: bool):
    """The compiled graph and the number of supersteps it takes."""
    node = _aecho if use_async else _echo
    g = StateGraph(State)
    if shape == "chain":
        for i in range(steps):
            g.add_node(f"s{i}", node)
        g.add_edge(START, "s0")
        for i in range(1, steps):
            g.add_edge(f"s{i - 1}", f"s{i}")
        g.add_edge(f"s{steps - 1}", END)
        supersteps = steps
    elif shape == "fan":
        g.add_node("root", node)
        middles = [f"m{i}" for i in range(steps - 2)]
        for m in middles:
            g.add_node(m, node)
            g.add_edge("root", m)
        g.add_node("sink", node)
        g.add_edge(START, "root")
        g.add_edge(middles, "sink")  # a join: waits for every middle
        g.add_edge("sink", END)
        supersteps = 3
    elif shape == "lattice":
        rows, cols = grid(steps)
        for r in range(rows):
            for c in range(cols):
                g.add_node(f"r{r}c{c}", node)
        g.add_edge(START, "r0c0")
        for r in range(rows):
            for c in range(cols):
                needs = []
                if r > 0:
                    needs.append(f"r{r - 1}c{c}")
                if c > 0:
                    needs.append(f"r{r}c{c - 1}")
                if len(needs) == 1:
                    g.add_edge(needs[0], f"r{r}c{c}")
                elif len(needs) == 2:
                    g.add_edge(needs, f"r{r}c{c}")  # a join: waits for both
        g.add_edge(f"r{rows - 1}c{cols - 1}", END)
        supersteps = rows + cols - 1
    else:
        raise SystemExit(f"unknown shape {shape}")
    return g.compile(), supersteps


def run_once(graph, steps: int, supersteps: int, use_async: bool) -> float:
    config = {"recursion_limit": supersteps + 10}
    t = time.perf_counter()
    if use_async:
        out = asyncio.run(graph.ainvoke({"n": 0}, config=config))
    else:
        out = graph.invoke({"n": 0}, config=config)
    elapsed = time.perf_counter() - t
    if out["n"] != steps:
        raise SystemExit(f"expected {steps} nodes to run, counted {out['n']}")
    return elapsed


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="1000,10000")
    p.add_argument("--shapes", default="chain,fan,lattice")
    p.add_argument("--budget", type=float, default=2.0, help="seconds of timed runs per shape/size (at least 3 runs)")
    p.add_argument(
        "--max-seconds",
        type=float,
        default=120.0,
        help="skip a size whose projected time (from the previous size, assuming linear growth) is above this",
    )
    p.add_argument("--async", dest="use_async", action="store_true", help="async nodes and ainvoke")
    args = p.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    mode = "memory/async" if args.use_async else "memory"

    print(
        f"# LangGraph {LANGGRAPH_VERSION} on Python {sys.version.split()[0]}, {mode}, no checkpointer; "
        "invoke() time only; median of the runs",
        file=sys.stderr,
    )
    print(
        f"{'shape':<8} {'steps':>7} {'form':<18} {'runs':>5} {'us/step':>10} {'min':>10} {'steps/s':>10} "
        f"{'growth':>7} {'build+compile ms':>17}",
        file=sys.stderr,
    )
    for shape in args.shapes.split(","):
        previous = None
        for steps in sizes:
            if previous is not None:
                projected = previous * 1e-6 * steps * 4  # warm-up + 3 runs
                if projected > args.max_seconds:
                    print(
                        f"# skipped {shape} {steps}: projected {projected:.0f} s > --max-seconds {args.max_seconds:.0f}",
                        file=sys.stderr,
                    )
                    continue
            t = time.perf_counter()
            graph, supersteps = build(shape, steps, args.use_async)
            build_ms = (time.perf_counter() - t) * 1e3
            warm = run_once(graph, steps, supersteps, args.use_async)
            runs = []
            start = time.perf_counter()
            max_runs = 1 if warm > 20 else 15
            while len(runs) < max_runs and (len(runs) < 3 or time.perf_counter() - start < args.budget):
                runs.append(run_once(graph, steps, supersteps, args.use_async))
            per_step = [r * 1e6 / steps for r in runs]
            us = statistics.median(per_step)
            growth = "-" if previous is None else f"{us / previous:.2f}"
            print(
                f"{shape:<8} {steps:>7} {describe(shape, steps):<18} {len(runs):>5} {us:>10.2f} {min(per_step):>10.2f} "
                f"{1e6 / us:>10.0f} {growth:>7} {build_ms:>17.1f}",
                file=sys.stderr,
                flush=True,
            )
            print(
                json.dumps(
                    {
                        "shape": shape,
                        "mode": mode,
                        "steps": steps,
                        "runs": len(runs),
                        "us_per_step": round(us, 4),
                        "min_us_per_step": round(min(per_step), 4),
                        "steps_per_sec": round(1e6 / us, 1),
                        "build_compile_ms": round(build_ms, 2),
                        "langgraph": LANGGRAPH_VERSION,
                    }
                ),
                flush=True,
            )
            previous = us


if __name__ == "__main__":
    main()
