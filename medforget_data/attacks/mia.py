"""Membership inference from per-item answer log-likelihoods: LOSS, ZLib, Min-K%, Min-K%++.

Sign convention (one for all attacks): every score is higher for items the model is more likely to
have trained on, and AUC is P(member score > non-member score) (ties count one half). So 1.0 means
members are perfectly separable, 0.5 indistinguishable, and a well-unlearned forget set against
holdout sits near the retrain oracle's AUC.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np
import torch

MIN_K_FRACTION = 0.4
MIA_ATTACKS: tuple[str, ...] = ("loss", "zlib", "min_k", "min_k_plus_plus")


def loss_score(token_logprobs: torch.Tensor) -> float:
    """LOSS (Yeom et al.): the mean answer-token log-likelihood (−loss)."""
    return float(token_logprobs.mean())


def zlib_score(token_logprobs: torch.Tensor, text: str) -> float:
    """ZLib (Carlini et al.): log-likelihood normalised by the text's zlib-compressed length."""
    return float(token_logprobs.sum()) / len(zlib.compress(text.encode("utf-8")))


def _lowest_mean(values: torch.Tensor, fraction: float) -> float:
    count = max(1, int(len(values) * fraction))
    return float(torch.sort(values).values[:count].mean())


def min_k_score(token_logprobs: torch.Tensor, fraction: float = MIN_K_FRACTION) -> float:
    """Min-K% (Shi et al.): the mean of the lowest k% token log-likelihoods."""
    return _lowest_mean(token_logprobs, fraction)


def min_k_plus_plus_tokens(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Min-K%++ (Zhang et al.) per token: (log p(x_t) − μ_t) / σ_t under the model's next-token distribution.

    `logits` [T, V] predict `targets` [T].
    """
    log_probs = torch.log_softmax(logits.double(), dim=-1)
    probs = log_probs.exp()
    mu = (probs * log_probs).sum(-1)
    sigma = ((probs * log_probs.square()).sum(-1) - mu.square()).clamp(min=1e-12).sqrt()
    return (log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - mu) / sigma


def min_k_plus_plus_score(token_scores: torch.Tensor, fraction: float = MIN_K_FRACTION) -> float:
    return _lowest_mean(token_scores, fraction)


def roc_auc(members: Sequence[float], non_members: Sequence[float]) -> float:
    """P(member > non-member) + ½·P(tie): the Mann–Whitney form of the ROC AUC."""
    m, n = np.asarray(members, dtype=np.float64), np.asarray(non_members, dtype=np.float64)
    if m.size == 0 or n.size == 0:
        return float("nan")
    greater = (m[:, None] > n[None, :]).sum()
    ties = (m[:, None] == n[None, :]).sum()
    return float((greater + 0.5 * ties) / (m.size * n.size))


def privleak(auc: float, oracle_auc: float) -> float:
    """PrivLeak (MUSE): (AUC − AUC_oracle) / AUC_oracle; 0 is the oracle's privacy, > 0 leaks."""
    return float((auc - oracle_auc) / oracle_auc) if oracle_auc else float("nan")
