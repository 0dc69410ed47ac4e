"""Batched greedy decoding with left padding."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from medforget_data import progress
from medforget_data.constants import LEVEL_SPLITS, LEVELS
from medforget_data.errors import check_choice
from medforget_data.models.batches import Encoder, collate, model_inputs
from medforget_data.models.examples import Example, read_examples
from medforget_data.models.tokenizer import EOS
from medforget_data.scoring.submission import SubmissionMetadata, write_submission

DEFAULT_MAX_NEW_TOKENS = 160  # the longest report sections are ~130 tokens


@torch.no_grad()
def generate_answers(
    model,
    processor,
    examples: Sequence[Example],
    batch_size: int = 32,
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    questions: Sequence[str] | None = None,
) -> dict[str, str]:
    """item id → decoded answer. `questions` overrides the items' questions (the reconstruction attack)."""
    encoder = Encoder(processor)
    tokenizer = processor.tokenizer
    pad_id, eos_id = tokenizer.pad_token_id, tokenizer.convert_tokens_to_ids(EOS)
    device = next(model.parameters()).device
    encoded = [
        encoder.encode(e, question=questions[i] if questions else None, with_answer=False)
        for i, e in enumerate(examples)
    ]
    # Similar prompt lengths together: less left padding.
    order = sorted(range(len(encoded)), key=lambda i: (len(encoded[i].input_ids), i))
    answers: dict[str, str] = {}
    model.eval()
    for start in progress.bar(range(0, len(order), batch_size), desc="generating", unit="batch"):
        chunk = [encoded[i] for i in order[start : start + batch_size]]
        batch = model_inputs(collate(chunk, pad_id, left_pad=True), device)
        output = model.generate(
            **batch, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad_id, eos_token_id=eos_id
        )
        new_tokens = output[:, batch["input_ids"].shape[1] :]
        for e, tokens in zip(chunk, new_tokens, strict=True):
            answers[e.item_id] = tokenizer.decode(tokens, skip_special_tokens=True).strip()
    return answers


def generate_submission(
    model,
    processor,
    dataset_dir: Path,
    level: str,
    out: Path,
    metadata: SubmissionMetadata,
    splits: Sequence[str] = LEVEL_SPLITS,
    batch_size: int = 32,
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
) -> int:
    """Greedy answers to every item of `splits` at `level` written as a submission; returns the count."""
    check_choice("level", level, LEVELS)
    for split in splits:
        check_choice("split", split, LEVEL_SPLITS)
    examples = [e for split in splits for e in read_examples(dataset_dir, level, split)]
    answers = generate_answers(
        model, processor, examples, batch_size=batch_size, max_new_tokens=max_new_tokens
    )
    write_submission(out, metadata, {e.item.id: answers[e.item.id] for e in examples})
    return len(examples)
