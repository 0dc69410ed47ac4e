"""Scoring throughput with the offline judge on 100k items (target: ≥ 5,000 items/s on 2 cores).

    .venv/bin/python bench/bench_scoring.py [--items 100000]

Items are the `patient` level of a mini build (built into a temporary folder), repeated with
fresh ids; predictions are the answers with a random third of the words dropped, every fifth one
negated, and a unique tag appended, so no two predictions are equal: the judge's per-text cache
never hits on a prediction, and ROUGE-L, option parsing and negation scoping all do real work.
The timing covers scoring, aggregation (bootstrap CIs) and the results model, not the build.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from medforget_data.builders import build_dataset_folder
from medforget_data.dataset.manifest import BuildConfig
from medforget_data.scoring.judge_offline import OfflineJudge
from medforget_data.scoring.score import score_predictions
from medforget_data.scoring.score_file import level_items
from medforget_data.scoring.submission import SubmissionMetadata


def perturb(answer: str, index: int, rng: random.Random) -> str:
    words = answer.split()
    kept = [w for w in words if rng.random() > 1 / 3]
    text = " ".join(kept) or answer
    text = f"No {text}" if index % 5 == 0 else text
    return f"{text} [{index}]"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "mini"
        build_dataset_folder(BuildConfig(source="openi", size="mini"), folder)
        base = level_items(folder, "patient")
    pool = [(split, item) for split, items in base.items() for item in items]
    by_split: dict[str, list] = {split: [] for split in base}
    predictions: dict[str, str] = {}
    rng = random.Random(0)
    for index in range(args.items):
        split, item = pool[index % len(pool)]
        copy = item.model_copy(update={"id": f"{item.id}#{index}"})
        by_split[split].append(copy)
        predictions[copy.id] = perturb(item.answer, index, rng)
    metadata = SubmissionMetadata(method="bench", model="none", level="patient", seed=0, contact="bench")
    start = time.perf_counter()
    results = score_predictions(by_split, predictions, metadata, OfflineJudge(), dataset_hash="bench")
    elapsed = time.perf_counter() - start
    assert len(set(predictions.values())) == len(predictions)
    tasks = {
        t: sum(1 for i in results.items if i.task == t) for t in ("generation", "classification", "cloze")
    }
    print(
        f"scored {len(results.items)} items ({tasks}) in {elapsed:.1f} s: "
        f"{len(results.items) / elapsed:,.0f} items/s (target ≥ 5,000)"
    )


if __name__ == "__main__":
    main()
