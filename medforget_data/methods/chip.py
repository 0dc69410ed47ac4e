"""CHIP: training-free, hierarchy-informed weight projection (design §8).

This module owns the model side — which projections to touch, the forward hooks that collect
pooled activations (step 1), grouping samples by target (or child) and sibling — and hands the
tensors to the pure math in `chip_math` (steps 2–5).

Defaults follow the published code (fengli-wu/MedForget `chip/chip.py`): one direction per child
of each target, its sibling sets, both merger layers, neuron scores against retain ∪ sibling. The
project's earlier choices stay available as named config values (`directions=per_target`,
`siblings=health_system`, `merger_layers=output`, `score_retain=without_siblings`).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from pydantic import Field

from medforget_data import progress
from medforget_data.constants import LEVELS, Level
from medforget_data.dataset.examples import Example
from medforget_data.dataset.schema import QAItem
from medforget_data.dataset.splits import Node, node_at, parent_key
from medforget_data.methods.base import Method, MethodConfig, UnlearnSplits
from medforget_data.methods.chip_math import chip_update, pool_modalities
from medforget_data.models.batches import Encoder, collate, device_of, model_inputs
from medforget_data.models.families import family_of_model

# Language MLP projections (Qwen2 / LLaMA naming, in the family's language part); the projector's
# linear layers come from the family (Qwen2.5-VL's `visual.merger.mlp.0` and `.mlp.2`, LLaVA's
# `multi_modal_projector.linear_1` and `.linear_2`).
_LANGUAGE_MLP = re.compile(r"(?:^|\.)layers\.(\d+)\.mlp\.(gate_proj|up_proj|down_proj)$")

# per_child: one direction per child of each target (per target at the section level), as published.
Directions = Literal["per_child", "per_target"]
# published: institution → every retain patient; patient → retain studies of the same institution's
# other patients; study → retain sections of the patient's other studies; section → retain sections of
# the same study. health_system: the level's sibling split under the target's parent, a target
# institution's parent being its health system.
SiblingSet = Literal["published", "health_system"]
MergerLayers = Literal["both", "output"]  # output: only the merger's last linear layer
ScoreRetain = Literal["with_siblings", "without_siblings"]  # the retain side of the neuron score


class ChipConfig(MethodConfig):
    top_fraction: float = Field(default=0.10, gt=0, le=1)  # k: share of neurons kept in S
    tau: float = Field(default=0.95, gt=0, le=1)  # energy kept by the SVD basis
    alpha: float = Field(default=0.3, ge=0, le=1)  # weight of vision tokens in the cross-modal pooling
    # last ~20% of the language layers (6 of 28 in the published run)
    layer_fraction: float = Field(default=0.2, gt=0, le=1)
    include_merger: bool = True
    directions: Directions = "per_child"
    siblings: SiblingSet = "published"
    merger_layers: MergerLayers = "both"
    score_retain: ScoreRetain = "with_siblings"
    batch_size: int = Field(default=32, ge=1)
    # Retain and sibling means are estimated on seeded samples of at most this many items: they are
    # means, and CHIP's cost is then set by the forget set, not by the whole hierarchy.
    max_reference_samples: int = Field(default=512, ge=1)


def seeded_sample(examples: list[Example], limit: int, seed: int) -> list[Example]:
    if len(examples) <= limit:
        return examples
    chosen = torch.randperm(len(examples), generator=torch.Generator().manual_seed(seed))[:limit]
    return [examples[i] for i in sorted(chosen.tolist())]


def chip_modules(
    model, layer_fraction: float, include_merger: bool, merger_layers: MergerLayers = "both"
) -> dict[str, torch.nn.Linear]:
    """The projections CHIP edits, chosen relative to depth (never hard-coded for one size)."""
    family = family_of_model(model)
    # the projector's linear layers by full name, input projection first, output projection last
    linears = [f"{family.projector_module}.{linear}" for linear in family.projector_linears]
    language: dict[str, tuple[int, torch.nn.Linear]] = {}
    merger: dict[int, tuple[str, torch.nn.Linear]] = {}  # position among the projector's linears
    for name, module in model.named_modules():
        if not isinstance(module, torch.nn.Linear):
            continue
        part = family.part(name)
        if part == "language" and (match := _LANGUAGE_MLP.search(name)):
            language[name] = (int(match.group(1)), module)
        elif part == "projector" and (
            order := [i for i, linear in enumerate(linears) if f".{name}".endswith(f".{linear}")]
        ):
            merger[order[0]] = (name, module)
    depth = 1 + max(index for index, _ in language.values())
    first = depth - max(1, round(layer_fraction * depth))
    chosen = {name: module for name, (index, module) in language.items() if index >= first}
    if include_merger and merger:
        layers = [merger[i] for i in sorted(merger)]
        chosen.update(dict(layers if merger_layers == "both" else layers[-1:]))
    return chosen


def child_level(level: Level) -> Level | None:
    """The level below `level` (None for section, the deepest)."""
    index = LEVELS.index(level)
    return LEVELS[index + 1] if index + 1 < len(LEVELS) else None


@dataclass(frozen=True)
class DirectionGroup:
    """One sibling-differential direction: forget rows of one child (or target) against sibling rows."""

    target: Node
    key: Node  # the child (or the target itself) whose mean the direction starts from
    forget: list[int]  # rows of the forget items
    siblings: list[int]  # rows of the sibling pool


def sibling_rows(
    target: Node,
    level: Level,
    pool: Sequence[QAItem],
    unit: Level,
    siblings: SiblingSet,
    health_system: dict[str, str],
) -> list[int]:
    """Rows of `pool` a target's directions are measured against; `unit` is the level they are taken at."""
    if siblings == "health_system":
        parent = parent_key(target, level, health_system)
        return [
            row
            for row, item in enumerate(pool)
            if (node := node_at(item, level)) is not None
            and node != target
            and parent_key(node, level, health_system) == parent
        ]
    # Published: the nodes of the unit level under the target's parent's other children. An
    # institution has no parent there, so its set falls back (as published) to every retain node.
    at_unit = [row for row, item in enumerate(pool) if node_at(item, unit) is not None]
    if level == LEVELS[0]:
        return at_unit
    rows = [
        row for row in at_unit if (node := node_at(pool[row], level)) != target and node[:-1] == target[:-1]
    ]
    return rows or at_unit


