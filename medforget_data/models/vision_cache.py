"""The frozen vision tower's output, computed once per image and reused.

After vision pretraining the tower (and the merger) is frozen, so an image's visual tokens are the
same in every step, every epoch, every generation batch and every attack — and the same for every
model that shares the tower (vanilla and the methods that leave it alone). `vision_cache(model)`
memoises the model's `get_image_features` per image for as long as the context is open; entries
are keyed by a digest of the image's pixel rows and of the tower's weights, so a method that edits
the tower (CHIP's merger rows) never sees a stale entry. The output of one image does not depend on
the other images of its batch (tested bit for bit), so the cached path gives the scores of the
uncached one. A tower with trainable parameters is never cached; nor are families whose images are
not split by `image_grid_thw` (LLaVA: its features come back in another shape).
"""

from __future__ import annotations

import hashlib
import inspect
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from transformers.modeling_outputs import BaseModelOutputWithPooling

# Parts whose output `get_image_features` returns: Qwen2.5-VL's tower (merger inside), LLaVA's.
VISION_PARTS = ("visual", "vision_tower", "multi_modal_projector")
KEPT_TOWERS = 2  # vanilla's tower and one edited one: entries of older weights are dropped
_ENABLED = [True]
_store: OrderedDict[str, dict[bytes, torch.Tensor]] = OrderedDict()


@contextmanager
def disabled() -> Iterator[None]:
    """Every forward recomputes the tower (the uncached path the tests compare against)."""
    _ENABLED.append(False)
    try:
        yield
    finally:
        _ENABLED.pop()


def multimodal_core(model) -> torch.nn.Module | None:
    """The module whose forward calls `get_image_features` (through DDP, peft and the head class)."""
    for module in model.modules():
        if hasattr(module, "language_model") and hasattr(type(module), "get_image_features"):
            return module
    return None


def vision_parameters(core: torch.nn.Module) -> list[torch.nn.Parameter]:
    return [p for name in VISION_PARTS if hasattr(core, name) for p in getattr(core, name).parameters()]


def weights_digest(parameters: list[torch.nn.Parameter]) -> str:
    digest = hashlib.sha1()
    for parameter in parameters:
        data = parameter.detach().to("cpu", copy=False).contiguous()
        digest.update(str((data.dtype, tuple(data.shape))).encode())
        digest.update(memoryview(data.view(torch.uint8).numpy()).cast("B"))
    return digest.hexdigest()


def _image_digest(rows: torch.Tensor) -> bytes:
    rows = rows.detach().to("cpu", copy=False).contiguous()
    return hashlib.sha1(memoryview(rows.view(torch.uint8).numpy()).cast("B")).digest()


@contextmanager
def vision_cache(model) -> Iterator[None]:
    """Inside the context, `model`'s image features are computed once per image (when the tower is frozen)."""
    core = multimodal_core(model)
    parameters = vision_parameters(core) if core is not None else []
    signature = inspect.signature(core.get_image_features).parameters if core is not None else {}
    grid_based = "image_grid_thw" in signature
    if not _ENABLED[-1] or not grid_based or not parameters or any(p.requires_grad for p in parameters):
        yield
        return
    tower = f"{weights_digest(parameters)}:{parameters[0].device}"
    entries = _store.setdefault(tower, {})
    _store.move_to_end(tower)
    while len(_store) > KEPT_TOWERS:
        _store.popitem(last=False)
    compute = core.get_image_features  # the bound method of the class

    def cached(
        pixel_values: torch.Tensor, image_grid_thw: torch.Tensor, **kwargs
    ) -> BaseModelOutputWithPooling:
        images = torch.split(pixel_values, image_grid_thw.prod(-1).tolist())
        tag = b"autocast" if torch.is_autocast_enabled() else b"plain"
        keys = [tag + _image_digest(rows) for rows in images]
        todo: dict[bytes, int] = {}  # key → the first image with it, for images not cached yet
        for i, key in enumerate(keys):
            if key not in entries and key not in todo:
                todo[key] = i
        if todo:
            index = list(todo.values())
            output = compute(torch.cat([images[i] for i in index]), image_grid_thw[index], **kwargs)
            for key, features in zip(todo, output.pooler_output, strict=True):
                entries[key] = features.detach()
        return BaseModelOutputWithPooling(pooler_output=tuple(entries[key] for key in keys))

    outer = core.__dict__.get("get_image_features")  # an enclosing context's, if any
    core.get_image_features = cached
    try:
        yield
    finally:
        if outer is None:
            del core.get_image_features  # the class's method again
        else:
            core.get_image_features = outer
