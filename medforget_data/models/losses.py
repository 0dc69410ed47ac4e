"""The fine-tuning loss and the answer-position logits every loss is computed from.

Here, not in methods/: fine-tuning (models/train.py) needs the answer NLL and models never import
methods; methods/losses.py builds the unlearning losses on `AnswerLogits`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from medforget_data.models.batches import IGNORE_INDEX, model_inputs


def output_head(model) -> torch.nn.Module:
    """The language-model head, through wrappers (DDP's `.module`, peft's forwarding)."""
    return getattr(model, "module", model).get_output_embeddings()


@dataclass(frozen=True)
class AnswerLogits:
    """Vocabulary logits at the positions that predict answer tokens, flattened over the batch."""

    logits: torch.Tensor  # [answer tokens, vocab], float32
    labels: torch.Tensor  # [answer tokens]: the token each position predicts
    rows: torch.Tensor  # [answer tokens]: the batch row each belongs to, ascending
    batch_size: int

    def token_logprobs(self) -> torch.Tensor:
        """log p(answer token) at each answer position."""
        return torch.log_softmax(self.logits, -1).gather(-1, self.labels.unsqueeze(-1)).squeeze(-1)

    def per_row(self, values: torch.Tensor) -> list[torch.Tensor]:
        """Per-position values split into one tensor per batch row."""
        return list(torch.split(values, torch.bincount(self.rows, minlength=self.batch_size).tolist()))

    def row_sums(self, values: torch.Tensor) -> torch.Tensor:
        """Per batch row, the sum of its per-position values."""
        sums = torch.zeros(self.batch_size, dtype=values.dtype, device=values.device)
        return sums.index_add(0, self.rows, values)


def answer_logits(model, batch: dict[str, torch.Tensor], device: torch.device | str) -> AnswerLogits:
    """The model's logits at answer positions only.

    Prompts are most of each sequence; projecting them onto the vocabulary (and back-propagating
    a softmax over it) was over a third of a training step on CPU for logits nobody reads.
    """
    output = model(**model_inputs(batch, device), output_hidden_states=True, logits_to_keep=1)
    hidden = output.hidden_states[-1][:, :-1, :]  # the final (normed) states that predict token t+1
    labels = batch["labels"][:, 1:].to(device)
    mask = labels != IGNORE_INDEX
    logits = output_head(model)(hidden[mask]).float()
    return AnswerLogits(logits, labels[mask], mask.nonzero()[:, 0], labels.shape[0])


def answer_loss(model, batch: dict[str, torch.Tensor], device: torch.device | str) -> torch.Tensor:
    """Mean negative log-likelihood over every answer token of the batch: the fine-tuning loss."""
    answer = answer_logits(model, batch, device)
    return torch.nn.functional.cross_entropy(answer.logits, answer.labels)
