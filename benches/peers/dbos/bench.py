"""DBOS peer of benches/compare.sh: a workflow that calls a no-op step n times in sequence.

DBOS checkpoints the workflow's start and end and each step's output in its system database, a
PostgreSQL database here, one commit per step. Times chain(1) and chain(STEPS) (RUNS each, median)
and prints one JSON line on stdout: us/step = (median t(STEPS) - median t(1)) / (STEPS - 1).

    python bench.py [--runs 5] [--steps 1000] [--pg postgresql://postgres@127.0.0.1:5432]

The database monstrum_bench_dbos is created afresh and dropped at the end.
"""
import argparse
import contextlib
import importlib.metadata
import json
import statistics
import sys
import time

import psycopg
from dbos import DBOS, DBOSConfig

DB = "monstrum_bench_dbos"


@DBOS.step()
def noop() -> int:
    return 1


@DBOS.workflow()
def chain(n: int) -> int:
    for _ in range(n):
        noop()
    return n


def admin(pg: str, sql: str) -> None:
    with psycopg.connect(f"{pg}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def timed(n: int) -> float:
    t0 = time.perf_counter()
    assert chain(n) == n
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432")
    args = ap.parse_args()
    version = importlib.metadata.version("dbos")
    log = lambda msg: print(f"dbos: {msg}", file=sys.stderr, flush=True)

    try:
        admin(args.pg, f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
    except psycopg.OperationalError as e:
        sys.exit(f"dbos: cannot reach PostgreSQL at {args.pg}: {e}")
    admin(args.pg, f"CREATE DATABASE {DB}")
    try:
        # DBOS's own output goes to stderr; stdout carries only the JSON line
        with contextlib.redirect_stdout(sys.stderr):
            config: DBOSConfig = {
                "name": "monstrum-bench",
                "system_database_url": f"{args.pg}/{DB}",
                "log_level": "WARNING",
            }
            DBOS(config=config)
            DBOS.launch()
            try:
                log(f"dbos {version}, system database {DB}; warm-up: chain(1) x 5, chain({args.steps}) x 1")
                for _ in range(5):
                    timed(1)
                timed(args.steps)
                t1, tn = [], []
                for i in range(args.runs):
                    t1.append(timed(1))
                    tn.append(timed(args.steps))
                    log(f"run {i + 1}/{args.runs}: chain(1) {t1[-1] * 1e3:.1f} ms, "
                        f"chain({args.steps}) {tn[-1] * 1e3:.1f} ms")
            finally:
                DBOS.destroy()
    finally:
        admin(args.pg, f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")

    us = (statistics.median(tn) - statistics.median(t1)) * 1e6 / (args.steps - 1)
    print(json.dumps({"peer": "dbos", "version": version, "shape": "chain", "steps": args.steps,
                      "us_per_step": round(us, 2), "runs": args.runs}, separators=(",", ":")), flush=True)


if __name__ == "__main__":
    main()
