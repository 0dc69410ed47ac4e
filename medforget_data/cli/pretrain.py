"""`medforget pretrain`: the base a model config starts from, pretrained on the corpus disjoint from the
benchmark (models/pretrain.py); cached, and built on first use by `medforget run --model NAME-pretrained`."""

from __future__ import annotations

import argparse
from pathlib import Path

from medforget_data.constants import DEFAULT_SEED


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "pretrain", help="pretrain a model config on the corpus disjoint from the benchmark (cached)"
    )
    parser.add_argument("--config", default="small", help="model config: tiny, small or base")
    parser.add_argument("--size", default="full", help="the benchmark build the corpus is disjoint from")
    parser.add_argument("--source", default="openi", help="openi (default) or synthetic")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out", type=Path, default=None, help="model folder (default: the user cache)")
    parser.add_argument("--epochs", type=int, default=None, help="pretraining epochs (default 12)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.set_defaults(handler=run_pretrain)


def run_pretrain(args: argparse.Namespace) -> int:
    from medforget_data.cli.checks import check_at_least
    from medforget_data.constants import CHECKPOINT_DIR, PRETRAINING_FILE, SIZES
    from medforget_data.dataset.sources import SOURCE_NAMES
    from medforget_data.errors import MedForgetError, check_choice
    from medforget_data.models.configs import MODEL_NAMES, PRETRAINED_SUFFIX
    from medforget_data.models.device import check_device_name

    check_choice("model config", args.config, MODEL_NAMES)
    check_choice("size", args.size, SIZES)
    check_choice("source", args.source, SOURCE_NAMES)
    check_at_least("--epochs", args.epochs, 1)
    check_device_name(args.device)
    out = args.out
    if out is not None and out.exists() and not (out / CHECKPOINT_DIR).is_dir() and any(out.iterdir()):
        if not (out / PRETRAINING_FILE).is_file():
            raise MedForgetError(f"output folder {args.out} already holds other files; choose another --out")
    from medforget_data.dataset.manifest import BuildConfig
    from medforget_data.models.device import check_device
    from medforget_data.models.pretrain import PRETRAINING_EPOCHS, pretrain_base
    from medforget_data.models.recipe import RecipeOptions

    check_device(args.device)
    name = f"{args.config}{PRETRAINED_SUFFIX}"
    options = RecipeOptions(epochs=args.epochs or PRETRAINING_EPOCHS, seed=args.seed)
    build = BuildConfig(source=args.source, size=args.size, seed=args.seed)
    base = pretrain_base(name, build, args.out, options, device=args.device)
    leak = base.record.corpus.leakage
    status = "cached" if base.seconds == 0 else f"pretrained in {base.seconds / 60:.1f} min"
    print(
        f"{name} ({status}) at {base.folder}: {base.record.examples} examples per epoch, "
        f"corpus {base.record.corpus_hash[:12]}, "
        f"shared with the benchmark: {sum(leak.shared.values())} values"
    )
    return 0
