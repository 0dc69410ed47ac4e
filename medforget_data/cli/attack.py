"""`medforget attack --model DIR --level L --results FILE [--oracle-results FILE] [--plot PNG]`."""

from __future__ import annotations

import argparse
from pathlib import Path

from medforget_data.cli.finetune import add_dataset_options, dataset_dir


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
    parser.set_defaults(handler=run_attack)


def run_attack(args: argparse.Namespace) -> int:
    from medforget_data.cli.checks import check_input_file, check_output_file
    from medforget_data.constants import LEVELS
    from medforget_data.errors import check_choice
    from medforget_data.models.device import check_device, check_device_name

    # cheap checks first (no torch): a typo fails in a second and writes nothing
    check_choice("level", args.level, LEVELS)
    check_input_file(args.results, "results file")
    if args.oracle_results is not None:
        check_input_file(args.oracle_results, "oracle results file")
    if args.plot is not None:
        check_output_file(args.plot, overwrite=True)
    check_device_name(args.device)
    from medforget_data.attacks.model_attacks import attack
    from medforget_data.attacks.plot import plot_leakage
    from medforget_data.models.build import load_model

    check_device(args.device)
    model, processor, record = load_model(args.model, device=args.device)
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
