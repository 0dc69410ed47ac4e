"""How well a model has memorised `train`: exact match (classification, cloze) and ROUGE-L (generation).

    .venv/bin/python bench/eval_memorisation.py --model DIR --dataset DIR [--limit N] [--split holdout]

Greedy answers on the `train` split (or `holdout`: a base model must answer both alike, knowing no
benchmark fact), scored with the project's scorer.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from pathlib import Path

from medforget_data.dataset.examples import read_examples
from medforget_data.models.build import load_model
from medforget_data.models.generate import generate_answers
from medforget_data.scoring.metrics import exact_match, rouge_l


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=None, help="score every k-th item to save time")
    parser.add_argument("--split", default="train", help="train (default) or holdout, of config train")
    args = parser.parse_args()
    model, processor, record = load_model(args.model)
    examples = read_examples(args.dataset, "train", args.split)
    if args.limit:
        examples = examples[:: max(1, len(examples) // args.limit)]
    began = time.perf_counter()
    answers = generate_answers(model, processor, examples, batch_size=64)
    seconds = time.perf_counter() - began
    scores: dict[str, list[float]] = defaultdict(list)
    per_fact: dict[tuple[str, str], list[float]] = defaultdict(list)
    for e in examples:
        if e.item.task == "generation":
            score, name = rouge_l(answers[e.item.id], e.item.answer), "generation ROUGE-L"
        else:
            score = exact_match(answers[e.item.id], e.item.answer, e.item.task, e.item.options)
            name = f"{e.item.task} EM"
        scores[name].append(score)
        per_fact[(e.item.fact, name)].append(score)
    print(
        f"{record.config_name} ({record.parameters:,} parameters), {len(examples)} {args.split} items, "
        f"generation {seconds:.0f} s"
    )
    for name, values in sorted(scores.items()):
        print(f"  {name}: {sum(values) / len(values):.3f} (n={len(values)})")
    print("per fact:")
    for (fact, name), values in sorted(per_fact.items()):
        print(f"  {fact:22} {name:20} {sum(values) / len(values):.3f} (n={len(values)})")


if __name__ == "__main__":
    main()
