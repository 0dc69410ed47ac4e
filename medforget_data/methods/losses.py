"""The loss terms the loss-based methods share, over logits and answer-only labels (−100 = ignored)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100


def shifted(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Align position t's logits with token t+1 (causal LM)."""
    return logits[:, :-1, :], labels[:, 1:]


def sequence_logprobs(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per sequence: the sum of answer-token log-probabilities and the number of answer tokens."""
    logits, labels = shifted(logits, labels)
    mask = labels != IGNORE_INDEX
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    picked = log_probs.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (picked * mask).sum(-1), mask.sum(-1)


def nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood over all answer tokens of the batch (the fine-tuning loss)."""
    logits, labels = shifted(logits, labels)
    return F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1), ignore_index=IGNORE_INDEX
    )


def kl_to_reference(
    logits: torch.Tensor, reference_logits: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """KL(ref ‖ θ) of the next-token distributions, averaged over answer positions."""
    logits, labels = shifted(logits, labels)
    reference_logits = reference_logits[:, :-1, :]
    mask = labels != IGNORE_INDEX
    log_p = torch.log_softmax(reference_logits.float(), dim=-1)
    log_q = torch.log_softmax(logits.float(), dim=-1)
    per_position = (log_p.exp() * (log_p - log_q)).sum(-1)
    return (per_position * mask).sum() / mask.sum().clamp(min=1)