def direction_groups(
    level: Level,
    forget: Sequence[QAItem],
    pool: Sequence[QAItem],
    directions: Directions,
    siblings: SiblingSet,
    health_system: dict[str, str],
) -> list[DirectionGroup]:
    """Step 3's grouping: which forget rows form each direction, and which pool rows are its siblings.

    per_child: forget items grouped by their node one level below the target (items with no node
    there — a study's own facts at the study level — only enter the neuron scores); a target none of
    whose items has a child node gets one direction of its own, as published.
    """
    child = child_level(level) if directions == "per_child" else None
    unit = child or level
    children: dict[Node, dict[Node, list[int]]] = defaultdict(lambda: defaultdict(list))
    own: dict[Node, list[int]] = defaultdict(list)  # a target's items with no node at `unit`
    for row, item in enumerate(forget):
        if (target := node_at(item, level)) is None:
            continue
        if (key := node_at(item, unit)) is None:
            own[target].append(row)
        else:
            children[target][key].append(row)
    result = []
    for target in sorted(children.keys() | own.keys()):
        groups, here = (children[target], unit) if target in children else ({target: own[target]}, level)
        sibling = sibling_rows(target, level, pool, here, siblings, health_system)
        result += [DirectionGroup(target, key, rows, sibling) for key, rows in sorted(groups.items())]
    return result


