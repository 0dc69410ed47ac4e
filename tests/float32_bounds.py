"""How far two float32 computations of a model's answer-token log-probabilities may honestly differ.

The losses read the vocabulary head at answer positions only (models/losses.py); the tests check them
against formulas over the full-sequence logits. The hidden states are the same in both, but the head's
matrix product runs with other shapes, and a CPU's kernels (AVX2, AVX-512, their blocking) may round it
differently: a fixed relative tolerance on a loss near zero (a memorised model's, ≈ −0.009) is tighter
than float32 can promise. The bound here follows the computation instead.
"""

from __future__ import annotations

import torch

from medforget_data.models.batches import IGNORE_INDEX, model_inputs
from medforget_data.models.losses import output_head

EPS32 = torch.finfo(torch.float32).eps


@torch.no_grad()
def answer_states(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The final hidden states that predict the batch's answer tokens: [answer tokens, hidden]."""
    output = model(**model_inputs(batch, "cpu"), output_hidden_states=True, logits_to_keep=1)
    states = output.hidden_states[-1]
    return states[:, :-1][batch["labels"][:, 1:] != IGNORE_INDEX].float()


def logprob_rounding(model, batch: dict[str, torch.Tensor]) -> float:
    """A bound on |Δ log p| of one answer token between two float32 evaluations of the head.

    A logit is a float32 dot product over `hidden` terms, so its rounding is at most
    hidden·eps·Σᵢ|hᵢ·wᵢ| (the standard bound for a sum of products); two evaluations may each be off by
    that. log p = z_label − logsumexp(z) moves by at most twice the largest logit change, and the float32
    log-softmax itself adds a few ulps of max|z| ≤ Σᵢ|hᵢ·wᵢ| (the + 4).
    """
    answer = answer_states(model, batch)
    weight = output_head(model).weight.detach().float()
    largest_terms = float((answer.abs() @ weight.abs().T).max())  # the largest Σᵢ|hᵢ·wᵢ| of any logit
    return (4 * answer.shape[-1] + 4) * EPS32 * largest_terms


def answer_tokens_per_row(batch: dict[str, torch.Tensor]) -> int:
    """The most answer tokens any row of the batch has (a sequence log-probability sums that many)."""
    return int((batch["labels"][:, 1:] != IGNORE_INDEX).sum(1).max())
