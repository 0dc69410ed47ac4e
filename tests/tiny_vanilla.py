"""A tiny model that answers much of the synthetic mini build's patient-level forget split.

To stay within seconds it is fine-tuned on the short-answer items (classification, cloze) of forget and
the unlearner's halves (40 of its retain items) — the items the method and sweep checks read — not on
all of `train`. One per test session (conftest's `tiny_vanilla`): the method and the sweep tests share it.
"""

from __future__ import annotations

from pathlib import Path

from medforget_data.methods.base import load_unlearn_splits
from medforget_data.models.batches import Encoder
from medforget_data.models.build import new_model
from medforget_data.models.recipe import RecipeOptions, resolve_recipe
from medforget_data.models.train import train

# 80 epochs: with wordings from shared frames the canonical questions of a study differ only in the
# fact's name, and at 40 the tiny model answered 0.2 of the forget split (0.8 at 80)
VANILLA_RECIPE = resolve_recipe("tiny", RecipeOptions(epochs=80, batch_size=8, lr=5e-3, seed=0)).train


def short_answers(examples: list) -> list:
    return [e for e in examples if e.item.task != "generation"]


def tiny_vanilla_on(dataset: Path):
    """(model, processor, the patient level's unlearner view)."""
    splits = load_unlearn_splits(dataset, "patient")
    model, processor = new_model("tiny", dataset, seed=0)
    encoder = Encoder(processor)
    examples = (
        short_answers(splits.forget)
        + short_answers(splits.unlearn_sibling)
        + short_answers(splits.unlearn_retain)[:40]
    )
    train(model, [encoder.encode(e) for e in examples], processor.tokenizer.pad_token_id, VANILLA_RECIPE)
    return model, processor, splits
