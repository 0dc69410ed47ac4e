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
from medforget_data.dataset.examples import Example
from medforget_data.models.batches import Encoder, collate
from medforget_data.models.losses import answer_logits
from medforget_data.models.vision_cache import vision_cache


@torch.no_grad()
def membership_scores(model, processor, examples: Sequence[Example], batch_size: int = 32) -> dict[str, dict]:
    """item id → {attack name: score} for LOSS, ZLib, Min-K% and Min-K%++ (higher = more member-like)."""
    encoder = Encoder(processor)
    device = next(model.parameters()).device
    scores: dict[str, dict] = {}
    model.eval()
    with vision_cache(model):
        for start in range(0, len(examples), batch_size):
            chunk = examples[start : start + batch_size]
            encoded = [encoder.encode(e) for e in chunk]
            batch = collate(encoded, encoder.pad_id)
            answer = answer_logits(model, batch, device)
            logits, targets = answer.per_row(answer.logits.cpu()), answer.per_row(answer.labels.cpu())
            for example, item_logits, item_targets, logprobs in zip(
                chunk, logits, targets, answer.per_row(answer.token_logprobs().cpu()), strict=True
            ):
                scores[example.item.id] = {
                    "loss": loss_score(logprobs),
                    "zlib": zlib_score(logprobs, example.item.answer),
                    "min_k": min_k_score(logprobs, MIN_K_FRACTION),
                    "min_k_plus_plus": min_k_plus_plus_score(
                        min_k_plus_plus_tokens(item_logits, item_targets)
                    ),
                }
    return scores
