"""Shared loss terms against formulas computed by hand on tiny answer-position logits."""

from __future__ import annotations

import math

import torch

from medforget_data.methods.losses import kl_to_reference, sequence_logprobs
from medforget_data.models.losses import AnswerLogits

# A batch of three sequences over a vocabulary of 2: row 0 has one answer token, row 1 none,
# row 2 two. Each position's logits are (log a, log b), so p(token) is read off by hand.
ANSWER = AnswerLogits(
    logits=torch.tensor([[math.log(3.0), 0.0], [0.0, 0.0], [0.0, math.log(4.0)]]),
    labels=torch.tensor([1, 0, 1]),
    rows=torch.tensor([0, 2, 2]),
    batch_size=3,
)


def test_sequence_logprob_sums_each_rows_answer_tokens() -> None:
    # row 0: p(1) = 1/4; row 1: no answer tokens; row 2: p(0) = 1/2 then p(1) = 4/5
    expected = torch.tensor([math.log(0.25), 0.0, math.log(0.5) + math.log(0.8)])
    assert torch.allclose(sequence_logprobs(ANSWER), expected)
    assert [len(part) for part in ANSWER.per_row(ANSWER.labels)] == [1, 0, 2]


def test_kl_to_reference_matches_hand_value() -> None:
    uniform = AnswerLogits(torch.zeros(3, 2), ANSWER.labels, ANSWER.rows, 3)
    # KL(uniform ‖ q) = ½ log(½ / q0) + ½ log(½ / q1), averaged over the three answer positions
    per_position = [0.5 * math.log(0.5 / q0) + 0.5 * math.log(0.5 / (1 - q0)) for q0 in (0.75, 0.5, 0.2)]
    expected = sum(per_position) / 3
    assert torch.allclose(kl_to_reference(ANSWER, uniform), torch.tensor(expected), atol=1e-6)
    assert torch.allclose(kl_to_reference(ANSWER, ANSWER), torch.tensor(0.0), atol=1e-7)
