"""CHIP: training-free, hierarchy-informed weight projection (design §8).

This module owns the model side — which projections to touch, the forward hooks that collect
pooled activations (step 1), grouping samples by target and sibling — and hands the tensors to
the pure math in `chip_math` (steps 2–5).
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Sequence

import torch
from tqdm.auto import tqdm

from medforget_data.methods.base import MethodConfig, UnlearnSplits
from medforget_data.methods.chip_math import chip_update, pool_modalities
from medforget_data.models.batches import Encoder, collate, model_inputs
from medforget_data.models.examples import Example
from medforget_data.models.families import family_of_model

# Language MLP projections (Qwen2 / LLaMA naming, in the family's language part); the projector's
# layers come from the family (Qwen2.5-VL's `visual.merger.mlp.2`, LLaVA's `multi_modal_projector.linear_2`).
_LANGUAGE_MLP = re.compile(r"(?:^|\.)layers\.(\d+)\.mlp\.(gate_proj|up_proj|down_proj)$")


class ChipConfig(MethodConfig):
    top_fraction: float = 0.10  # k: share of neurons kept in S
    tau: float = 0.95  # energy kept by the SVD basis
    alpha: float = 0.3  # weight of vision tokens in the cross-modal pooling
    layer_fraction: float = 0.2  # last ~20% of the language layers (6 of 28 in the published run)
    include_merger: bool = True
    batch_size: int = 32
    # Retain and sibling means are estimated on seeded samples of at most this many items: they are
    # means, and CHIP's cost is then set by the forget set, not by the whole hierarchy.
    max_reference_samples: int = 512


def seeded_sample(examples: list[Example], limit: int, seed: int) -> list[Example]:
    if len(examples) <= limit:
        return examples
    chosen = torch.randperm(len(examples), generator=torch.Generator().manual_seed(seed))[:limit]
    return [examples[i] for i in sorted(chosen.tolist())]


def chip_modules(model, layer_fraction: float, include_merger: bool) -> dict[str, torch.nn.Linear]:
    """The projections CHIP edits, chosen relative to depth (never hard-coded for one size)."""
    family = family_of_model(model)
    output_layer = f"{family.projector_module}.{family.projector_linears[-1]}"  # the projector's output
    language: dict[str, tuple[int, torch.nn.Linear]] = {}
    merger: dict[str, torch.nn.Linear] = {}
    for name, module in model.named_modules():
        if not isinstance(module, torch.nn.Linear):
            continue
        part = family.part(name)
        if part == "language" and (match := _LANGUAGE_MLP.search(name)):
            language[name] = (int(match.group(1)), module)
        elif part == "projector" and f".{name}".endswith(f".{output_layer}"):
            merger[name] = module
    depth = 1 + max(index for index, _ in language.values())
    first = depth - max(1, round(layer_fraction * depth))
    chosen = {name: module for name, (index, module) in language.items() if index >= first}
    if include_merger:
        chosen.update(merger)
    return chosen


@torch.no_grad()
def pooled_activations(
    model,
    processor,
    examples: Sequence[Example],
    modules: dict[str, torch.nn.Linear],
    alpha: float,
    batch_size: int,
    progress: bool = False,
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
    device = next(model.parameters()).device
    try:
        for start in tqdm(range(0, len(encoded), batch_size), desc="CHIP activations", disable=not progress):
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


class CHIP:
    name = "chip"
    config_class = ChipConfig

    def unlearn(self, model, processor, splits: UnlearnSplits, config: ChipConfig, progress: bool = True):
        began = time.perf_counter()
        torch.manual_seed(config.seed)
        modules = chip_modules(model, config.layer_fraction, config.include_merger)
        retain = seeded_sample(splits.retain, config.max_reference_samples, config.seed)
        sibling = seeded_sample(splits.sibling, config.max_reference_samples, config.seed + 1)
        acts = {
            split: pooled_activations(
                model, processor, examples, modules, config.alpha, config.batch_size, progress
            )
            for split, examples in (("forget", splits.forget), ("retain", retain), ("sibling", sibling))
        }
        # Step 3's grouping: each target's forget samples against the siblings under the same parent.
        target_rows: dict[tuple, list[int]] = defaultdict(list)
        for row, example in enumerate(splits.forget):
            target_rows[splits.node(example.item)].append(row)
        sibling_rows: dict[object, list[int]] = defaultdict(list)
        for row, example in enumerate(sibling):
            sibling_rows[splits.parent(example.item)].append(row)
        self.report = {}
        for name, module in modules.items():
            forget, retain, sibling = acts["forget"][name], acts["retain"][name], acts["sibling"][name]
            groups = []
            for _, rows in sorted(target_rows.items(), key=lambda pair: str(pair[0])):
                parent = splits.parent(splits.forget[rows[0]].item)
                groups.append((forget[rows], sibling[sibling_rows.get(parent, [])]))
            update = chip_update(module.weight.data, forget, retain, groups, config.top_fraction, config.tau)
            module.weight.data.copy_(update.weight)
            self.report[name] = {"neurons": int(update.neurons.numel()), "rank": int(update.basis.shape[1])}
        self.wall_seconds = time.perf_counter() - began
        return model
