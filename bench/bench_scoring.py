"""Scoring throughput with the offline judge on 100k items (target: ≥ 5,000 items/s on 2 cores).

    .venv/bin/python bench/bench_scoring.py [--items 100000]

Items are the `patient` level of a mini build (built into a temporary folder), repeated with
fresh ids; predictions are the answers with every third word dropped and one finding negated, so
ROUGE-L, option parsing and the negation judge all do real work.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from medforget_data.builders import build_dataset_folder
from medforget_data.manifest import BuildConfig
from medforget_data.scoring.judge_offline import OfflineJudge
from medforget_data.scoring.run import level_items
from medforget_data.scoring.score import score_predictions
from medforget_data.scoring.submission import SubmissionMetadata


def perturb(answer: str, index: int) -> str:
    words = answer.split()
    kept = [w for k, w in enumerate(words) if (k + index) % 3]
    text = " ".join(kept) or answer
    return f"No {text}" if index % 5 == 0 else text


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "mini"
        build_dataset_folder(BuildConfig(source="openi", size="mini"), folder, progress=False)
        base = level_items(folder, "patient")
    pool = [(split, item) for split, items in base.items() for item in items]
    by_split: dict[str, list] = {split: [] for split in base}
    predictions: dict[str, str] = {}
    for index in range(args.items):
        split, item = pool[index % len(pool)]
        copy = item.model_copy(update={"id": f"{item.id}#{index}"})
        by_split[split].append(copy)
        predictions[copy.id] = perturb(item.answer, index)
    metadata = SubmissionMetadata(method="bench", model="none", level="patient", seed=0, contact="bench")
    start = time.perf_counter()
    results = score_predictions(by_split, predictions, metadata, OfflineJudge(), dataset_hash="bench")
    elapsed = time.perf_counter() - start
    tasks = {
        t: sum(1 for i in results.items if i.task == t) for t in ("generation", "classification", "cloze")
    }
    print(
        f"scored {len(results.items)} items ({tasks}) in {elapsed:.1f} s: "
        f"{len(results.items) / elapsed:,.0f} items/s (target ≥ 5,000)"
    )


if __name__ == "__main__":
    main()
