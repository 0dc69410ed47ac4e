"""A swept run's choices at another utility floor, from the sweep records alone (issue 31).

    .venv/bin/python bench/floor_table.py RUN_DIR --level patient [--floor 0.8]

Every swept results JSON keeps each grid point's selection scores (teacher-forced exact match on
`forget`, utility on the unlearner's retain ∪ sibling relative to vanilla, its sibling items), so the
floor rule can be applied again at any floor without training: this prints, per method, the point the
rule chooses there, its status and its selection scores, beside the oracle-match choice. These are the
selection scores, not the generated and judged ones of the run's table (only the run's own floor's point
was generated).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from medforget_data.pipeline.layout import RunLayout
from medforget_data.scoring.results import read_results
from medforget_data.scoring.selection import SweepPoint, select_at_floor, select_oracle_match


def shown(setting: dict) -> str:
    return ", ".join(
        f"{name}={value:g}" if isinstance(value, float) else f"{name}={value}"
        for name, value in sorted(setting.items())
    )


def row(method: str, label: str, status: str, point: SweepPoint | None) -> str:
    if point is None:
        return f"| {method} | {label} | {status} | – | – | – | – |"
    sibling = f"{point.sibling:.3f}" if point.sibling is not None else "–"
    return (
        f"| {method} | {label} | {status} | {shown(point.setting)} | {point.forget:.3f} | "
        f"{point.utility:.3f} | {sibling} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--level", default="patient")
    parser.add_argument("--floor", type=float, default=0.8)
    args = parser.parse_args()
    layout = RunLayout(args.run)
    print("| method | rule | status | point | forget (TF EM) | utility | sibling (TF EM) |")
    print("|---|---|---|---|---|---|---|")
    for path in sorted((layout.results_dir / args.level).glob("*.json")):
        results = read_results(path)
        sweep = results.sweep
        if sweep is None:
            continue
        method = results.metadata.method
        at_floor = select_at_floor(sweep.points, sweep.vanilla_forget, args.floor)
        chosen = sweep.points[at_floor.chosen] if at_floor.chosen is not None else None
        print(row(method, f"floor {args.floor:g}", at_floor.status, chosen))
        if sweep.oracle_forget is not None:
            match = select_oracle_match(sweep.points, sweep.oracle_forget)
            point = sweep.points[match.chosen] if match.chosen is not None else None
            print(row(method, "oracle-match", match.status, point))
        sibling = f"{sweep.vanilla_sibling:.3f}" if sweep.vanilla_sibling is not None else "–"
        print(f"| {method} | vanilla | | | {sweep.vanilla_forget:.3f} | 1.000 | {sibling} |")


if __name__ == "__main__":
    main()
