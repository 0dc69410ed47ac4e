"""Teacher-forced exact match: one forward pass per item instead of a greedy decode (design §10).

Greedy decoding reproduces an item's reference answer (and then stops) exactly when, fed the prompt
and the reference, the model's argmax at every answer position — the end token's included — is the
reference token. So the exact match of a greedy answer to its reference is read from one forward
pass with the reference as input; a sweep scores its points this way and generates only at the
chosen ones. The per-item *margin* (the smallest gap, over the answer positions, between the
reference token's logit and the best other one) is positive exactly when the item matches.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from medforget_data import progress
from medforget_data.dataset.examples import Example
from medforget_data.models.batches import Encoder, collate, length_sorted_batches
from medforget_data.models.losses import answer_logits
from medforget_data.models.vision_cache import vision_cache


def answer_margins(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per answer position: the reference token's logit minus the best other token's."""
    reference = logits.gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    others = logits.scatter(-1, labels.unsqueeze(-1), float("-inf"))
    return reference - others.max(-1).values


@torch.no_grad()
def teacher_forced_margins(
    model, processor, examples: Sequence[Example], batch_size: int = 32
) -> dict[str, float]:
    """item id → its smallest answer-position margin (> 0: greedy decoding gives the reference exactly)."""
    encoder = Encoder(processor)
    encoded = [encoder.encode(e) for e in examples]
    device = next(model.parameters()).device
    margins: dict[str, float] = {}
    model.eval()
    with vision_cache(model):
        for indices in progress.bar(
            length_sorted_batches(encoded, batch_size), desc="teacher-forced scoring", unit="batch"
        ):
            chunk = [encoded[i] for i in indices]
            answer = answer_logits(model, collate(chunk, encoder.pad_id), device)
            per_row = answer.per_row(answer_margins(answer.logits, answer.labels))
            for row, values in zip(chunk, per_row, strict=True):
                margins[row.item_id] = float(values.min())
    return margins


def teacher_forced_exact_match(
    model, processor, examples: Sequence[Example], batch_size: int = 32
) -> dict[str, bool]:
    """item id → whether greedy decoding would give exactly the reference answer."""
    margins = teacher_forced_margins(model, processor, examples, batch_size)
    return {item_id: margin > 0 for item_id, margin in margins.items()}
