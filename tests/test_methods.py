"""Unlearning methods on the tiny model: exact losses, real forgetting, seeded determinism."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from medforget_data.dataset.built import BuiltDataset
from medforget_data.errors import MedForgetError
from medforget_data.methods import METHOD_NAMES, get_method, make_config
from medforget_data.methods.chip import chip_modules
from medforget_data.methods.forget_mi import WEIGHTS, embeddings, noisy_copy
from medforget_data.methods.trainer import StepContext
from medforget_data.models.batches import Encoder, collate
from medforget_data.models.generate import generate_answers
from medforget_data.models.recipe import RecipeOptions, resolve_recipe
from medforget_data.scoring.metrics import exact_match
from tests.float32_bounds import answer_tokens_per_row, logprob_rounding
from tests.tiny_vanilla import short_answers

FAST = {"epochs": 4, "lr": 3e-3, "batch_size": 8}
METHOD_OVERRIDES: dict[str, dict] = {
    "ga": FAST,
    "graddiff": FAST,
    "kl": FAST,
    "npo": {**FAST, "lr": 1e-2},
    "forget_mi": {**FAST, "lr": 1e-2},
    # The tiny model holds a fact across most neurons of its few layers: a half-size neuron set moved
    # forget EM either way on different CPUs (0.40 → 0.53, 0.47 → 0.53); every neuron of the later
    # half of the layers removes it (→ 0.0).
    "chip": {"top_fraction": 1.0, "layer_fraction": 0.5},
    # the recipe a vanilla record would give (the fixture's model has none); never sees forget: EM ≈ 0 at once
    "oracle": {"recipe": resolve_recipe("tiny", RecipeOptions(epochs=2, batch_size=32))},
}


@pytest.fixture(scope="module")
def vanilla(tiny_vanilla):
    return tiny_vanilla


def forget_exact_match(model, processor, splits) -> float:
    scored = short_answers(splits.forget)
    answers = generate_answers(model, processor, scored, max_new_tokens=24)
    return sum(
        exact_match(answers[e.item.id], e.item.answer, e.item.task, e.item.options) for e in scored
    ) / len(scored)


def batch_of(processor, examples) -> dict[str, torch.Tensor]:
    encoder = Encoder(processor)
    return collate([encoder.encode(e) for e in examples], processor.tokenizer.pad_token_id)


def manual_nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Written out: mean over answer tokens of −log softmax at the next token."""
    total, count = 0.0, 0
    for row in range(labels.shape[0]):
        for t in range(1, labels.shape[1]):
            if labels[row, t] != -100:
                total = total - torch.log_softmax(logits[row, t - 1].double(), -1)[labels[row, t]]
                count += 1
    return total / count


