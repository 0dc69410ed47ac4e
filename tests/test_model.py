"""The model kit on the `tiny` config: round-trips, label masking, determinism, resume, LoRA, CLI."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from medforget_data.cli import main
from medforget_data.dataset.examples import read_examples
from medforget_data.errors import MedForgetError
from medforget_data.models import train as training
from medforget_data.models.batches import IGNORE_INDEX, Encoder, collate, model_inputs
from medforget_data.models.build import ModelRecord, checkpoint_hash, load_model, new_model, save_model
from medforget_data.models.finetune import finetune
from medforget_data.models.losses import answer_logits, answer_loss
from medforget_data.models.recipe import RecipeOptions, resolve_recipe
from medforget_data.models.tokenizer import EOS
from medforget_data.models.train import LoopSetup, train
from medforget_data.scoring.submission import read_submission
from tests.float32_bounds import EPS32, answer_states, logprob_rounding

FAST = resolve_recipe("tiny", RecipeOptions(epochs=2, batch_size=8, lr=3e-3)).train


@pytest.fixture(scope="module")
def tiny(synthetic_mini_dir: Path):
    model, processor = new_model("tiny", synthetic_mini_dir, seed=0)
    examples = read_examples(synthetic_mini_dir, "train", "train")
    return model, processor, examples


def test_labels_cover_exactly_the_answer_and_its_end_token(tiny) -> None:
    _, processor, examples = tiny
    example = next(e for e in examples if e.item.task == "classification")
    encoded = Encoder(processor).encode(example)
    answer_positions = [i for i, label in enumerate(encoded.labels) if label != IGNORE_INDEX]
    # the labelled tokens are a suffix of the sequence and decode to the answer + <|im_end|>
    assert answer_positions == list(range(len(encoded.labels) - len(answer_positions), len(encoded.labels)))
    labelled = [encoded.labels[i] for i in answer_positions]
    assert processor.tokenizer.decode(labelled) == example.item.answer + EOS
    prompt = processor.tokenizer.decode(encoded.input_ids[: answer_positions[0]])
    assert prompt.endswith(example.item.question + "<|im_end|>\n<|im_start|>assistant\n")
    assert prompt.count("<|image_pad|>") == 16  # 112×112 pixels → 8×8 patches → 2×2 merge


def test_padding_keeps_labels_aligned(tiny) -> None:
    model, processor, examples = tiny
    encoder = Encoder(processor)
    encoded = [encoder.encode(e) for e in examples[:3]]
    pad = processor.tokenizer.pad_token_id
    per_side = []
    for left in (False, True):
        batch = collate(encoded, pad, left_pad=left)
        assert batch["attention_mask"].sum().item() == sum(len(e.input_ids) for e in encoded)
        with torch.no_grad():
            answer = answer_logits(model, batch, "cpu")
        logprobs = answer.per_row(answer.token_logprobs())
        assert [len(lp) for lp in logprobs] == [sum(x != IGNORE_INDEX for x in e.labels) for e in encoded]
        # each row's answer tokens, in order, are the labels of that example
        assert [lp.tolist() for lp in answer.per_row(answer.labels)] == [
            [x for x in e.labels if x != IGNORE_INDEX] for e in encoded
        ]
        per_side.append(logprobs)
    # padding side changes nothing an item's answer is scored on
    for right_row, left_row in zip(*per_side, strict=True):
        assert torch.allclose(right_row, left_row, atol=1e-4)


def test_answer_loss_is_the_mean_answer_token_nll_of_the_full_logits(tiny) -> None:
    """The training loss applies the vocabulary head to answer positions only; value and gradient
    must equal the mean negative log-likelihood of the answer tokens read off the full logits."""
    model, processor, examples = tiny
    encoder = Encoder(processor)
    batch = collate([encoder.encode(e) for e in examples[:5]], processor.tokenizer.pad_token_id)
    model.zero_grad()
    fast = answer_loss(model, batch, "cpu")
    fast.backward()
    fast_grad = model.lm_head.weight.grad.clone()
    model.zero_grad()
    logits = model(**model_inputs(batch, "cpu")).logits
    terms = [
        -torch.log_softmax(logits[row, position - 1], dim=-1)[batch["labels"][row, position]]
        for row in range(batch["labels"].shape[0])
        for position in range(1, batch["labels"].shape[1])
        if batch["labels"][row, position] != IGNORE_INDEX
    ]
    full = torch.stack(terms).mean()
    full.backward()
    # a mean of log-probabilities, each within the float32 rounding bound of the two head evaluations
    rounding = logprob_rounding(model, batch)
    assert fast.item() == pytest.approx(full.item(), abs=rounding)
    # ∂/∂w = mean over tokens of (p − onehot)·h: p moves by ≤ rounding (relative), summed over N tokens
    states = answer_states(model, batch)
    gradient_rounding = float(states.abs().max()) * (rounding + len(states) * EPS32)
    assert torch.allclose(fast_grad, model.lm_head.weight.grad, rtol=0, atol=gradient_rounding)
    model.zero_grad()


def test_saved_model_reloads_and_generates_the_same_tokens(tiny, tmp_path: Path) -> None:
    from medforget_data.models.generate import generate_answers

    model, processor, examples = tiny
    save_model(
        model, processor, tmp_path / "m", ModelRecord(config_name="tiny", dataset_hash="x", parameters=1)
    )
    assert (tmp_path / "m" / "model.safetensors").is_file()
    reloaded, reloaded_processor, record = load_model(tmp_path / "m")
    assert record.config_name == "tiny"
    assert reloaded_processor.tokenizer.encode("MRN-12345678") == processor.tokenizer.encode("MRN-12345678")
    before = generate_answers(model, processor, examples[:6], max_new_tokens=8)
    after = generate_answers(reloaded, reloaded_processor, examples[:6], max_new_tokens=8)
    assert before == after


def _weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_same_seed_same_weights_and_training_lowers_the_loss(synthetic_mini_dir: Path, tiny) -> None:
    _, _, examples = tiny
    runs = []
    for _ in range(2):
        model, processor = new_model("tiny", synthetic_mini_dir, seed=3)
        encoder = Encoder(processor)
        history = train(
            model,
            [encoder.encode(e) for e in examples[:48]],
            processor.tokenizer.pad_token_id,
            FAST.model_copy(update={"seed": 3}),
        )
        runs.append((_weights(model), history))
    (first, history), (second, _) = runs
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert history[-1]["loss"] < history[0]["loss"]


class Interrupted(Exception):
    pass


def test_resume_from_checkpoint_equals_an_uninterrupted_run(
    synthetic_mini_dir: Path, tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _, examples = tiny
    config = FAST.model_copy(update={"epochs": 3})

    def fresh():
        model, processor = new_model("tiny", synthetic_mini_dir, seed=0)
        encoder = Encoder(processor)
        return model, [encoder.encode(e) for e in examples[:40]], processor.tokenizer.pad_token_id

    model, encoded, pad = fresh()
    train(model, encoded, pad, config)
    uninterrupted = _weights(model)

    # a run of the same recipe interrupted once its first epoch's checkpoint is written ...
    save = training.save_checkpoint

    def save_then_stop(*args, **kwargs) -> None:
        save(*args, **kwargs)
        raise Interrupted

    monkeypatch.setattr(training, "save_checkpoint", save_then_stop)
    model, encoded, pad = fresh()
    with pytest.raises(Interrupted):
        train(model, encoded, pad, config, LoopSetup(checkpoint_root=tmp_path / "full"))
    monkeypatch.setattr(training, "save_checkpoint", save)
    # ... then resumed by a fresh process: bit for bit the uninterrupted run
    model, encoded, pad = fresh()
    setup = LoopSetup(checkpoint_root=tmp_path / "full", resume=True)
    history = train(model, encoded, pad, config, setup)
    assert [h["epoch"] for h in history] == [0, 1, 2]
    resumed = _weights(model)
    assert all(torch.equal(uninterrupted[k], resumed[k]) for k in uninterrupted)


def test_bf16_training_autocasts_and_keeps_fp32_master_weights(synthetic_mini_dir: Path, tiny) -> None:
    _, _, examples = tiny
    histories = {}
    for precision in ("fp32", "bf16"):
        model, processor = new_model("tiny", synthetic_mini_dir, seed=0)
        encoded = [Encoder(processor).encode(e) for e in examples[:16]]
        config = FAST.model_copy(update={"epochs": 1, "precision": precision})
        histories[precision] = train(model, encoded, processor.tokenizer.pad_token_id, config)
        assert all(p.dtype == torch.float32 for p in model.parameters())
    fp32_loss, bf16_loss = histories["fp32"][0]["loss"], histories["bf16"][0]["loss"]
    # the same batches in bf16 arithmetic: close (bf16 keeps ~3 significant digits) but not identical
    assert bf16_loss != fp32_loss and abs(bf16_loss - fp32_loss) < 0.05 * fp32_loss


def test_a_diverged_loss_stops_training_and_saves_no_model(
    synthetic_mini_dir: Path, tmp_path: Path, tiny
) -> None:
    model, processor, _ = tiny
    broken = copy.deepcopy(model)
    with torch.no_grad():
        broken.lm_head.weight.fill_(float("nan"))  # tied to the embedding: every logit is NaN
    save_model(
        broken, processor, tmp_path / "nan", ModelRecord(config_name="tiny", dataset_hash="x", parameters=1)
    )
    with pytest.raises(MedForgetError, match="training diverged: loss nan at epoch 0, step 0"):
        nan = tmp_path / "nan"
        options = RecipeOptions(epochs=2, batch_size=8, lr=3e-3, lora_rank=0)
        finetune(synthetic_mini_dir, tmp_path / "out", resolve_recipe(nan, options, checkpoint_hash(nan)))
    assert not (tmp_path / "out" / "config.json").exists()


def test_lora_on_a_checkpoint_changes_weights_and_saves_a_plain_model(
    synthetic_mini_dir: Path, tmp_path: Path, tiny
) -> None:
    model, processor, _ = tiny
    base = tmp_path / "base"
    save_model(model, processor, base, ModelRecord(config_name="tiny", dataset_hash="x", parameters=1))
    options = RecipeOptions(epochs=1, batch_size=16, lr=5e-3, lora_rank=4)
    record = finetune(
        synthetic_mini_dir, tmp_path / "lora", resolve_recipe(base, options, checkpoint_hash(base))
    )
    assert record.config_name == "base+lora" and record.recipe.finetune.lora.rank == 4
    tuned, _, _ = load_model(tmp_path / "lora")
    original, _, _ = load_model(base)
    names = [n for n, _ in tuned.named_parameters()]
    assert names == [n for n, _ in original.named_parameters()]  # merged: no adapter modules remain
    changed = {
        n
        for (n, a), (_, b) in zip(tuned.named_parameters(), original.named_parameters(), strict=True)
        if not torch.equal(a, b)
    }
    assert changed and all(
        any(t in n for t in ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"))
        for n in changed
    )


def test_cli_finetune_oracle_and_generate_a_valid_submission(
    synthetic_mini_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "oracle"
    assert (
        main(
            [
                "finetune",
                "--dataset",
                str(synthetic_mini_dir),
                "--config",
                "tiny",
                "--out",
                str(out),
                "--oracle-level",
                "patient",
                "--epochs",
                "1",
                "--batch-size",
                "32",
            ]
        )
        == 0
    )
    _, _, record = load_model(out)
    forget = len(read_examples(synthetic_mini_dir, "patient", "forget"))
    assert record.recipe.train_items == len(read_examples(synthetic_mini_dir, "train", "train")) - forget
    submission = tmp_path / "sub.jsonl"
    assert (
        main(
            [
                "generate",
                "--dataset",
                str(synthetic_mini_dir),
                "--model",
                str(out),
                "--level",
                "patient",
                "--out",
                str(submission),
                "--max-new-tokens",
                "4",
                "--method",
                "oracle",
            ]
        )
        == 0
    )
    parsed = read_submission(submission)
    assert parsed.metadata.method == "oracle" and parsed.metadata.level == "patient"
    assert (
        main(
            [
                "score",
                str(submission),
                "--level",
                "patient",
                "--dataset",
                str(synthetic_mini_dir),
                "--out",
                str(tmp_path / "r.json"),
            ]
        )
        == 0
    )


def test_a_run_trains_its_models_in_two_cpu_processes_with_accelerate(
    synthetic_mini_dir: Path, tmp_path: Path
) -> None:
    """`training_processes=2`: vanilla is one step of the run, trained by two gloo processes under
    torchrun (each on its share of every epoch's batches); the main process saves it, in the run's
    layout, and the models' key says so (a one-process model is not taken for it)."""
    from medforget_data.pipeline.config import RunConfig
    from medforget_data.pipeline.runner import BenchmarkRun

    config = RunConfig(model="tiny", levels=("patient",), methods=("ga",), epochs=1, training_processes=2)
    run = BenchmarkRun(config, synthetic_mini_dir, tmp_path / "run")
    folder = run.trained_model(None)
    _, _, record = load_model(folder)
    assert record.recipe.processes == 2 and len(record.history) == 1
    assert record.recipe.mode == "vanilla" and not (folder / "checkpoint").exists()
    one_process = BenchmarkRun(
        config.model_copy(update={"training_processes": 1}), synthetic_mini_dir, tmp_path / "r1"
    )
    assert (
        run.model_key(None).payload["processes"] == 2
        and "processes" not in one_process.model_key(None).payload
    )
    assert run.model_key(None).key != one_process.model_key(None).key
