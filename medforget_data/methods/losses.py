"""Loss terms the loss-based methods share, over the logits at answer positions (`AnswerLogits`).

The answer NLL itself is fine-tuning's loss and lives with it (models/losses.py `answer_loss`).
"""

from __future__ import annotations

import torch

from medforget_data.models.losses import AnswerLogits


def sequence_logprobs(answer: AnswerLogits) -> torch.Tensor:
    """Per sequence, the sum of its answer-token log-probabilities."""
    return answer.row_sums(answer.token_logprobs())


def kl_to_reference(answer: AnswerLogits, reference: AnswerLogits) -> torch.Tensor:
    """KL(ref ‖ θ) of the next-token distributions, averaged over answer positions."""
    log_p = torch.log_softmax(reference.logits, dim=-1)
    log_q = torch.log_softmax(answer.logits, dim=-1)
    return (log_p.exp() * (log_p - log_q)).sum(-1).mean()
