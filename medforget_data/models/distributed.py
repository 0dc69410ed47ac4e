"""One fine-tuning across processes: several GPUs (NCCL), or CPU processes (gloo) as a demonstration.

`torchrun` starts the processes; in each, `accelerate` shards every epoch's batches and all-reduces the
gradients (models/train.py `LoopSetup.accelerator`); the main process saves the model. A run's model step
calls `finetune_in_processes` when `--training-processes N` > 1, so a training that spans GPUs stays one
step of the run (one Ray task holding N GPUs), with the same recipe, checkpoints and resume as one process.

    python -m torch.distributed.run --standalone --nproc_per_node N -m medforget_data.models.distributed \\
        DATASET OUT RECIPE_JSON [--oracle-level L] [--resume] [--device cuda]
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import tempfile
from pathlib import Path

from medforget_data import progress
from medforget_data.dataset.built import BuiltDataset
from medforget_data.errors import MedForgetError
from medforget_data.io import atomic_write_text
from medforget_data.models.build import ModelRecord, read_model_record
from medforget_data.models.recipe import FinetuneRecipe


def finetune_in_processes(
    dataset: BuiltDataset | Path,
    out_dir: Path,
    recipe: FinetuneRecipe,
    processes: int,
    oracle_level: str | None = None,
    resume: bool = False,
    device: str = "cpu",
) -> ModelRecord:
    """`models/finetune.finetune` in `processes` processes; the saved model's record."""
    dataset = BuiltDataset.of(dataset)
    with tempfile.TemporaryDirectory(prefix="medforget-recipe-") as scratch:
        recipe_file = Path(scratch) / "recipe.json"
        atomic_write_text(recipe_file, recipe.model_dump_json())
        command = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",  # a free port of its own: several such trainings may run at once
            "--nproc_per_node",
            str(processes),
            "-m",
            __name__,
            str(dataset.folder),
            str(out_dir),
            str(recipe_file),
            "--device",
            device,
            *(["--oracle-level", oracle_level] if oracle_level else []),
            *(["--resume"] if resume else []),
        ]
        # the processes' output (the main one's bar, any error) is the caller's, unless progress is off
        quiet = not progress.enabled()
        done = subprocess.run(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE if quiet else None, text=True
        )
    if done.returncode != 0:
        last = [line for line in (done.stderr or "").splitlines() if line.strip()][-1:]
        raise MedForgetError(
            f"the training in {processes} processes failed (exit code {done.returncode})"
            + (f": {last[0].strip()}" if last else "")
        )
    return read_model_record(out_dir)  # the main process saved it; its weights need not be loaded here


def main(argv: list[str] | None = None) -> None:
    from accelerate import Accelerator

    from medforget_data.models.finetune import finetune

    parser = argparse.ArgumentParser(description="one process of a multi-process fine-tuning (torchrun)")
    parser.add_argument("dataset", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("recipe", type=Path)
    parser.add_argument("--oracle-level", default=None)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    recipe = FinetuneRecipe.model_validate_json(args.recipe.read_text(encoding="utf-8"))
    accelerator = Accelerator(cpu=not args.device.startswith("cuda"))
    with contextlib.nullcontext() if accelerator.is_main_process else progress.quiet():  # one bar
        finetune(
            args.dataset,
            args.out,
            recipe,
            oracle_level=args.oracle_level,
            resume=args.resume,
            device=str(accelerator.device),
            accelerator=accelerator,
        )


if __name__ == "__main__":
    main()
