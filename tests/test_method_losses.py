"""Shared loss terms against formulas computed by hand on tiny logits."""

from __future__ import annotations

import math

import torch

from medforget_data.methods.losses import IGNORE_INDEX, kl_to_reference, nll, sequence_logprobs

# One sequence of 3 positions over a vocabulary of 2; only token 2 (label 1) is an answer token.
LOGITS = torch.tensor([[[0.0, 0.0], [math.log(3.0), 0.0], [5.0, 5.0]]])
LABELS = torch.tensor([[IGNORE_INDEX, IGNORE_INDEX, 1]])


def test_sequence_logprob_is_the_answer_token_logprob() -> None:
    total, count = sequence_logprobs(LOGITS, LABELS)
    # position 1 predicts token 2 with p(1) = 1 / (3 + 1)
    assert torch.allclose(total, torch.tensor([math.log(0.25)]))
    assert count.tolist() == [1]


def test_nll_matches_hand_value() -> None:
    assert torch.allclose(nll(LOGITS, LABELS), torch.tensor(-math.log(0.25)))


def test_kl_to_reference_matches_hand_value() -> None:
    reference = torch.zeros_like(LOGITS)  # uniform reference at every position
    # KL(uniform ‖ (3/4, 1/4)) = ½ log(½ / ¾) + ½ log(½ / ¼)
    expected = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)
    assert torch.allclose(kl_to_reference(LOGITS, reference, LABELS), torch.tensor(expected), atol=1e-6)
    assert torch.allclose(kl_to_reference(LOGITS, LOGITS, LABELS), torch.tensor(0.0), atol=1e-7)