def manual_sequence_logprob(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    rows = []
    for row in range(labels.shape[0]):
        rows.append(
            sum(
                torch.log_softmax(logits[row, t - 1].double(), -1)[labels[row, t]]
                for t in range(1, labels.shape[1])
                if labels[row, t] != -100
            )
        )
    return torch.stack(rows)


def test_each_loss_equals_its_formula(vanilla) -> None:
    model, processor, splits = vanilla
    forget, retain = batch_of(processor, splits.forget[:3]), batch_of(processor, splits.unlearn_retain[:3])
    with torch.no_grad():
        lf, lr = (
            model(**{k: v for k, v in forget.items() if k != "labels"}).logits,
            model(**{k: v for k, v in retain.items() if k != "labels"}).logits,
        )
    nll_f, nll_r = manual_nll(lf, forget["labels"]), manual_nll(lr, retain["labels"])
    alpha = 0.7
    # The losses read the head at answer positions, the formulas the full logits: each answer token's
    # log-probability may differ by the float32 rounding bound (tests/float32_bounds.py), and a mean of
    # such terms by as much; a relative tolerance on a near-zero loss would be tighter than float32.
    rounding_f, rounding_r = logprob_rounding(model, forget), logprob_rounding(model, retain)

    ga = get_method("ga")
    assert ga.loss(model, forget, retain, make_config("ga", {"alpha": alpha})).item() == pytest.approx(
        -nll_f.item(), abs=rounding_f
    )
    graddiff = get_method("graddiff")
    expected = -nll_f + alpha * nll_r
    assert graddiff.loss(
        model, forget, retain, make_config("graddiff", {"alpha": alpha})
    ).item() == pytest.approx(expected.item(), abs=rounding_f + alpha * rounding_r)  # mean − α·mean

    # A reference that differs from the model, so the KL and NPO terms are not trivially zero.
    reference = copy.deepcopy(model)
    with torch.no_grad():
        for parameter in reference.parameters():
            parameter.add_(0.01 * torch.randn(parameter.shape, generator=torch.Generator().manual_seed(1)))
        rf = reference(**{k: v for k, v in forget.items() if k != "labels"}).logits
        rr = reference(**{k: v for k, v in retain.items() if k != "labels"}).logits
    reference_f, reference_r = logprob_rounding(reference, forget), logprob_rounding(reference, retain)

    context = StepContext(reference=reference)
    kl = get_method("kl")
    mask = retain["labels"][:, 1:] != -100
    p = torch.softmax(rr[:, :-1].double(), -1)
    kl_manual = (
        (p * (p.log() - torch.log_softmax(lr[:, :-1].double(), -1))).sum(-1) * mask
    ).sum() / mask.sum()
    kl_loss = kl.loss(model, forget, retain, make_config("kl", {"alpha": alpha}), context)
    # KL = Σ p·(log p − log q): both log-probabilities move by their bound, and p (= exp log p) by that
    # much relative, times the largest |log p − log q| it weighs
    spread = float((p.log() - torch.log_softmax(lr[:, :-1].double(), -1)).abs()[mask].max())
    kl_rounding = (rounding_r + reference_r) * (1 + spread)
    assert kl_loss.item() == pytest.approx(
        (-nll_f + alpha * kl_manual).item(), abs=rounding_f + alpha * kl_rounding
    )

    npo = get_method("npo")
    beta = 0.1
    ratio = manual_sequence_logprob(lf, forget["labels"]) - manual_sequence_logprob(rf, forget["labels"])
    npo_manual = -(2 / beta) * F.logsigmoid(-beta * ratio).mean() + alpha * nll_r
    # a row's ratio sums up to T tokens' log-probabilities of both models; −(2/β)·log σ(−β·r) has slope ≤ 2
    ratio_rounding = answer_tokens_per_row(forget) * (rounding_f + reference_f)
    assert npo.loss(
        model, forget, retain, make_config("npo", {"alpha": alpha, "beta": beta}), context
    ).item() == pytest.approx(npo_manual.item(), abs=2 * ratio_rounding + alpha * rounding_r)
    # π = πref: the forget term is (2/β)·log 2; the ratio is exactly 0 (one model, same batch), so only
    # the float32 log σ and mean remain: a few ulps of 13.9, well inside 1e-5 relative (≈ 80 ulps)
    same = StepContext(reference=model)
    assert npo.forget_loss(model, forget, make_config("npo", {"beta": beta}), same).item() == pytest.approx(
        2 / beta * math.log(2), rel=1e-5
    )


def test_forget_mi_loss_equals_its_weighted_terms(vanilla) -> None:
    model, processor, splits = vanilla
    forget, retain = batch_of(processor, splits.forget[:2]), batch_of(processor, splits.unlearn_retain[:2])
    method = get_method("forget_mi")
    config = make_config("forget_mi", {"noise_std": 0.5, "seed": 4})
    with torch.no_grad():
        # the call's context: a frozen copy of the model and noise seeded by the config
        loss = method.loss(model, forget, retain, config, method.context(model, config)).item()
        noisy = noisy_copy(forget, 0.5, torch.Generator().manual_seed(4))
        target, current = embeddings(model, noisy), embeddings(model, forget)
        forget_uni = F.mse_loss(current[0], target[0]) + F.mse_loss(current[1], target[1])
        forget_joint = F.mse_loss(current[2], target[2])
    # the model equals its reference, so the retain terms are zero
    expected = (WEIGHTS[0] * forget_uni + WEIGHTS[1] * forget_joint) / sum(WEIGHTS)
    # the same float32 operations on the same tensors, summed in another order: non-negative terms, so
    # the relative error is a few ulps, well inside 1e-5 (≈ 80 ulps)
    assert loss == pytest.approx(expected.item(), rel=1e-5) and loss > 0


def test_ga_and_kl_are_graddiff_with_another_retain_term(vanilla) -> None:
    model, processor, splits = vanilla
    assert [make_config(name).retain_loss for name in ("ga", "graddiff", "kl")] == ["none", "nll", "kl"]
    forget, retain = batch_of(processor, splits.forget[:3]), batch_of(processor, splits.unlearn_retain[:3])
    graddiff, as_kl = get_method("graddiff"), make_config("graddiff", {"retain_loss": "kl"})
    context = graddiff.context(model, as_kl)  # a frozen reference only where the retain term needs one
    assert context.reference is not None
    assert graddiff.context(model, make_config("graddiff")).reference is None
    with torch.no_grad():
        kl = get_method("kl").loss(model, forget, retain, make_config("kl"), context)
        assert torch.equal(graddiff.loss(model, forget, retain, as_kl, context), kl)


def test_a_diverging_method_stops_with_the_loops_message(vanilla) -> None:
    model, processor, splits = vanilla
    broken = copy.deepcopy(model)
    with torch.no_grad():
        broken.lm_head.weight.fill_(float("nan"))
    config = make_config("graddiff", FAST)
    with pytest.raises(MedForgetError, match="training diverged: loss nan at epoch 0, step 0"):
        get_method("graddiff").unlearn(broken, processor, splits, config)


def test_the_oracle_method_retrains_by_the_vanilla_models_recipe() -> None:
    from medforget_data.methods.simple import oracle_config_from_record
    from medforget_data.models.build import ModelRecord, Recipe

    vanilla_recipe = resolve_recipe("tiny", RecipeOptions(epochs=3, seed=5))
    record = ModelRecord(
        config_name="tiny",
        dataset_hash="x",
        parameters=1,
        recipe=Recipe(mode="vanilla", finetune=vanilla_recipe),
    )
    assert oracle_config_from_record(make_config("oracle", {"seed": 5}), record).resolved() == vanilla_recipe
    changed = oracle_config_from_record(make_config("oracle", {"lr": 1e-4, "seed": 1}), record).resolved()
    assert (changed.train.lr, changed.train.seed, changed.train.epochs) == (1e-4, 1, 3)
    assert changed.spec == vanilla_recipe.spec and changed.train.vision_pretrain_epochs == 80
    with pytest.raises(MedForgetError, match="records no fine-tuning recipe"):
        oracle_config_from_record(make_config("oracle"), record.model_copy(update={"recipe": Recipe()}))


def test_chip_picks_layers_by_depth(vanilla) -> None:
    model, _, _ = vanilla
    names = sorted(chip_modules(model, 0.2, True))
    # tiny has 2 language layers: the last one (max(1, round(0.4)) = 1) and both merger layers
    assert names == [
        "model.language_model.layers.1.mlp.down_proj",
        "model.language_model.layers.1.mlp.gate_proj",
        "model.language_model.layers.1.mlp.up_proj",
        "model.visual.merger.mlp.0",
        "model.visual.merger.mlp.2",
    ]


@pytest.mark.parametrize("name", [n for n in METHOD_NAMES if n != "vanilla"])
def test_method_lowers_forget_exact_match_and_is_seeded(vanilla, synthetic_mini_dir: Path, name: str) -> None:
    model, processor, splits = vanilla
    before = forget_exact_match(model, processor, splits)
    assert before >= 0.3  # the tiny vanilla model does know much of the forget split
    config = make_config(name, METHOD_OVERRIDES.get(name, {}))
    method = get_method(name)
    attributes = dict(vars(method))
    if name == "oracle":  # a reference: it retrains from the dataset, never from the unlearner's view
        with pytest.raises(MedForgetError, match="call retrain"):
            method.unlearn(model, processor, splits, config)
        first = method.retrain(copy.deepcopy(model), BuiltDataset(synthetic_mini_dir), "patient", config)
    else:
        first = method.unlearn(copy.deepcopy(model), processor, splits, config)
    assert vars(method) == attributes  # nothing kept between calls (reference, noise, timings, …)
    after = forget_exact_match(first, processor, splits)
    assert after < before, (name, before, after)
    if name == "oracle":
        return  # retraining twice is covered by the fine-tuning determinism test
    second = get_method(name).unlearn(copy.deepcopy(model), processor, splits, config)
    assert all(
        torch.equal(a, b)
        for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True)
    )


