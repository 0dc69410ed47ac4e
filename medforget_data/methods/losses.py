"""Loss terms the loss-based methods share, over logits and answer-only labels (−100 = ignored)."""

from __future__ import annotations

import torch

from medforget_data.models.batches import IGNORE_INDEX, answer_nll, token_logprobs

__all__ = ["IGNORE_INDEX", "kl_to_reference", "nll", "sequence_logprobs"]

nll = answer_nll  # one definition: the fine-tuning loss


def sequence_logprobs(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per sequence: the sum of answer-token log-probabilities and the number of answer tokens."""
    picked, mask = token_logprobs(logits, labels)
    return (picked * mask).sum(-1), mask.sum(-1)


def kl_to_reference(
    logits: torch.Tensor, reference_logits: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """KL(ref ‖ θ) of the next-token distributions, averaged over answer positions."""
    mask = labels[:, 1:] != IGNORE_INDEX
    log_p = torch.log_softmax(reference_logits[:, :-1, :].float(), dim=-1)
    log_q = torch.log_softmax(logits[:, :-1, :].float(), dim=-1)
    per_position = (log_p.exp() * (log_p - log_q)).sum(-1)
    return (per_position * mask).sum() / mask.sum().clamp(min=1)
