"""The Ray executor's overhead and the run's parallelism, measured in one go (issue 32).

    .venv/bin/python bench/ray_overhead.py [--out DIR] [--levels patient section] [--methods ga chip]

Runs the same mini benchmark (`--size mini --model tiny --sweep none`) twice from empty run folders, once
in-process (`--executor local`) and once on a Ray cluster started on this machine (`--executor ray`), and
prints the wall-time ratio ray / local. From the local run's stage times it prints the step graph's
critical path (the least wall time any number of workers could take) against the total work: the
speed-up a cluster could give this run, at most.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from medforget_data.pipeline.plan import critical_path, plan_steps, step_seconds

RUN = [
    "run",
    "--size",
    "mini",
    "--model",
    "tiny",
    "--epochs",
    "4",
    "--max-new-tokens",
    "12",
    "--sweep",
    "none",
]


def timed_run(args: list[str]) -> float:
    code = "import sys; from medforget_data.cli import main; sys.exit(main(sys.argv[1:]))"
    began = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, *args], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=None, help="where the two run folders go (default: a temp dir)"
    )
    parser.add_argument("--levels", nargs="+", default=["patient", "section"])
    parser.add_argument("--methods", nargs="+", default=["ga", "chip"])
    args = parser.parse_args()
    root = args.out or Path(tempfile.mkdtemp(prefix="ray-overhead-"))
    # the dataset built into the cache first: neither timed run pays for it
    timed_run([*RUN, "--levels", args.levels[0], "--methods", args.methods[0], "--out", str(root / "warm")])
    common = [*RUN, "--levels", *args.levels, "--methods", *args.methods]
    local = timed_run([*common, "--out", str(root / "local")])
    ray = timed_run([*common, "--executor", "ray", "--out", str(root / "ray")])
    stages = json.loads((root / "local" / "timings.json").read_text(encoding="utf-8"))["stages"]
    steps = plan_steps(tuple(args.levels), tuple(args.methods))
    seconds = {step.name: step_seconds(step, stages) for step in steps}
    length, chain = critical_path(steps, seconds)
    work = sum(seconds.values())
    print(f"wall: local {local:.1f} s, ray {ray:.1f} s; ray / local = {ray / local:.2f}")
    print(
        f"stage work {work:.1f} s, critical path {length:.1f} s: work / critical path = {work / length:.2f}"
    )
    print("critical path: " + " → ".join(f"{name} ({seconds.get(name, 0.0):.1f} s)" for name in chain))


if __name__ == "__main__":
    main()