def test_unlearn_cli_saves_a_loadable_model_and_its_record(
    synthetic_mini_dir: Path, tmp_path: Path, vanilla, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from medforget_data.cli import main
    from medforget_data.dataset.manifest import read_manifest
    from medforget_data.models.build import ModelRecord, load_model, save_model

    model, processor, _ = vanilla
    base = tmp_path / "vanilla"
    dataset_hash = read_manifest(synthetic_mini_dir).dataset_hash
    save_model(
        model, processor, base, ModelRecord(config_name="tiny", dataset_hash=dataset_hash, parameters=1)
    )

    def unlearn(method: str, out: str, *overrides: str) -> int:
        args = f"unlearn --dataset {synthetic_mini_dir} --method {method} --level patient --model {base}"
        return main([*args.split(), "--out", str(tmp_path / out), "--set", *overrides])

    assert unlearn("chip", "chip", "top_fraction=0.2", "tau=0.9") == 0
    record = json.loads((tmp_path / "chip" / "unlearn.json").read_text())
    assert record["config"]["top_fraction"] == 0.2 and record["config"]["tau"] == 0.9
    assert record["dataset_hash"] == dataset_hash and record["wall_seconds"] > 0
    unlearned, _, _ = load_model(tmp_path / "chip")
    pairs = zip(unlearned.state_dict().values(), model.state_dict().values(), strict=True)
    assert not all(torch.equal(a, b) for a, b in pairs)
    capsys.readouterr()
    assert unlearn("chip", "x", "tau=lots") == 2
    assert "chip config tau: Input should be a valid number" in capsys.readouterr().err
    assert unlearn("forgetful", "y") == 2
    assert "unknown method 'forgetful'" in capsys.readouterr().err


def test_teacher_forced_exact_match_is_greedy_exact_match_item_by_item(vanilla) -> None:
    """Issue 31: a sweep point's exact match from one forward pass equals greedy decoding's, per item."""
    from medforget_data.models.teacher_forced import teacher_forced_exact_match, teacher_forced_margins

    model, processor, splits = vanilla
    examples = splits.forget + splits.unlearn_sibling + splits.unlearn_retain[:40]  # every task
    margins = teacher_forced_margins(model, processor, examples, batch_size=16)
    greedy = generate_answers(model, processor, examples)
    exact = {e.item.id: greedy[e.item.id] == e.item.answer for e in examples}
    assert 0 < sum(exact.values()) < len(exact)  # both outcomes occur: the comparison can fail
    # The decode (left padding, a KV cache) computes the same logits with other shapes; a margin within
    # the spread that padding alone causes could fall either way. That spread is measured: one item per batch.
    alone = teacher_forced_margins(model, processor, examples, batch_size=1)
    spread = max(abs(margins[key] - alone[key]) for key in margins)
    decided = [key for key, margin in margins.items() if abs(margin) > 4 * spread]
    assert len(decided) >= 0.9 * len(examples)
    assert [exact[key] for key in decided] == [margins[key] > 0 for key in decided]
    assert teacher_forced_exact_match(model, processor, examples) == {
        key: m > 0 for key, m in margins.items()
    }
