"""Vision pretraining: teach the vision tower to tell the training images apart, then freeze it.

Trained jointly with the language model from scratch, the vision tower collapses: its features of
different images grow alike (mean cosine 0.71 → 0.91 in 20 epochs) and the model answers every
image-keyed question (patient, institution, study date, …) with the training set's most common
answer. A published Qwen2.5-VL starts from a pretrained vision encoder; ours gets the small-scale
equivalent here. Linear heads on the mean-pooled visual tokens predict each image's institution,
patient and study (the hierarchy above the report section); the heads are discarded and the tower
is frozen for fine-tuning. Only the images of the examples being trained on are used, so a retrain
oracle never sees a forgotten image. Evidence and figures: BENCHMARKS.md (issue 4).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch

from medforget_data.constants import LEVELS
from medforget_data.dataset.examples import Example
from medforget_data.models.batches import Encoder
from medforget_data.models.train import LoopConfig, LoopSetup, Objective, fit

# Levels whose ids are properties of an image (a report section shares its study's image).
IMAGE_LEVELS: tuple[str, ...] = LEVELS[: LEVELS.index("study") + 1]


def training_images(examples: Sequence[Example]) -> list[Example]:
    """One example per distinct study image, in first-seen order."""
    first: dict[str, Example] = {}
    for example in examples:
        first.setdefault(example.item.study_id, example)
    return list(first.values())


def image_labels(images: Sequence[Example]) -> list[torch.Tensor]:
    """Per image level, each image's class index (ids sorted, so labels never depend on order)."""
    labels = []
    for level in IMAGE_LEVELS:
        ids = [getattr(image.item, f"{level}_id") for image in images]
        index = {value: i for i, value in enumerate(sorted(set(ids)))}
        labels.append(torch.tensor([index[value] for value in ids]))
    return labels


def visual_summary(visual, pixel_values: torch.Tensor, grid_thw: torch.Tensor, images: int) -> torch.Tensor:
    """Mean of each image's visual tokens (the vectors the language model receives): [images, hidden]."""
    output = visual(pixel_values, grid_thw=grid_thw)
    tokens = getattr(output, "pooler_output", output)  # transformers 5 returns an output object
    return tokens.view(images, -1, tokens.shape[-1]).mean(1)


def mean_cosine_between_images(model, encoder: Encoder, images: Sequence[Example]) -> float:
    """Mean cosine similarity of different images' visual summaries: 1 means the tower has collapsed."""
    with torch.no_grad():
        summaries = []
        for image in images:
            inputs, _ = encoder.image_inputs(image)
            summaries.append(
                visual_summary(model.model.visual, inputs["pixel_values"], inputs["image_grid_thw"], 1)
            )
    unit = torch.nn.functional.normalize(torch.cat(summaries), dim=-1)
    return (unit @ unit.T)[~torch.eye(len(images), dtype=torch.bool)].mean().item()


@contextmanager
def _one_cpu_thread(device: str) -> Iterator[None]:
    threads = torch.get_num_threads()
    if torch.device(device).type == "cpu":
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def pretrain_vision(
    model,
    encoder: Encoder,
    examples: Sequence[Example],
    epochs: int,
    lr: float,
    seed: int,
    batch_size: int = 16,
    device: str = "cpu",
) -> float:
    """Train the vision tower in place to classify each image's level ids; returns the last epoch's
    study accuracy on the training images.

    On CPU it runs on one thread: its reductions over many patches are split across threads, so the
    tower (and every model fine-tuned on it) would otherwise depend on the machine's core count.
    """
    with _one_cpu_thread(device):
        images = training_images(examples)
        inputs = [encoder.image_inputs(image)[0] for image in images]
        labels = [label.to(device) for label in image_labels(images)]
        visual = model.model.visual.to(device)
        generator = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)  # the heads' initialisation
        hidden = model.config.text_config.hidden_size
        heads = torch.nn.ModuleList(torch.nn.Linear(hidden, int(label.max()) + 1) for label in labels)
        heads.to(device)
        right: list[int] = []  # per step, the batch's studies told apart

        def batches(epoch: int) -> list[list[int]]:
            order = torch.randperm(len(images), generator=generator).tolist()
            return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]

        def loss(tower, chosen: list[int]) -> torch.Tensor:
            summary = visual_summary(
                tower,
                torch.cat([inputs[i]["pixel_values"] for i in chosen]).to(device),
                torch.cat([inputs[i]["image_grid_thw"] for i in chosen]).to(device),
                len(chosen),
            )
            logits = [head(summary) for head in heads]
            right.append(int((logits[-1].argmax(-1) == labels[-1][chosen]).sum()))
            return sum(
                torch.nn.functional.cross_entropy(level_logits, label[chosen])
                for level_logits, label in zip(logits, labels, strict=True)
            )

        steps = math.ceil(len(images) / batch_size)
        # a constant rate, no clipping, fp32: the recipe the figures in BENCHMARKS.md were made with
        recipe = LoopConfig(epochs=epochs, lr=lr, weight_decay=0.0, clip_norm=None)
        fit(
            visual,
            [*visual.parameters(), *heads.parameters()],
            Objective(batches, loss, steps),
            recipe,
            LoopSetup(label="vision pretraining"),
        )
        return sum(right[-steps:]) / len(images) if right else 0.0


def freeze_vision(model) -> None:
    """Fine-tuning after pretraining trains the language model and leaves the tower as it is."""
    model.model.visual.requires_grad_(False)
