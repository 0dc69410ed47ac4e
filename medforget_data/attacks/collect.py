"""Per-item statistics a model gives its answers: what membership inference and forget quality read."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from medforget_data.attacks.mia import (
    MIN_K_FRACTION,
    loss_score,
    min_k_plus_plus_score,
    min_k_plus_plus_tokens,
    min_k_score,
    zlib_score,
)
from medforget_data.models.batches import IGNORE_INDEX, Encoder, collate, model_inputs, token_logprobs
from medforget_data.models.examples import Example


@torch.no_grad()
def membership_scores(model, processor, examples: Sequence[Example], batch_size: int = 32) -> dict[str, dict]:
    """item id → {attack name: score} for LOSS, ZLib, Min-K% and Min-K%++ (higher = more member-like)."""
    encoder = Encoder(processor)
    device = next(model.parameters()).device
    scores: dict[str, dict] = {}
    model.eval()
    for start in range(0, len(examples), batch_size):
        chunk = examples[start : start + batch_size]
        encoded = [encoder.encode(e) for e in chunk]
        batch = collate(encoded, processor.tokenizer.pad_token_id)
        logits = model(**model_inputs(batch, device)).logits.float().cpu()
        picked, mask = token_logprobs(logits, batch["labels"])
        for row, example in enumerate(chunk):
            answer = picked[row][mask[row]]
            positions = mask[row].nonzero().squeeze(-1)
            targets = batch["labels"][row, 1:][positions]
            assert bool((targets != IGNORE_INDEX).all())
            plus = min_k_plus_plus_tokens(logits[row, :-1][positions], targets)
            scores[example.item.id] = {
                "loss": loss_score(answer),
                "zlib": zlib_score(answer, example.item.answer),
                "min_k": min_k_score(answer, MIN_K_FRACTION),
                "min_k_plus_plus": min_k_plus_plus_score(plus),
            }
    return scores
