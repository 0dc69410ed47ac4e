"""The frozen tower's output cached per image, and the per-task generation cap (issue 22)."""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

from medforget_data.dataset.examples import read_examples
from medforget_data.models import vision_cache as cache_module
from medforget_data.models.batches import Encoder, collate
from medforget_data.models.build import new_model
from medforget_data.models.generate import ANSWER_MARGIN_TOKENS, answer_caps, generate_answers
from medforget_data.models.losses import answer_logits, output_head
from medforget_data.models.vision_cache import multimodal_core, vision_cache
from medforget_data.models.vision_pretrain import freeze_vision
from medforget_data.pipeline.config import RunConfig
from medforget_data.pipeline.runner import BenchmarkRun


@pytest.fixture(autouse=True)
def _empty_store(monkeypatch: pytest.MonkeyPatch) -> None:
    # The store is process-wide, keyed by the tower's weights: another module's untrained tiny model
    # (the same seed, so the same tower) may already have cached these images, and the counts below
    # would then see no computation at all.
    monkeypatch.setattr(cache_module, "_store", OrderedDict())


@pytest.fixture(scope="module")
def tiny(synthetic_mini_dir: Path):
    model, processor = new_model("tiny", synthetic_mini_dir, seed=0)
    freeze_vision(model)
    examples = read_examples(synthetic_mini_dir, "patient", "forget")[:12]
    return model.eval(), processor, examples


def _batch(processor, examples):
    encoder = Encoder(processor)
    return collate([encoder.encode(e) for e in examples], processor.tokenizer.pad_token_id)


def _counting(model) -> tuple[list[int], object, type]:
    """Counts the images the tower really computes (patches the class's method for this test)."""
    core = multimodal_core(model)
    computed: list[int] = []
    original = type(core).get_image_features

    def counting(self, pixel_values, image_grid_thw, **kwargs):
        computed.append(len(image_grid_thw))
        return original(self, pixel_values, image_grid_thw, **kwargs)

    return computed, counting, type(core)


def test_cached_features_are_the_uncached_ones_bit_for_bit_and_computed_once(tiny, monkeypatch) -> None:
    model, processor, examples = tiny
    batch = _batch(processor, examples)
    computed, counting, core_class = _counting(model)
    monkeypatch.setattr(core_class, "get_image_features", counting)
    with torch.no_grad():
        plain = answer_logits(model, batch, "cpu").logits
        studies = len({e.item.study_id for e in examples})
        assert computed == [len(examples)]  # uncached: one tower row per item, images repeated
        with vision_cache(model):
            first = answer_logits(model, batch, "cpu").logits
            second = answer_logits(model, batch, "cpu").logits
    assert computed[1:] == [studies]  # each distinct image once, then never again
    assert torch.equal(first, plain) and torch.equal(second, plain)


def test_an_edited_or_trainable_tower_is_never_served_from_the_cache(tiny, monkeypatch) -> None:
    model, processor, examples = tiny
    batch = _batch(processor, examples)
    computed, counting, core_class = _counting(model)
    monkeypatch.setattr(core_class, "get_image_features", counting)
    merger = multimodal_core(model).visual.merger.mlp[0]
    saved = merger.weight.detach().clone()
    try:
        with torch.no_grad():
            with vision_cache(model):
                answer_logits(model, batch, "cpu")  # the store now holds this tower's images
            before = len(computed)
            merger.weight.mul_(0.5)  # what CHIP does to the merger's rows
            with vision_cache(model):
                edited = answer_logits(model, batch, "cpu").logits
            with cache_module.disabled():
                recomputed = answer_logits(model, batch, "cpu").logits
        studies = len({e.item.study_id for e in examples})
        assert computed[before:] == [studies, len(examples)]  # the edited tower computed anew
        assert torch.equal(edited, recomputed)
        merger.weight.requires_grad_(True)
        with vision_cache(model):  # a tower being trained: no cache
            assert "get_image_features" not in multimodal_core(model).__dict__
    finally:
        with torch.no_grad():
            merger.weight.copy_(saved)
        merger.weight.requires_grad_(False)


def test_disabled_inside_an_open_context_recomputes_and_stores_nothing(tiny, monkeypatch) -> None:
    model, processor, examples = tiny
    batch = _batch(processor, examples)
    computed, counting, core_class = _counting(model)
    monkeypatch.setattr(core_class, "get_image_features", counting)
    with torch.no_grad(), vision_cache(model):
        answer_logits(model, batch, "cpu")
        stored = sum(len(entries) for entries in cache_module._store.values())
        with cache_module.disabled():  # Forget-MI's noisy copies: fresh pixels every step
            noisy = {**batch, "pixel_values": batch["pixel_values"] + 1.0}
            answer_logits(model, noisy, "cpu")
        assert sum(len(entries) for entries in cache_module._store.values()) == stored
    assert computed[-1] == len(examples)  # the whole batch through the tower, uncached


def test_answer_caps_are_the_longest_reference_answer_per_task_plus_the_margin(tiny) -> None:
    _, processor, examples = tiny
    tokenizer = processor.tokenizer
    expected: dict[str, int] = {}
    for e in examples:  # counted independently of answer_caps: ids of each answer, longest per task
        n = len(tokenizer.encode(e.item.answer, add_special_tokens=False))
        expected[e.item.task] = max(expected.get(e.item.task, 0), n)
    caps = answer_caps(tokenizer, examples)
    assert caps == {task: n + ANSWER_MARGIN_TOKENS for task, n in expected.items()}
    assert len(caps) >= 2


def test_the_cap_only_shortens_answers_that_reach_it(tiny) -> None:
    model, processor, examples = tiny
    tokenizer = processor.tokenizer
    word = tokenizer.encode("the", add_special_tokens=False)[0]

    def never_ends(module, inputs, logits):  # a model that repeats one word and never emits its end
        logits = logits.clone()
        logits[..., word] += 1e4
        return logits

    hook = output_head(model).register_forward_hook(never_ends)
    try:
        capped = generate_answers(model, processor, examples, batch_size=5)
        uncapped = generate_answers(model, processor, examples, batch_size=5, max_new_tokens=200)
    finally:
        hook.remove()
    caps = answer_caps(tokenizer, examples)
    by_id = {e.item.id: e.item.task for e in examples}
    for item_id, answer in capped.items():
        assert uncapped[item_id].startswith(answer) and len(answer) < len(uncapped[item_id])
        assert len(tokenizer.encode(answer, add_special_tokens=False)) <= caps[by_id[item_id]]


def _results(run_dir: Path) -> dict[str, dict]:
    out = {}
    for path in sorted((run_dir / "results").rglob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        data.pop("timings", None)
        out[str(path.relative_to(run_dir))] = data
    return out


def test_a_mini_run_scores_the_same_with_and_without_the_cache(
    synthetic_mini_dir: Path, tmp_path: Path
) -> None:
    config = RunConfig(model="tiny", epochs=2, levels=("patient",), methods=("ga", "chip"), sweep="none")
    with cache_module.disabled():
        BenchmarkRun(config, synthetic_mini_dir, tmp_path / "uncached").run()
    BenchmarkRun(config, synthetic_mini_dir, tmp_path / "cached").run()
    uncached, cached = _results(tmp_path / "uncached"), _results(tmp_path / "cached")
    assert len(cached) == 4 and cached == uncached
