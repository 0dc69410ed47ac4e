"""Prompts, answer-only labels and batches — the one place that turns items into model inputs.

Fine-tuning, every unlearning method, generation and the attacks all go through here, so a
prompt is built the same way everywhere. The model family (models/families/) supplies what
differs between architectures; for Qwen2.5-VL (the project's own models):

    <|im_start|>system … <|im_end|>
    <|im_start|>user <|vision_start|><|image_pad|>×N<|vision_end|>{question}<|im_end|>
    <|im_start|>assistant
    {answer}<|im_end|>            ← the only positions with labels (−100 elsewhere)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from medforget_data.dataset.examples import Example
from medforget_data.draws import keyed_index
from medforget_data.models.families import family_of_processor

IGNORE_INDEX = -100


@dataclass(frozen=True)
class Encoded:
    """One example as token ids; image tensors are shared per study image."""

    item_id: str
    input_ids: list[int]
    labels: list[int]
    image: dict[str, torch.Tensor]  # the model's image inputs, leading dimension concatenated per batch


def pad_token_id(tokenizer) -> int:
    """The padding id: the tokenizer's, or its EOS where it has none (LLaMA tokenizers); padded
    positions are masked out, so which id fills them does not matter."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


class Encoder:
    """Caches image tensors per image and the tokenisation of prompts."""

    def __init__(self, processor) -> None:
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.family = family_of_processor(processor)
        self.pad_id = pad_token_id(self.tokenizer)
        self._images: dict[int, tuple[dict[str, torch.Tensor], int]] = {}

    def image_inputs(self, example: Example) -> tuple[dict[str, torch.Tensor], int]:
        """(image tensors, image token count) of the example's image, computed once per image."""
        key = id(example.image)
        if key not in self._images:
            self._images[key] = self.family.image_inputs(self.processor, example.image)
        return self._images[key]

    def prompt(self, question: str, image_tokens: int) -> str:
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
        text = self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        placeholder = self.family.image_token(self.processor)
        return text.replace(placeholder, placeholder * image_tokens, 1)

    def encode(self, example: Example, question: str | None = None, with_answer: bool = True) -> Encoded:
        image, image_tokens = self.image_inputs(example)
        prompt_ids = self.tokenizer(
            self.prompt(question or example.item.question, image_tokens),
            add_special_tokens=self.family.prompt_special_tokens,
        )["input_ids"]
        answer_text = self.family.answer_prefix + example.item.answer + self.family.end_text(self.tokenizer)
        answer_ids = self.tokenizer(answer_text, add_special_tokens=False)["input_ids"] if with_answer else []
        return Encoded(
            example.item.id,
            prompt_ids + answer_ids,
            [IGNORE_INDEX] * len(prompt_ids) + answer_ids,
            image,
        )


def wording_choice(seed: int, epoch: int, item_id: str, count: int) -> int:
    """Which of an item's `count` training wordings epoch `epoch` trains on.

    A function of (seed, epoch, item id) only — not of the item's position or of any training
    state — so a resumed run and an oracle (train minus a forget split) draw what the
    uninterrupted vanilla run draws for the same item. sha256, not Python's salted hash().
    """
    return keyed_index(count, seed, epoch, item_id)


class WordingDraws(Sequence[Encoded]):
    """Training examples that are asked in one of their training wordings per epoch.

    Indexing gives the canonical wording (what a plain list of encodings holds); `for_epoch`
    draws one wording per item, so an epoch has as many examples as with one wording. Each
    (item, wording) is encoded once, on first draw.
    """

    def __init__(self, encoder: Encoder, examples: Sequence[Example]) -> None:
        self.encoder = encoder
        self.examples = list(examples)
        self._cache: dict[tuple[int, int], Encoded] = {}

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self._encoded(i, 0) for i in range(len(self))[index]]
        return self._encoded(index, 0)

    @property
    def encoded_count(self) -> int:
        """How many (item, wording) pairs have been encoded so far."""
        return len(self._cache)

    def wordings(self, index: int) -> tuple[str, ...]:
        item = self.examples[index].item
        return item.train_questions or (item.question,)

    def _encoded(self, index: int, wording: int) -> Encoded:
        key = (index, wording)
        if key not in self._cache:
            example = self.examples[index]
            self._cache[key] = self.encoder.encode(example, self.wordings(index)[wording])
        return self._cache[key]

    def for_epoch(self, seed: int, epoch: int) -> list[Encoded]:
        return [
            self._encoded(i, wording_choice(seed, epoch, e.item.id, len(self.wordings(i))))
            for i, e in enumerate(self.examples)
        ]


def collate(encoded: Sequence[Encoded], pad_id: int, left_pad: bool = False) -> dict[str, torch.Tensor]:
    """Pad to the longest sequence: right padding for training, left padding for generation."""
    width = max(len(e.input_ids) for e in encoded)
    ids, labels, mask = [], [], []
    for e in encoded:
        pad = width - len(e.input_ids)
        if left_pad:
            ids.append([pad_id] * pad + e.input_ids)
            labels.append([IGNORE_INDEX] * pad + e.labels)
            mask.append([0] * pad + [1] * len(e.input_ids))
        else:
            ids.append(e.input_ids + [pad_id] * pad)
            labels.append(e.labels + [IGNORE_INDEX] * pad)
            mask.append([1] * len(e.input_ids) + [0] * pad)
    return {
        "input_ids": torch.tensor(ids),
        "attention_mask": torch.tensor(mask),
        "labels": torch.tensor(labels),
        **{key: torch.cat([e.image[key] for e in encoded]) for key in encoded[0].image},
    }


def length_sorted_batches(
    encoded: Sequence[Encoded], batch_size: int, group: Callable[[int], str] | None = None
) -> list[list[int]]:
    """Indices in batches of similar length (little padding), shortest first; with `group`, a batch
    holds indices of one group only (generation: one task per batch, so short answers stop early)."""
    key = group or (lambda i: "")
    order = sorted(range(len(encoded)), key=lambda i: (key(i), len(encoded[i].input_ids), i))
    batches: list[list[int]] = []
    for i in order:
        if batches and len(batches[-1]) < batch_size and key(batches[-1][0]) == key(i):
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


def length_batches(
    encoded: Sequence[Encoded], batch_size: int, generator: torch.Generator
) -> list[list[int]]:
    """Training's batches: `length_sorted_batches`, their order shuffled by the seeded generator."""
    batches = length_sorted_batches(encoded, batch_size)
    permutation = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in permutation]


def device_of(model) -> torch.device:
    """Where a model's parameters are (through wrappers: DDP, peft)."""
    return next(model.parameters()).device


def model_inputs(batch: dict[str, torch.Tensor], device: torch.device | str) -> dict[str, torch.Tensor]:
    """The batch without labels, on the device (the loss is computed by the caller)."""
    return {k: v.to(device) for k, v in batch.items() if k != "labels"}
