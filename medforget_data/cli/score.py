"""`medforget score SUBMISSION --level L`: validate, score, write the results JSON, print a table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from medforget_data.constants import DEFAULT_SEED


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("score", help="score a submission (JSONL) on one level")
    parser.add_argument("submission", type=Path)
    parser.add_argument("--level", required=True)
    parser.add_argument(
        "--dataset", type=Path, default=None, help="dataset folder (default: the cached build)"
    )
    parser.add_argument("--size", default="full", help="size of the cached build when --dataset is omitted")
    parser.add_argument("--judge", default="offline", help="offline (default) or llm")
    parser.add_argument("--judge-base-url", default=None)
    parser.add_argument("--judge-model", default=None)
    parser.add_argument("--reference", type=Path, default=None, help="vanilla results JSON for utility")
    parser.add_argument(
        "--out", type=Path, default=None, help="results JSON (default: SUBMISSION.results.json)"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="bootstrap seed")
    parser.set_defaults(handler=run_score)


def make_judge(args: argparse.Namespace):
    from medforget_data.errors import check_choice

    check_choice("judge", args.judge, ("offline", "llm"))
    if args.judge == "offline":
        from medforget_data.scoring.judge_offline import OfflineJudge

        return OfflineJudge()
    from medforget_data.scoring.judge_llm import LLMJudge, LLMJudgeConfig

    overrides = {k: v for k, v in (("base_url", args.judge_base_url), ("model", args.judge_model)) if v}
    return LLMJudge(LLMJudgeConfig(**overrides))


def print_results(results) -> None:
    from rich.console import Console
    from rich.table import Table

    from medforget_data.constants import TASKS

    table = Table(title=f"{results.metadata.method} on level {results.level} (judge {results.judge['name']})")
    table.add_column("split")
    for task in TASKS:
        table.add_column(task, justify="right")
    for split, by_task in results.scores.items():
        cells = [
            f"{by_task[t].mean:.3f} [{by_task[t].ci_low:.2f}, {by_task[t].ci_high:.2f}]"
            if t in by_task
            else "–"
            for t in TASKS
        ]
        table.add_row(split, *cells)
    gaps = ", ".join(
        f"{t}: retain−forget {g.get('retain_minus_forget', float('nan')):+.3f}"
        for t, g in results.gaps.items()
    )
    console = Console() if sys.stdout.isatty() else Console(width=120)
    console.print(table)
    console.print(f"gaps — {gaps}; unscored items: {results.unscored}")


def run_score(args: argparse.Namespace) -> int:
    from medforget_data.loading import local_dataset_dir
    from medforget_data.scoring.results import write_results
    from medforget_data.scoring.run import score_submission_file

    judge = make_judge(args)
    dataset = args.dataset or local_dataset_dir(size=args.size)
    results = score_submission_file(
        args.submission, args.level, dataset, judge, args.reference, seed=args.seed
    )
    out = args.out or args.submission.with_name(args.submission.name + ".results.json")
    write_results(out, results)
    print_results(results)
    print(f"results written to {out}")
    return 0
