"""Training cost of two model folders side by side: a fine-tune of a pretrained base against a
from-scratch training, from their records (`medforget_model.json`), on the same machine.

    .venv/bin/python bench/finetune_cost.py --fine-tuned DIR --from-scratch DIR

A from-scratch folder may be a short run of the project recipe (e.g. `--epochs 2`): its cost at the
recipe's full length is its vision pretraining plus its mean epoch times the recipe's epochs
(`--scratch-epochs`, default the project recipe's). Prints seconds and the ratio fine-tune / scratch.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from medforget_data.io import read_model
from medforget_data.models.build import MODEL_CARD_FILE, ModelRecord
from medforget_data.models.recipe import PROJECT_DEFAULTS


def epoch_seconds(record: ModelRecord) -> list[float]:
    return [float(epoch["seconds"]) for epoch in record.history]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fine-tuned", type=Path, required=True)
    parser.add_argument("--from-scratch", type=Path, required=True)
    parser.add_argument("--scratch-epochs", type=int, default=PROJECT_DEFAULTS["epochs"])
    args = parser.parse_args()
    tuned = read_model(args.fine_tuned / MODEL_CARD_FILE, ModelRecord, "model record")
    scratch = read_model(args.from_scratch / MODEL_CARD_FILE, ModelRecord, "model record")
    tuned_seconds = tuned.recipe.wall_seconds or sum(epoch_seconds(tuned))
    epochs = epoch_seconds(scratch)
    vision = (scratch.recipe.wall_seconds or 0.0) - sum(epochs)
    scratch_seconds = vision + args.scratch_epochs * sum(epochs) / len(epochs)
    print(
        f"fine-tune of the base: {tuned_seconds / 60:.1f} min ({len(epoch_seconds(tuned))} epochs, "
        f"{sum(epoch_seconds(tuned)) / len(tuned.history):.0f} s/epoch)"
    )
    print(
        f"from scratch: {scratch_seconds / 60:.1f} min (vision pretraining {vision:.0f} s + "
        f"{args.scratch_epochs} × {sum(epochs) / len(epochs):.0f} s/epoch, "
        f"measured over {len(epochs)} epochs)"
    )
    print(f"ratio fine-tune / from scratch: {tuned_seconds / scratch_seconds:.3f}")


if __name__ == "__main__":
    main()
