"""Writes the benchmark workspace's workflows of core.echo steps (benches/steps.sh and
benches/instructions.sh): `one` (a single step), `chain` and `fan` of N steps, the shapes of
runtime/core/benches/orchestration.rs, with `max_parallel: 64` and bot `bench`.

Usage: python3 benches/workflows.py WORKSPACE N
"""

import os
import sys


def write(folder: str, name: str, steps: list[tuple[str, list[str]]]) -> None:
    with open(os.path.join(folder, f"{name}.yaml"), "w") as f:
        f.write(f"name: {name}\nbot: bench\nmax_parallel: 64\nsteps:\n")
        for sid, needs in steps:
            f.write(f"  - id: {sid}\n    tool: core.echo\n    with: {{ i: {sid[1:]} }}\n")
            if needs:
                f.write(f"    needs: [{', '.join(needs)}]\n")


def main() -> None:
    workspace, n = sys.argv[1], int(sys.argv[2])
    os.makedirs(os.path.join(workspace, "bots"), exist_ok=True)
    with open(os.path.join(workspace, "bots", "bench.yaml"), "w") as f:
        f.write("name: bench\ndescription: Runs the benchmark workflows\n")
    folder = os.path.join(workspace, "workflows")
    os.makedirs(folder, exist_ok=True)
    write(folder, "one", [("s0", [])])
    write(folder, "chain", [(f"s{i}", [f"s{i - 1}"] if i else []) for i in range(n)])
    middles = [f"s{i}" for i in range(1, n - 1)]
    write(folder, "fan", [("s0", [])] + [(m, ["s0"]) for m in middles] + [(f"s{n - 1}", middles)])


if __name__ == "__main__":
    main()
