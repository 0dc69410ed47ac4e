"""`medforget attack --model DIR --level L --results FILE [--oracle-results FILE] [--plot PNG]`."""

from __future__ import annotations

import argparse
from pathlib import Path

from medforget_data.cli.finetune import add_dataset_options, add_precision_option, dataset_dir


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("attack", help="membership inference, forget quality and reconstruction")
    add_dataset_options(parser)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--level", required=True)
    parser.add_argument("--results", type=Path, required=True, help="the model's results JSON (from score)")
    parser.add_argument(
        "--oracle-results", type=Path, default=None, help="the oracle's attacked results JSON"
    )
    parser.add_argument("--plot", type=Path, default=None, help="write the leakage curve here (PNG)")
    parser.add_argument("--device", default="cpu")
    add_precision_option(parser, "bf16 weights (GPU)")
    parser.set_defaults(handler=run_attack)


def run_attack(args: argparse.Namespace) -> int:
    from medforget_data.attacks.model_attacks import attack
    from medforget_data.attacks.plot import plot_leakage
    from medforget_data.constants import LEVELS
    from medforget_data.errors import check_choice
    from medforget_data.models.build import load_model
    from medforget_data.models.train import PRECISIONS, precision_dtype

    check_choice("level", args.level, LEVELS)
    check_choice("precision", args.precision, PRECISIONS)
    model, processor, record = load_model(
        args.model, device=args.device, dtype=precision_dtype(args.precision)
    )
    results = attack(
        model, processor, record, dataset_dir(args), args.level, args.results, args.oracle_results
    )
    section = results.attacks["membership"]
    print("MIA AUC (forget vs holdout): " + ", ".join(f"{k} {v:.3f}" for k, v in section["auc"].items()))
    print(
        "reconstruction recovery: "
        + ", ".join(f"{d} {v:.3f}" for d, v in section["reconstruction"]["recovery"].items())
    )
    if "forget_quality_ks" in section:
        print(f"forget quality (KS p) {section['forget_quality_ks']:.3g}; privleak {section['privleak']}")
    if args.plot:
        print(f"leakage curve: {plot_leakage({results.metadata.method: results}, args.plot)}")
    return 0
