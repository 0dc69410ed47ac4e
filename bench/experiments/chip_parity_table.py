"""Markdown rows of `bench/experiments/chip_parity.sh`: forget / retain / sibling per task, gaps, utility,
CHIP time.

    .venv/bin/python bench/experiments/chip_parity_table.py OUT [LEVEL ...]

One table per scoring rule (project, published); nothing is asserted.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from medforget_data.constants import TASKS
from medforget_data.leaderboard.rows import format_value, row_of
from medforget_data.scoring.metrics import SCORING_RULES
from medforget_data.scoring.results import read_results

MODELS = ("vanilla", "chip_published", "chip_project")
SHORT = {"generation": "gen", "classification": "cls", "cloze": "cloze"}


def main(out: Path, levels: list[str]) -> None:
    for rule in SCORING_RULES:
        suffix = "" if rule == "project" else f".{rule}"
        splits = ("forget", "retain", "sibling")
        tasks = " / ".join(SHORT[t] for t in TASKS)
        print(f"\nrule {rule}\n")
        columns = " | ".join(f"{split} {tasks}" for split in splits)
        print(f"| level | model | {columns} | gap | sibling gap | utility | CHIP s |")
        print("|---|---|---|---|---|---|---|---|---|")
        for level in levels:
            for name in MODELS:
                path = out / level / f"{name}{suffix}.json"
                if not path.exists():
                    continue
                row = row_of(read_results(path))
                cells = [" / ".join(format_value(row.scores.get(f"{s}/{t}")) for t in TASKS) for s in splits]
                record = out / level / name / "unlearn.json"
                seconds = f"{json.loads(record.read_text())['wall_seconds']:.1f}" if record.exists() else "–"
                print(
                    f"| {level} | {name} | {' | '.join(cells)} | {row.gap:.3f} | {row.sibling_gap:.3f} "
                    f"| {format_value(row.utility)} | {seconds} |"
                )


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2:] or ["patient", "institution"])
