"""`medforget unlearn --method M --level L --model DIR --out DIR [--set key=value …]`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from medforget_data.cli.finetune import (
    add_dataset_options,
    add_precision_option,
    dataset_dir,
    dataset_inputs,
)
from medforget_data.errors import MedForgetError

UNLEARN_RECORD = "unlearn.json"


def parse_overrides(pairs: list[str]) -> dict[str, object]:
    """`key=value` pairs; values are read as JSON when they parse (numbers, booleans), else as strings."""
    overrides: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise MedForgetError(f"--set expects key=value, got {pair!r}")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    return overrides


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("unlearn", help="apply an unlearning method to a model at one level")
    add_dataset_options(parser)
    parser.add_argument("--method", required=True)
    parser.add_argument("--level", required=True)
    parser.add_argument("--model", type=Path, required=True, help="the vanilla model folder")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--set", dest="overrides", nargs="*", default=[], metavar="KEY=VALUE")
    parser.add_argument("--device", default="cpu")
    add_precision_option(parser, "bf16 weights (GPU; the methods' updates are then in bf16)")
    parser.set_defaults(handler=run_unlearn)


def run_unlearn(args: argparse.Namespace) -> int:
    from medforget_data.cli.checks import check_not_inside, check_output_folder
    from medforget_data.constants import LEVELS
    from medforget_data.errors import check_choice
    from medforget_data.models.device import check_device, check_device_name

    # cheap checks first (no torch): a typo fails in a second and writes nothing
    check_choice("level", args.level, LEVELS)
    check_not_inside(args.out, {**dataset_inputs(args), "model folder": args.model})
    check_output_folder(args.out)
    check_device_name(args.device)
    overrides = parse_overrides(args.overrides)
    from medforget_data.dataset.manifest import read_manifest
    from medforget_data.io import write_model
    from medforget_data.methods import make_config
    from medforget_data.methods.apply import UnlearnRecord, apply_method
    from medforget_data.models.build import load_model, save_model
    from medforget_data.models.train import PRECISIONS, precision_dtype

    config = make_config(args.method, overrides)
    check_device(args.device)
    folder = dataset_dir(args)
    check_choice("precision", args.precision, PRECISIONS)
    model, processor, record = load_model(
        args.model, device=args.device, dtype=precision_dtype(args.precision)
    )
    done = apply_method(args.method, model, processor, record, folder, args.level, config)
    save_model(done.model.cpu(), processor, args.out, done.record)
    write_model(
        args.out / UNLEARN_RECORD,
        UnlearnRecord(
            method=args.method,
            level=args.level,
            config=config.model_dump(),
            base_model=str(args.model),
            dataset_hash=read_manifest(folder).dataset_hash,
            wall_seconds=done.wall_seconds,
        ),
    )
    print(f"{args.method} at level {args.level}: {done.wall_seconds:.1f} s; model written to {args.out}")
    return 0
