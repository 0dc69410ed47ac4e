"""`medforget run`: the whole benchmark on the embedded default, resumable (see pipeline/runner.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from medforget_data.cli.build import add_build_options, build_config
from medforget_data.cli.finetune import add_precision_option
from medforget_data.errors import MedForgetError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run the whole benchmark: build, train, unlearn, generate, score, attack, leaderboard",
        description="Rerunning with the same options skips every finished stage.",
    )
    add_build_options(parser)
    parser.add_argument("--dataset", type=Path, default=None, help="dataset folder (default: the user cache)")
    parser.add_argument("--out", type=Path, default=None, help="run folder (default: runs/SOURCE-SIZE-MODEL)")
    parser.add_argument(
        "--model",
        default="small",
        help="model config (tiny, small, base), pretrained base (tiny-pretrained, …) or checkpoint folder",
    )
    parser.add_argument(
        "--lora-rank", type=int, default=None, help="with a checkpoint: LoRA rank (default 16; 0: full)"
    )
    parser.add_argument("--methods", nargs="+", default=None, help="unlearning methods (default: all)")
    parser.add_argument("--levels", nargs="+", default=None, help="levels (default: all four)")
    parser.add_argument("--epochs", type=int, default=None, help="fine-tuning epochs (default: the recipe's)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    add_precision_option(parser, "bf16 (GPU): bf16 weights for unlearning and generation, autocast training")
    parser.add_argument(
        "--training-processes",
        type=int,
        default=1,
        help="processes per training of vanilla and each oracle, one per GPU (accelerate; default 1)",
    )
    parser.add_argument(
        "--executor",
        default="local",
        help="local: every step in this process; ray: every step a Ray task (the ray extra)",
    )
    parser.add_argument(
        "--ray-address", default=None, help="with --executor ray: a running cluster (auto: `ray start`'s)"
    )
    parser.add_argument(
        "--ray-gpus",
        type=float,
        default=None,
        help="with --executor ray on a GPU: the share of a GPU each training or generating step holds "
        "(default 1; 0.2 runs five at once)",
    )
    # replaced by the executor; kept only to say so in one line
    parser.add_argument("--training-jobs", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--max-new-tokens",
        type=int,
        default=None,
        help="one generation cap (default: per task, from its answers)",
    )
    parser.add_argument(
        "--sweep",
        default="default",
        help="default: sweep each method's strength grid and report the point chosen at the utility floor; "
        "none: each method once, at its config",
    )
    parser.add_argument(
        "--utility-floor",
        type=float,
        default=None,
        help="the chosen point keeps at least this share of vanilla's utility on the unlearner's data "
        "(default 0.9)",
    )
    parser.add_argument(
        "--method-config",
        type=Path,
        default=None,
        help='JSON or YAML: per method, config overrides and its grid, e.g. {"npo": {"beta": 0.2, '
        '"grid": {"fields": {"lr": [1e-4]}, "every_epoch": true, "scales": [1.0]}}}',
    )
    parser.set_defaults(handler=run_benchmark)


def read_method_config(path: Path) -> dict:
    """`--method-config`: a mapping of method name → settings, each validated (one line per problem)."""
    import json

    import yaml

    from medforget_data.pipeline.config import MethodSettings

    if not path.is_file():
        raise MedForgetError(f"--method-config: {path} is not a file")
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, UnicodeDecodeError, yaml.YAMLError) as error:
        first = (str(error).splitlines() or [type(error).__name__])[0]
        raise MedForgetError(f"--method-config {path}: not valid JSON or YAML ({first})") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise MedForgetError(f"--method-config {path}: expected a mapping of method name → settings")
    return {method: MethodSettings.parse(method, value) for method, value in data.items()}


def dataset_folder(args: argparse.Namespace) -> Path:
    """The dataset the run uses: `--dataset` (built there if absent) or the cached default build."""
    from medforget_data.builders import build_dataset_folder
    from medforget_data.dataset.invariants import verify_folder
    from medforget_data.dataset.load import local_dataset_dir
    from medforget_data.dataset.manifest import MANIFEST_FILE

    config = build_config(args)
    if args.dataset is not None:
        folder = args.dataset
        if not (folder / MANIFEST_FILE).is_file():
            build_dataset_folder(config, folder)
    elif config.mimic_root or config.image_size != 224:
        raise MedForgetError(
            "--mimic-root and --image-size need --dataset (the cache holds default builds only)"
        )
    else:
        folder = local_dataset_dir(size=config.size, source=config.source, seed=config.seed)
    problems = verify_folder(folder)
    if problems:
        raise MedForgetError(f"{folder}: {problems[0]}")
    return folder


def run_benchmark(args: argparse.Namespace) -> int:
    from medforget_data.cli.checks import check_at_least, check_not_inside, check_output_folder
    from medforget_data.cli.finetune import dataset_inputs
    from medforget_data.constants import LEVELS, SIZES
    from medforget_data.errors import check_choice
    from medforget_data.models.device import check_device_name

    # what can be checked without torch first: a typo fails in a second, and leaves no folder
    if args.training_jobs is not None:
        raise MedForgetError(
            "--training-jobs is gone: --executor ray runs the trainings (and every cell) as concurrent tasks"
        )
    for option in ("epochs", "max_new_tokens", "image_size", "training_processes"):
        check_at_least("--" + option.replace("_", "-"), getattr(args, option), 1)
    check_at_least("--lora-rank", args.lora_rank, 0)
    check_device_name(args.device)
    for level in args.levels or ():
        check_choice("level", level, LEVELS)
    check_choice("size", args.size, SIZES)
    from medforget_data.pipeline.config import SWEEP_MODES

    check_choice("sweep", args.sweep, SWEEP_MODES)
    from medforget_data.pipeline.config import EXECUTORS
    from medforget_data.pipeline.executors import import_ray

    check_choice("executor", args.executor, EXECUTORS)
    if args.executor == "ray":
        import_ray()  # a missing extra is one line before any work
    elif args.ray_address or args.ray_gpus is not None:
        raise MedForgetError("--ray-address and --ray-gpus need --executor ray")
    method_settings = read_method_config(args.method_config) if args.method_config else {}
    out = args.out or Path("runs") / f"{args.source}-{args.size}-{Path(args.model).name}"
    model = Path(args.model) if Path(args.model).is_dir() else None  # else a model config's name
    mimic = Path(args.mimic_root) if args.mimic_root else None
    check_not_inside(out, {**dataset_inputs(args), "checkpoint folder": model, "MIMIC-CXR root": mimic})
    check_output_folder(out, overwrite=True)  # a run folder is resumed: only writability
    from medforget_data.pipeline.state import check_run_free

    check_run_free(out)  # a folder in use is refused before the dataset is built or summarised
    from medforget_data.cli.info import print_summary
    from medforget_data.pipeline.config import RunConfig
    from medforget_data.pipeline.runner import BenchmarkRun

    options = {
        "model": args.model,
        **({"lora_rank": args.lora_rank} if args.lora_rank is not None else {}),
        "seed": args.seed,
        "device": args.device,
        "precision": args.precision,
        "training_processes": args.training_processes,
        "executor": args.executor,
        **({"ray_address": args.ray_address} if args.ray_address else {}),
        **({"ray_gpus": args.ray_gpus} if args.ray_gpus is not None else {}),
        **({"methods": tuple(args.methods)} if args.methods else {}),
        **({"levels": tuple(args.levels)} if args.levels else {}),
        **({"epochs": args.epochs} if args.epochs is not None else {}),
        **({"max_new_tokens": args.max_new_tokens} if args.max_new_tokens is not None else {}),
        **({"utility_floor": args.utility_floor} if args.utility_floor is not None else {}),
        "sweep": args.sweep,
        "method_settings": method_settings,
    }
    config = RunConfig(**options)  # validates names before anything is built
    folder = dataset_folder(args)
    print_summary(folder)
    from medforget_data.pipeline.executors import make_executor

    executor = make_executor(config)
    executor.prepare_base(config, folder)
    run = BenchmarkRun(config, folder, out)
    board = run.run(executor)
    print((board / "leaderboard.md").read_text(encoding="utf-8"))
    print(run.timing_summary())
    print(f"leaderboard written to {board} (open index.html); results under {out / 'results'}")
    return 0
