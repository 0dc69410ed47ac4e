"""Batched greedy decoding with left padding, under an explicit generation config.

A checkpoint's generation_config.json (Qwen2.5-VL-7B's: sampling, repetition_penalty 1.05, …) is
never inherited: a penalty on repeated tokens would change record numbers and dates, so every
model decodes with the same plain greedy config, stopping at its family's end-of-answer token.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import torch
from transformers import GenerationConfig

from medforget_data import progress
from medforget_data.constants import LEVEL_SPLITS, LEVELS, REPORTED_SPLITS
from medforget_data.dataset.built import BuiltDataset
from medforget_data.dataset.examples import Example
from medforget_data.errors import check_choice
from medforget_data.models.batches import Encoder, collate, length_sorted_batches, model_inputs
from medforget_data.models.vision_cache import vision_cache
from medforget_data.scoring.submission import SubmissionMetadata, write_submission

# Room past the longest reference answer of a task: a right answer and its end token always fit.
ANSWER_MARGIN_TOKENS = 16


def answer_caps(tokenizer, examples: Sequence[Example]) -> dict[str, int]:
    """Per task, the new-token cap: its longest reference answer among `examples`, in tokens, plus a margin.

    No answer the benchmark scores is longer, so a model that never emits its end token (GA, NPO)
    stops there instead of at one fixed cap sized for the longest report section.
    """
    caps: dict[str, int] = {}
    for example in examples:
        length = len(tokenizer(example.item.answer, add_special_tokens=False)["input_ids"])
        caps[example.item.task] = max(caps.get(example.item.task, 0), length + ANSWER_MARGIN_TOKENS)
    return caps


def greedy_config(end_ids: list[int], pad_id: int, max_new_tokens: int) -> GenerationConfig:
    """Plain greedy decoding: every field that could alter it is set, none left to the checkpoint."""
    return GenerationConfig(
        do_sample=False,
        num_beams=1,
        max_new_tokens=max_new_tokens,
        eos_token_id=end_ids,
        pad_token_id=pad_id,
        repetition_penalty=1.0,
        no_repeat_ngram_size=0,
        length_penalty=1.0,
        temperature=1.0,
        top_k=50,
        top_p=1.0,
    )


@contextmanager
def checkpoint_defaults_ignored(model, config: GenerationConfig) -> Iterator[None]:
    """transformers fills every field left None in a passed config from the model's own
    generation_config (the checkpoint's file); while decoding, that fallback is this config."""
    saved = model.generation_config
    model.generation_config = config
    try:
        yield
    finally:
        model.generation_config = saved


@torch.no_grad()
def generate_answers(
    model,
    processor,
    examples: Sequence[Example],
    batch_size: int = 32,
    max_new_tokens: int | None = None,
    questions: Sequence[str] | None = None,
) -> dict[str, str]:
    """item id → decoded answer. `questions` overrides the items' questions (the reconstruction attack).

    `max_new_tokens` None: each task's cap from its reference answers (`answer_caps`); an int: one
    cap for every task. Batches hold one task each, so a batch of short answers ends early.
    """
    encoder = Encoder(processor)
    tokenizer = processor.tokenizer
    end_ids = encoder.family.end_token_ids(tokenizer)
    device = next(model.parameters()).device
    caps = answer_caps(tokenizer, examples) if max_new_tokens is None else None
    encoded = [
        encoder.encode(e, question=questions[i] if questions else None, with_answer=False)
        for i, e in enumerate(examples)
    ]
    # One task per batch, similar prompt lengths together: less left padding, earlier stops.
    batches = length_sorted_batches(encoded, batch_size, group=lambda i: examples[i].item.task)
    answers: dict[str, str] = {}
    model.eval()
    with vision_cache(model):
        for indices in progress.bar(batches, desc="generating", unit="batch"):
            chunk = [encoded[i] for i in indices]
            batch = model_inputs(collate(chunk, encoder.pad_id, left_pad=True), device)
            cap = caps[examples[indices[0]].item.task] if caps is not None else max_new_tokens
            config = greedy_config(end_ids, encoder.pad_id, cap)
            with checkpoint_defaults_ignored(model, config):
                output = model.generate(**batch, generation_config=config)
            new_tokens = output[:, batch["input_ids"].shape[1] :]
            for e, tokens in zip(chunk, new_tokens, strict=True):
                answers[e.item_id] = tokenizer.decode(tokens, skip_special_tokens=True).strip()
    return answers


def level_answers(
    model,
    processor,
    dataset: BuiltDataset | Path,
    level: str,
    splits: Sequence[str] = REPORTED_SPLITS,
    batch_size: int = 32,
    max_new_tokens: int | None = None,
) -> dict[str, str]:
    """Greedy answers to every item of `splits` at `level`, by item id in split order."""
    check_choice("level", level, LEVELS)
    for split in splits:
        check_choice("split", split, LEVEL_SPLITS)
    dataset = BuiltDataset.of(dataset)
    examples = [e for split in splits for e in dataset.examples(level, split)]
    answers = generate_answers(
        model, processor, examples, batch_size=batch_size, max_new_tokens=max_new_tokens
    )
    return {e.item.id: answers[e.item.id] for e in examples}


def generate_submission(
    model,
    processor,
    dataset: BuiltDataset | Path,
    level: str,
    out: Path,
    metadata: SubmissionMetadata,
    splits: Sequence[str] = REPORTED_SPLITS,
    batch_size: int = 32,
    max_new_tokens: int | None = None,
) -> int:
    """`level_answers` written as a submission file; returns the count."""
    answers = level_answers(model, processor, dataset, level, splits, batch_size, max_new_tokens)
    write_submission(out, metadata, answers)
    return len(answers)
