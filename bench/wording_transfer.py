"""Issue 18's measures from a run's results: memorisation on the canonical wording, and transfer to the
held-out wordings, read from the vanilla and patient-oracle results JSONs of `medforget run`.

    .venv/bin/python bench/wording_transfer.py runs/openi-full-small/results [--per-wording DATASET_DIR]

Canonical memorisation: vanilla's forget ∪ retain ∪ sibling items (= `train`) per task, exact match for
classification and cloze, ROUGE-L for generation, against MEMORISATION_TARGETS. Transfer: vanilla's
`retain_rephrased` / `retain` per task (target ≥ 0.8). Oracle (patient): `forget_rephrased` against
`holdout`, and `retain_rephrased` − vanilla's (target within 0.05).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from medforget_data.constants import LEVELS, MEMORISATION_TARGETS, PARTITION_SPLITS, TASKS
from medforget_data.scoring.aggregate import relative
from medforget_data.scoring.results import Results, read_results, results_path

TRANSFER_TARGET = 0.8
ORACLE_RETAIN_TOLERANCE = 0.05


def memorised(results: Results) -> dict[str, float]:
    by_task: dict[str, list[float]] = {task: [] for task in TASKS}
    for item in results.items:
        if item.split in PARTITION_SPLITS:
            value = item.rouge_l if item.task == "generation" else item.exact_match
            if value is not None:
                by_task[item.task].append(value)
    return {task: sum(v) / len(v) for task, v in by_task.items() if v}


def mean(results: Results, split: str, task: str) -> float:
    return results.scores[split][task].mean


def per_wording(results: Path, dataset: Path, level: str = "patient") -> None:
    """Vanilla's retain_rephrased score per fact and held-out wording (its frame, with the name in it)."""
    from collections import defaultdict

    from medforget_data.dataset.load import read_split_items
    from medforget_data.dataset.tasks import frame_pattern, task_frames

    scored = {item.id: item for item in read_results(results_path(results, level, "vanilla")).items}
    groups: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for item in read_split_items(dataset, level, "retain_rephrased"):
        score = scored[item.id]
        value = score.rouge_l if item.task == "generation" else score.exact_match
        stem = item.question.split("\n")[0]  # a classification's options follow its stem
        frames = task_frames(item.task, item.section)
        frame = next((f for f in frames if frame_pattern(f).fullmatch(stem)), stem[:48])
        if value is not None:
            groups[(item.task, item.fact, frame)].append(value)
    for (task, fact, frame), values in sorted(groups.items()):
        print(f"  {task:14} {fact:20} {frame[:56]:56} n={len(values):3d} {sum(values) / len(values):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("results", type=Path, help="the run's results folder (LEVEL/METHOD.json)")
    parser.add_argument("--per-wording", type=Path, metavar="DATASET_DIR", help="also per held-out wording")
    args = parser.parse_args()
    print("| level | canonical: gen ROUGE-L, cls EM, cloze EM | retain_rephrased / retain: gen, cls, cloze |")
    print("|---|---|---|")
    for level in LEVELS:
        path = results_path(args.results, level, "vanilla")
        if not path.is_file():
            continue
        vanilla = read_results(path)
        canonical = memorised(vanilla)
        marks = " / ".join(
            f"{canonical[t]:.3f}{'' if canonical[t] >= MEMORISATION_TARGETS[t] else ' (below)'}"
            for t in TASKS
        )
        ratios = [relative(mean(vanilla, "retain_rephrased", t), mean(vanilla, "retain", t)) for t in TASKS]
        shown = " / ".join(f"{r:.3f}{'' if r >= TRANSFER_TARGET else ' (below)'}" for r in ratios)
        print(f"| {level} | {marks} | {shown} |")
    oracle_path = results_path(args.results, "patient", "oracle")
    if oracle_path.is_file():
        oracle, vanilla = (
            read_results(oracle_path),
            read_results(results_path(args.results, "patient", "vanilla")),
        )
        print("\noracle (patient), gen / cls / cloze:")
        for label, split in (
            ("forget", "forget"),
            ("forget_rephrased", "forget_rephrased"),
            ("holdout", "holdout"),
        ):
            print(f"  {label:18} " + " / ".join(f"{mean(oracle, split, t):.3f}" for t in TASKS))
        drift = [mean(oracle, "retain_rephrased", t) - mean(vanilla, "retain_rephrased", t) for t in TASKS]
        within = all(abs(d) <= ORACLE_RETAIN_TOLERANCE for d in drift)
        print(
            "  retain_rephrased − vanilla's "
            + " / ".join(f"{d:+.3f}" for d in drift)
            + f" (within 0.05: {within})"
        )

    if args.per_wording:
        print("\nvanilla (patient) retain_rephrased per held-out wording:")
        per_wording(args.results, args.per_wording)


if __name__ == "__main__":
    main()
