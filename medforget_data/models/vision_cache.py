"""The frozen vision tower's output, computed once per image and reused.

After vision pretraining the tower (and the merger) is frozen, so an image's visual tokens are the
same in every step, every epoch, every generation batch and every attack — and the same for every
model that shares the tower (vanilla and the methods that leave it alone). `vision_cache(model)`
memoises the model's `get_image_features` per image for as long as the context is open. What an
image is comes from the model's family (models/families/): its image inputs (for Qwen2.5-VL the
image's pixel rows and its `image_grid_thw` row) and how a batch's inputs split per image. Entries
are keyed by a digest of those tensors and of the vision tower's and projector's weights, so a
method that edits them (CHIP's merger rows) never sees a stale entry. The output of one image does
not depend on the other images of its batch (tested bit for bit), so the cached path gives the
scores of the uncached one. A tower with trainable parameters is never cached while gradients are
on (under `torch.no_grad` nothing is trained: generation and the attacks use the cache on a model
as loaded); nor are families that declare no cacheable image inputs (LLaVA: its features come back
in another shape).
"""

from __future__ import annotations

import hashlib
import inspect
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from transformers.modeling_outputs import BaseModelOutputWithPooling

from medforget_data.errors import MedForgetError
from medforget_data.models.families import ModelFamily, family_of_model

KEPT_TOWERS = 2  # vanilla's tower and one edited one: entries of older weights are dropped
_ENABLED = [True]
_store: OrderedDict[str, dict[bytes, torch.Tensor]] = OrderedDict()


@contextmanager
def disabled() -> Iterator[None]:
    """Every forward recomputes the tower, in an open cache context too (the uncached path the
    tests compare against; images that are never seen twice, such as Forget-MI's noisy copies)."""
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


def _family(model) -> ModelFamily | None:
    try:
        return family_of_model(model)
    except MedForgetError:  # not a model of a supported family (a bare tower): nothing to cache
        return None


def vision_parameters(model, family: ModelFamily) -> list[torch.nn.Parameter]:
    """The vision tower's and the projector's parameters: what `get_image_features` computes with."""
    return [p for name, p in model.named_parameters() if family.part(name) != "language"]


def weights_digest(parameters: list[torch.nn.Parameter]) -> str:
    digest = hashlib.sha1()
    for parameter in parameters:
        data = parameter.detach().to("cpu", copy=False).contiguous()
        digest.update(str((data.dtype, tuple(data.shape))).encode())
        digest.update(memoryview(data.view(torch.uint8).numpy()).cast("B"))
    return digest.hexdigest()


def image_digest(image: dict[str, torch.Tensor]) -> bytes:
    """One image's key: its image inputs (names, dtypes, shapes and bytes)."""
    digest = hashlib.sha1()
    for name in sorted(image):
        data = image[name].detach().to("cpu", copy=False).contiguous()
        digest.update(f"{name}:{data.dtype}:{tuple(data.shape)}".encode())
        digest.update(memoryview(data.view(torch.uint8).numpy()).cast("B"))
    return digest.digest()


@contextmanager
def vision_cache(model) -> Iterator[None]:
    """Inside the context, `model`'s image features are computed once per image (when the tower is frozen)."""
    core = multimodal_core(model)
    family = _family(model) if core is not None else None
    names = family.cached_image_inputs if family is not None else ()
    parameters = vision_parameters(model, family) if names else []
    # frozen: no tower parameter is trained, or nothing is (the context opened under no_grad:
    # generation and the attacks, on models loaded with parameters that require gradients)
    trainable = torch.is_grad_enabled() and any(p.requires_grad for p in parameters)
    if not _ENABLED[-1] or not parameters or trainable:
        yield
        return
    tower = f"{weights_digest(parameters)}:{parameters[0].device}"
    entries = _store.setdefault(tower, {})
    _store.move_to_end(tower)
    while len(_store) > KEPT_TOWERS:
        _store.popitem(last=False)
    compute = core.get_image_features  # the class's method, or an enclosing context's `cached`
    # the class's parameters, to tell the image inputs apart from the rest however they are passed
    signature = inspect.signature(type(core).get_image_features.__get__(core))
    rest = [p.name for p in signature.parameters.values() if p.kind is inspect.Parameter.VAR_KEYWORD]
    if any(name not in signature.parameters for name in names):  # not the method the family knows
        yield
        return

    def cached(*args, **kwargs) -> BaseModelOutputWithPooling:
        if not _ENABLED[-1]:
            return compute(*args, **kwargs)
        arguments = signature.bind(*args, **kwargs).arguments
        extra = {key: value for name in rest for key, value in arguments.pop(name, {}).items()}
        inputs = {name: arguments.pop(name) for name in names}
        images = family.split_images(inputs)
        tag = b"autocast" if torch.is_autocast_enabled() else b"plain"
        keys = [tag + image_digest(image) for image in images]
        todo: dict[bytes, int] = {}  # key → the first image with it, for images not cached yet
        for i, key in enumerate(keys):
            if key not in entries and key not in todo:
                todo[key] = i
        if todo:
            batch = {name: torch.cat([images[i][name] for i in todo.values()]) for name in names}
            output = compute(**batch, **arguments, **extra)
            for key, features in zip(todo, output.pooler_output, strict=True):
                entries[key] = features.detach()
        return BaseModelOutputWithPooling(pooler_output=tuple(entries[key] for key in keys))

    # callers read the parameters (transformers' generate picks the encoder's inputs by name)
    cached.__signature__ = signature  # type: ignore[attr-defined]
    outer = core.__dict__.get("get_image_features")  # an enclosing context's, if any
    core.get_image_features = cached
    try:
        yield
    finally:
        if outer is None:
            del core.get_image_features  # the class's method again
        else:
            core.get_image_features = outer
