"""`medforget score SUBMISSION --level L`: validate, score, write the results JSON, print a table."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from medforget_data.constants import DEFAULT_SEED

if TYPE_CHECKING:
    from medforget_data.scoring.results import SplitTaskScore


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "score",
        help="score a submission (JSONL) on one level",
        description='Score a submission: first line {"metadata": {method, model, level, seed, contact}}, '
        'then one {"id", "prediction"} per item of every split of the level. The LLM judge reads '
        "its API key from MEDFORGET_JUDGE_API_KEY.",
    )
    parser.add_argument("submission", type=Path)
    parser.add_argument("--level", required=True)
    parser.add_argument(
        "--dataset", type=Path, default=None, help="dataset folder (default: the cached build)"
    )
    parser.add_argument("--size", default="full", help="size of the cached build when --dataset is omitted")
    parser.add_argument("--judge", default="offline", help="offline (default) or llm")
    parser.add_argument("--judge-base-url", default=None, help="OpenAI-compatible base URL, e.g. …/v1")
    parser.add_argument("--judge-model", default=None)
    parser.add_argument("--judge-cache", type=Path, default=None, help="verdict cache folder")
    parser.add_argument("--judge-retries", type=int, default=None, help="retries per verdict (default 4)")
    parser.add_argument(
        "--judge-backoff", type=float, default=None, help="first retry delay in seconds, doubled each try"
    )
    parser.add_argument(
        "--judge-concurrency", type=int, default=None, help="judge requests in flight (default 4)"
    )
    parser.add_argument("--reference", type=Path, default=None, help="vanilla results JSON for utility")
    parser.add_argument(
        "--out", type=Path, default=None, help="results JSON (default: SUBMISSION.results.json)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="bootstrap seed")
    parser.add_argument(
        "--rule",
        default=None,
        help="classification/cloze: project (default; the option named, the normalised span) or "
        "published (ROUGE-L 1.0 against the full reference, as the published analysis)",
    )
    parser.set_defaults(handler=run_score)


def _cell(score: SplitTaskScore | None) -> str:
    if score is None:
        return "–"
    if math.isnan(score.mean):
        return f"unscored ({score.unscored})"
    text = f"{score.mean:.3f} [{score.ci_low:.2f}, {score.ci_high:.2f}]"
    return text + (f" ({score.unscored} unscored)" if score.unscored else "")


def _table(title: str, scores: dict[str, dict[str, SplitTaskScore]], gaps: dict[str, dict[str, float]]):
    from rich.table import Table

    from medforget_data.constants import TASKS

    table = Table(title=title)
    table.add_column("split")
    for task in TASKS:
        table.add_column(task, justify="right")
    for split, by_task in scores.items():
        table.add_row(split, *(_cell(by_task.get(t)) for t in TASKS))
    for key in ("retain_minus_forget", "sibling_minus_forget"):
        label = key.replace("_minus_", " − ")
        table.add_row(label, *(f"{gaps[t][key]:+.3f}" if key in gaps.get(t, {}) else "–" for t in TASKS))
    return table


def print_results(results) -> None:
    from rich.console import Console

    console = Console() if sys.stdout.isatty() else Console(width=140)
    title = f"{results.metadata.method} on level {results.level} (judge {results.judge['name']}"
    title += f", rule {results.rule})"
    console.print(_table(title + ", image+text", results.scores, results.gaps))
    if results.text_only is not None:
        console.print(_table(title + ", text-only", results.text_only.scores, results.text_only.gaps))
    if results.utility:
        console.print(
            "utility vs reference: "
            + ", ".join(
                f"{name} {u.score:.3f}/{u.reference:.3f} = {u.relative:.3f}"
                for name, u in results.utility.items()
            )
        )
    if results.unscored:
        console.print(f"[yellow]{results.unscored} items unscored: the judge gave no verdict[/yellow]")


def run_score(args: argparse.Namespace) -> int:
    from medforget_data.cli.checks import check_input_file, check_not_inside, check_output_file
    from medforget_data.cli.finetune import dataset_inputs
    from medforget_data.constants import LEVELS
    from medforget_data.errors import check_choice

    check_choice("level", args.level, LEVELS)
    check_input_file(args.submission, "submission")
    if args.reference is not None:
        check_input_file(args.reference, "reference results")
    out = args.out or args.submission.with_name(args.submission.name + ".results.json")
    inputs = {"submission": args.submission, "reference results": args.reference}
    check_not_inside(out, {**inputs, **dataset_inputs(args), "judge cache": args.judge_cache})
    check_output_file(out, overwrite=args.overwrite)
    from medforget_data.scoring.judges import make_judge
    from medforget_data.scoring.metrics import DEFAULT_RULE
    from medforget_data.scoring.results import read_results, write_results
    from medforget_data.scoring.score_file import score_submission_file

    judge = make_judge(
        args.judge,
        base_url=args.judge_base_url,
        model=args.judge_model,
        cache_dir=args.judge_cache,
        retries=args.judge_retries,
        backoff_seconds=args.judge_backoff,
        concurrency=args.judge_concurrency,
    )
    if args.dataset is None:
        from medforget_data.dataset.load import local_dataset_dir

        dataset = local_dataset_dir(size=args.size)
    else:
        dataset = args.dataset
    rule = args.rule or DEFAULT_RULE
    results = score_submission_file(
        args.submission,
        args.level,
        dataset,
        judge,
        read_results(args.reference) if args.reference else None,
        seed=args.seed,
        rule=rule,
    )
    write_results(out, results)
    print_results(results)
    print(f"results written to {out}")
    return 0
