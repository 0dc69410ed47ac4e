"""`medforget finetune`: train the target model (vanilla), a retrain oracle, or LoRA on a checkpoint."""

from __future__ import annotations

import argparse
from pathlib import Path

from medforget_data.constants import DEFAULT_SEED


def add_dataset_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dataset", type=Path, default=None, help="dataset folder (default: the cached build)"
    )
    parser.add_argument("--size", default="full", help="size of the cached build when --dataset is omitted")
    parser.add_argument(
        "--source", default="openi", help="source of the cached build when --dataset is omitted"
    )


def dataset_inputs(args: argparse.Namespace) -> dict[str, Path]:
    """The dataset a command reads, for `check_not_inside`, without building it: `--dataset`, else
    the cache folder that holds the default builds (the cached build may not exist yet)."""
    from medforget_data.dataset.load import cache_root

    if args.dataset is not None:
        return {"dataset folder": args.dataset}
    return {"dataset cache": cache_root() / "datasets"}


def dataset_dir(args: argparse.Namespace) -> Path:
    from medforget_data.dataset.load import local_dataset_dir

    return args.dataset or local_dataset_dir(size=args.size, source=args.source)


def add_precision_option(parser: argparse.ArgumentParser, bf16: str) -> None:
    parser.add_argument("--precision", default="fp32", help=f"fp32 (default), or {bf16}")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("finetune", help="fine-tune the target model (vanilla or oracle)")
    add_dataset_options(parser)
    parser.add_argument("--config", default="small", help="model config: tiny, small or base")
    parser.add_argument("--out", type=Path, required=True, help="model folder to write")
    parser.add_argument("--oracle-level", default=None, help="train on train minus this level's forget split")
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        help="start from a checkpoint folder (Hugging Face layout; Qwen2.5-VL or LLaVA)",
    )
    parser.add_argument(
        "--lora-rank",
        type=int,
        default=None,
        help="LoRA rank with --model (default 16; 0 fine-tunes the language model in full)",
    )
    parser.add_argument("--lora-alpha", type=int, default=None, help="LoRA alpha (default 16)")
    parser.add_argument(
        "--gradient-checkpointing", action="store_true", help="recompute activations: less memory, slower"
    )
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument(
        "--vision-pretrain-epochs", type=int, default=None, help="vision tower pretraining (0: none)"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    add_precision_option(parser, "bf16: autocast with fp32 master weights (LoRA: bf16 base, fp32 adapters)")
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    parser.set_defaults(handler=run_finetune)


def run_finetune(args: argparse.Namespace) -> int:
    from medforget_data.cli.checks import check_at_least, check_not_inside, check_output_folder
    from medforget_data.constants import LEVELS
    from medforget_data.errors import MedForgetError, check_choice
    from medforget_data.models.device import check_device_name

    # cheap checks first (no torch): a typo fails in a second and writes nothing
    if args.oracle_level is not None:
        check_choice("level", args.oracle_level, LEVELS)
    if args.model is None and (args.lora_rank or args.lora_alpha is not None):
        raise MedForgetError("--lora-rank and --lora-alpha need --model (a checkpoint to adapt)")
    check_at_least("--lora-rank", args.lora_rank, 0)
    for option in ("epochs", "batch_size", "lora_alpha"):
        check_at_least("--" + option.replace("_", "-"), getattr(args, option), 1)
    if args.lr is not None and not 0 < args.lr < float("inf"):
        raise MedForgetError(f"--lr must be a positive number, got {args.lr}")
    check_device_name(args.device)
    check_not_inside(args.out, {**dataset_inputs(args), "checkpoint folder": args.model})
    if args.resume:
        if not (args.out / "checkpoint").is_dir():
            raise MedForgetError(f"--resume: {args.out} holds no checkpoint to resume from")
    else:
        check_output_folder(args.out, overwrite=False)
    from medforget_data.models.build import checkpoint_hash
    from medforget_data.models.configs import MODEL_NAMES
    from medforget_data.models.device import check_device
    from medforget_data.models.finetune import finetune
    from medforget_data.models.recipe import RecipeOptions, resolve_recipe
    from medforget_data.models.train import PRECISIONS

    if args.model is None:
        check_choice("model config", args.config, MODEL_NAMES)
    check_device(args.device)
    check_choice("precision", args.precision, PRECISIONS)
    options = RecipeOptions(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        vision_pretrain_epochs=args.vision_pretrain_epochs,
        lora_rank=args.lora_rank,
        lora_alpha=args.lora_alpha,
        seed=args.seed,
        precision=args.precision,
        gradient_checkpointing=args.gradient_checkpointing,
    )
    model = args.config if args.model is None else args.model
    recipe = resolve_recipe(model, options, checkpoint_hash(args.model) if args.model is not None else None)
    record = finetune(
        dataset_dir(args),
        args.out,
        recipe,
        oracle_level=args.oracle_level,
        resume=args.resume,
        device=args.device,
    )
    last = record.history[-1] if record.history else {}
    print(
        f"{record.recipe.mode} model ({record.config_name}, {record.parameters:,} parameters) written to "
        f"{args.out}; final loss {last.get('loss', float('nan')):.4f}"
    )
    return 0