@torch.no_grad()
def pooled_activations(
    model,
    processor,
    examples: Sequence[Example],
    modules: dict[str, torch.nn.Linear],
    alpha: float,
    batch_size: int,
) -> dict[str, torch.Tensor]:
    """Step 1: per sample and projection, α·mean(vision-token outputs) + (1−α)·mean(text-token outputs)."""
    encoder = Encoder(processor)
    encoded = [encoder.encode(e) for e in examples]
    family = family_of_model(model)
    projector = {name for name in modules if family.part(name) == "projector"}
    collected: dict[str, list[torch.Tensor]] = defaultdict(list)
    captured: dict[str, torch.Tensor] = {}
    hooks = [
        module.register_forward_hook(lambda _m, _i, out, name=name: captured.__setitem__(name, out.detach()))
        for name, module in modules.items()
    ]
    device = device_of(model)
    try:
        for start in progress.bar(range(0, len(encoded), batch_size), desc="CHIP activations"):
            chunk = encoded[start : start + batch_size]
            batch = collate(chunk, encoder.pad_id)
            inputs = model_inputs(batch, device)
            model(**inputs, logits_to_keep=1)  # the hooks read the MLPs; the vocabulary head is not needed
            is_image = inputs["input_ids"] == family.image_token_id(model.config)
            text = inputs["attention_mask"].bool() & ~is_image
            for name, output in captured.items():
                if name in projector:  # visual tokens only: their mean per image
                    collected[name] += [
                        part.float().mean(0) for part in family.projector_token_outputs(model, output, inputs)
                    ]
                else:
                    for row in range(output.shape[0]):
                        collected[name].append(
                            pool_modalities(
                                output[row][is_image[row]].float(), output[row][text[row]].float(), alpha
                            )
                        )
            captured.clear()
    finally:
        for hook in hooks:
            hook.remove()
    return {name: torch.stack(rows) for name, rows in collected.items()}


class CHIP(Method):
    config_class: ClassVar[type[MethodConfig]] = ChipConfig

    def unlearn(self, model, processor, splits: UnlearnSplits, config: ChipConfig):
        torch.manual_seed(config.seed)
        modules = chip_modules(model, config.layer_fraction, config.include_merger, config.merger_layers)
        limit = config.max_reference_samples
        retain_only = seeded_sample(splits.unlearn_retain, limit, config.seed)
        # every non-forget item the unlearner may see
        everything = seeded_sample(splits.unlearn_retain + splits.unlearn_sibling, limit, config.seed)
        sibling = seeded_sample(splits.unlearn_sibling, limit, config.seed + 1)
        reference = everything if config.score_retain == "with_siblings" else retain_only
        # The published institution sibling set is every retain patient; elsewhere the sibling half holds it.
        published_institution = config.siblings == "published" and splits.level == LEVELS[0]
        pool = everything if published_institution else sibling
        # One forward pass per distinct item: the reference and the sibling pool may share items.
        examples = list({e.item.id: e for e in [*splits.forget, *reference, *pool]}.values())
        row = {example.item.id: index for index, example in enumerate(examples)}
        acts = pooled_activations(model, processor, examples, modules, config.alpha, config.batch_size)
        forget_rows = list(range(len(splits.forget)))
        reference_rows = [row[e.item.id] for e in reference]
        pool_rows = [row[e.item.id] for e in pool]
        groups = direction_groups(
            splits.level,
            [e.item for e in splits.forget],
            [e.item for e in pool],
            config.directions,
            config.siblings,
            splits.health_system,
        )
        for name, module in modules.items():
            values = acts[name]
            pairs = [
                (values[group.forget], values[[pool_rows[r] for r in group.siblings]]) for group in groups
            ]
            update = chip_update(
                module.weight.data,
                values[forget_rows],
                values[reference_rows],
                pairs,
                config.top_fraction,
                config.tau,
            )
            module.weight.data.copy_(update.weight)
        return model
