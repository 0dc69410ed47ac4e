"""`medforget attack --model DIR --level L --results FILE [--oracle-results FILE] [--plot PNG]`."""

from __future__ import annotations

import argparse
from pathlib import Path

from medforget_data.cli.finetune import (
    add_dataset_options,
    add_precision_option,
    dataset_dir,
    dataset_inputs,
)


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
    from medforget_data.cli.checks import check_input_file, check_not_inside, check_output_file
    from medforget_data.constants import LEVELS
    from medforget_data.errors import check_choice
    from medforget_data.models.device import check_device, check_device_name

    # cheap checks first (no torch): a typo fails in a second and writes nothing
    check_choice("level", args.level, LEVELS)
    check_input_file(args.results, "results file")
    if args.oracle_results is not None:
        check_input_file(args.oracle_results, "oracle results file")
    if args.plot is not None:
        inputs = {"results file": args.results, "oracle results file": args.oracle_results}
        check_not_inside(args.plot, {**inputs, **dataset_inputs(args), "model folder": args.model})
        check_output_file(args.plot, overwrite=True)
    check_device_name(args.device)
    from medforget_data.attacks.model_attacks import attack
    from medforget_data.attacks.plot import plot_leakage
    from medforget_data.models.build import load_model
    from medforget_data.models.train import PRECISIONS, precision_dtype
    from medforget_data.scoring.results import read_results, write_results

    check_choice("precision", args.precision, PRECISIONS)
    check_device(args.device)
    results = read_results(args.results)
    oracle = read_results(args.oracle_results) if args.oracle_results else None
    model, processor, record = load_model(
        args.model, device=args.device, dtype=precision_dtype(args.precision)
    )
    attacks = attack(model, processor, record, dataset_dir(args), args.level, results, oracle)
    results = results.model_copy(update={"attacks": attacks})
    write_results(args.results, results)
    print(
        "MIA AUC (forget vs holdout): " + ", ".join(f"{k} {v:.3f}" for k, v in attacks.membership.auc.items())
    )
    print(
        "reconstruction recovery: "
        + ", ".join(f"{d} {v:.3f}" for d, v in attacks.reconstruction.recovery.items())
    )
    if (quality := attacks.forget_quality) is not None:
        print(f"forget quality (KS p) {quality.ks_p_value:.3g}; privleak {quality.privleak}")
    if args.plot:
        print(f"leakage curve: {plot_leakage({results.metadata.method: results}, args.plot)}")
    return 0
