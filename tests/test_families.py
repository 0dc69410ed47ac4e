"""Your own model: Hub-layout Qwen2.5-VL and LLaVA checkpoints (tests/standin_checkpoints.py) through
loading, prompts, generation, LoRA fine-tuning, every method, scoring, attacks and `medforget run`."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from medforget_data.cli import main
from medforget_data.dataset.examples import read_examples
from medforget_data.methods import METHOD_NAMES, make_config
from medforget_data.methods.apply import apply_method
from medforget_data.models import finetune as finetune_module
from medforget_data.models.batches import IGNORE_INDEX, Encoder, collate
from medforget_data.models.build import MODEL_CARD_FILE, checkpoint_hash, load_model
from medforget_data.models.families import family_of_model
from medforget_data.models.finetune import finetune
from medforget_data.models.generate import generate_answers
from medforget_data.models.lora import LORA_TARGETS
from medforget_data.models.losses import answer_logits
from medforget_data.models.recipe import RecipeOptions, resolve_recipe
from medforget_data.models.vision_cache import multimodal_core, vision_cache
from tests.standin_checkpoints import llava_checkpoint, qwen2_5_vl_checkpoint

BUILDERS = {"qwen2_5_vl": qwen2_5_vl_checkpoint, "llava": llava_checkpoint}
TRAIN_ITEMS = 24  # fine-tuning sees this many train items (plus nothing else): the machine has 2 cores
LEVEL = "section"  # the smallest forget split of the mini build


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def checkpoint(request, synthetic_mini_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("checkpoints") / request.param
    return BUILDERS[request.param](folder, synthetic_mini_dir)


@pytest.fixture()
def few_train_items(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fine-tuning (vanilla and oracle alike) on the first items of what it would train on."""
    original = finetune_module.training_examples
    monkeypatch.setattr(
        finetune_module,
        "training_examples",
        lambda dataset_dir, oracle_level=None, pretraining=False: original(
            dataset_dir, oracle_level, pretraining
        )[:TRAIN_ITEMS],
    )


def _stored(folder: Path) -> dict[str, torch.Tensor]:
    """Every tensor of a (possibly sharded) safetensors checkpoint, as stored."""
    tensors = {}
    for path in sorted(folder.glob("*.safetensors")):
        with safe_open(str(path), "pt") as handle:
            tensors.update({key: handle.get_tensor(key) for key in handle.keys()})  # noqa: SIM118
    return tensors


def test_checkpoint_is_in_the_hubs_layout(checkpoint: Path) -> None:
    assert len(list(checkpoint.glob("model-*-of-*.safetensors"))) >= 2
    assert (checkpoint / "model.safetensors.index.json").is_file()
    assert not (checkpoint / MODEL_CARD_FILE).exists()
    assert {t.dtype for t in _stored(checkpoint).values()} == {torch.bfloat16}


def test_any_checkpoint_loads_in_the_asked_precision(checkpoint: Path) -> None:
    model, _, record = load_model(checkpoint)  # fp32 by default: bf16 storage upcast
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    assert record.dataset_hash == "" and record.recipe.model_type == family_of_model(model).model_type
    assert record.recipe.checkpoint == str(checkpoint.resolve())
    half, _, _ = load_model(checkpoint, dtype=torch.bfloat16)
    assert {p.dtype for p in half.parameters()} == {torch.bfloat16}
    # the fp32 weights are the stored bf16 values exactly (saving renames keys: compare the two loads)
    stored = half.state_dict()
    assert all(torch.equal(value, stored[name].float()) for name, value in model.state_dict().items())
    assert sum(t.numel() for t in _stored(checkpoint).values()) == sum(t.numel() for t in stored.values())


def test_prompt_expansion_and_labels_match_the_checkpoints_own_processor(
    checkpoint: Path, synthetic_mini_dir: Path
) -> None:
    _, processor, _ = load_model(checkpoint)
    example = read_examples(synthetic_mini_dir, "train", "train")[0]
    encoder = Encoder(processor)
    encoded = encoder.encode(example)
    # the processor's own expansion of the chat-templated prompt gives the same prompt ids
    messages = [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": example.item.question}]}
    ]
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    own = processor(images=[example.image], text=[text], return_tensors="pt")["input_ids"][0].tolist()
    prompt_length = encoded.labels.index(next(x for x in encoded.labels if x != IGNORE_INDEX))
    assert encoded.input_ids[:prompt_length] == own
    # labels: the answer, then the family's end-of-answer token
    answer = processor.tokenizer.decode([x for x in encoded.labels if x != IGNORE_INDEX])
    end = "<|im_end|>" if "qwen" in checkpoint.name else "</s>"
    assert answer.strip() == example.item.answer + end


def test_generation_is_plain_greedy_whatever_the_checkpoints_generation_config(
    checkpoint: Path, synthetic_mini_dir: Path
) -> None:
    model, processor, _ = load_model(checkpoint)
    examples = read_examples(synthetic_mini_dir, "train", "train")[:2]
    answers = generate_answers(model, processor, examples, max_new_tokens=6)
    encoder = Encoder(processor)
    ends = set(encoder.family.end_token_ids(processor.tokenizer))
    for example in examples:  # argmax of the full forward, token by token, no cache, no penalties
        encoded = encoder.encode(example, with_answer=False)
        ids, new = list(encoded.input_ids), []
        for _ in range(6):
            with torch.no_grad():
                logits = model(input_ids=torch.tensor([ids]), **encoded.image).logits[0, -1]
            token = int(logits.argmax())
            if token in ends:
                break
            ids.append(token)
            new.append(token)
        assert answers[example.item.id] == processor.tokenizer.decode(new, skip_special_tokens=True).strip()


def test_the_vision_cache_keys_on_the_familys_image_inputs_and_leaves_llava_alone(
    checkpoint: Path, synthetic_mini_dir: Path
) -> None:
    model, processor, _ = load_model(checkpoint)  # weights that require gradients, as loaded
    examples = read_examples(synthetic_mini_dir, "patient", "forget")[:6]
    encoder = Encoder(processor)
    batch = collate([encoder.encode(e) for e in examples], encoder.pad_id)
    family = family_of_model(model)
    core = multimodal_core(model)
    calls: list[dict] = []
    original = type(core).get_image_features

    @functools.wraps(original)  # the method's signature, which the cache binds its arguments to
    def counting(self, *args, **kwargs):
        calls.append(kwargs)
        return original(self, *args, **kwargs)

    with torch.no_grad():
        plain = answer_logits(model, batch, "cpu").logits
        type(core).get_image_features = counting
        try:
            with vision_cache(model):
                patched = "get_image_features" in core.__dict__
                first = answer_logits(model, batch, "cpu").logits
                second = answer_logits(model, batch, "cpu").logits
        finally:
            type(core).get_image_features = original
    assert torch.equal(first, plain) and torch.equal(second, plain)
    if family.model_type == "llava":  # no cacheable image inputs: the tower runs in every forward
        assert not family.cached_image_inputs and not patched and len(calls) == 2
        return
    # Qwen2.5-VL: keyed by each image's pixel rows and grid row; each distinct image computed once
    assert family.cached_image_inputs == ("pixel_values", "image_grid_thw") and patched
    studies = len({e.item.study_id for e in examples})
    assert len(calls) == 1 and len(calls[0]["image_grid_thw"]) == studies
    images = family.split_images({name: batch[name] for name in family.cached_image_inputs})
    assert len(images) == len(examples)
    assert all(
        torch.equal(image["pixel_values"], e.image["pixel_values"])
        for image, e in zip(images, [encoder.encode(x) for x in examples], strict=True)
    )


def test_an_unsupported_model_type_is_refused_in_one_line(
    checkpoint: Path, synthetic_mini_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "other"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "mllama"}), encoding="utf-8")
    args = [
        "generate",
        "--dataset",
        str(synthetic_mini_dir),
        "--model",
        str(folder),
        "--level",
        LEVEL,
        "--out",
        str(tmp_path / "s"),
    ]
    assert main(args) == 2
    error = capsys.readouterr().err.strip()
    assert error == "error: unsupported model_type 'mllama'; supported: llava, qwen2_5_vl"


def test_saved_folders_load_with_transformers_auto_classes(checkpoint: Path, tmp_path: Path) -> None:
    from transformers import AutoImageProcessor, AutoModelForImageTextToText, AutoProcessor, AutoTokenizer

    from medforget_data.models.build import ModelRecord, save_model

    model, processor, _ = load_model(checkpoint)
    save_model(
        model, processor, tmp_path / "saved", ModelRecord(config_name="x", dataset_hash="x", parameters=1)
    )
    auto = AutoModelForImageTextToText.from_pretrained(tmp_path / "saved")
    assert type(auto) is type(model)
    saved = model.state_dict()
    assert all(torch.equal(value, saved[name]) for name, value in auto.state_dict().items())
    declared = json.loads((tmp_path / "saved" / "processor_config.json").read_text())["processor_class"]
    assert declared == {"qwen2_5_vl": "Qwen2_5_VLProcessor", "llava": "LlavaProcessor"}[checkpoint.name]
    assert AutoTokenizer.from_pretrained(tmp_path / "saved").encode("MRN 42") == processor.tokenizer.encode(
        "MRN 42"
    )
    assert type(AutoImageProcessor.from_pretrained(tmp_path / "saved")) is type(processor.image_processor)
    try:
        import torchvision  # noqa: F401  (Qwen2_5_VLProcessor's video half needs it)
    except ImportError:
        if checkpoint.name == "qwen2_5_vl":
            video = json.loads((tmp_path / "saved" / "video_preprocessor_config.json").read_text())
            assert video["video_processor_type"] == "Qwen2VLVideoProcessor"
            return
    assert type(AutoProcessor.from_pretrained(tmp_path / "saved")).__name__ == declared


def test_lora_finetune_adapts_the_language_model_only_and_every_method_runs(
    checkpoint: Path, synthetic_mini_dir: Path, tmp_path: Path, few_train_items: None
) -> None:
    vanilla_dir = tmp_path / "vanilla"
    options = RecipeOptions(epochs=1, batch_size=8, lora_rank=4)
    record = finetune(
        synthetic_mini_dir, vanilla_dir, resolve_recipe(checkpoint, options, checkpoint_hash(checkpoint))
    )
    recipe = record.recipe.finetune
    assert recipe.train.lr == 1e-4 and recipe.lora.alpha == 16  # the published recipe
    assert recipe.train.vision_pretrain_epochs == 0  # a checkpoint's tower is pretrained already
    assert recipe.model == str(checkpoint.resolve()) and recipe.checkpoint_hash == checkpoint_hash(checkpoint)
    vanilla, processor, vanilla_record = load_model(vanilla_dir)
    family = family_of_model(vanilla)
    stored = load_model(checkpoint)[0].state_dict()
    changed = {name for name, value in vanilla.state_dict().items() if not torch.equal(value, stored[name])}
    assert changed and all(family.part(name) == "language" for name in changed)
    # vision tower and projector bit for bit; only q/k/v/o/gate/up/down of the language layers moved
    assert all(name.split(".")[-2] in LORA_TARGETS for name in changed)

    overrides = {
        "oracle": {"epochs": 1},
        "chip": {"max_reference_samples": 8},
        **{
            m: {"epochs": 1, "batch_size": 8, "lora_rank": 2}
            for m in ("ga", "graddiff", "kl", "npo", "forget_mi")
        },
    }
    for method in METHOD_NAMES:
        model, _, _ = load_model(vanilla_dir)
        done = apply_method(
            method,
            model,
            processor,
            vanilla_record,
            synthetic_mini_dir,
            LEVEL,
            make_config(method, overrides.get(method)),
        )
        result = done.model
        assert type(result) is type(vanilla), method  # adapters merged back: a plain model
        for name, value in result.state_dict().items():
            if family.part(name) == "vision":
                assert torch.equal(value, vanilla.state_dict()[name]), (method, name)
        if method in ("ga", "npo"):
            assert any(
                not torch.equal(value, vanilla.state_dict()[name])
                for name, value in result.state_dict().items()
            )
        if method == "oracle":  # the same checkpoint and recipe, never another architecture
            config = {k: v for k, v in result.config.to_dict().items() if k != "_name_or_path"}
            assert config == {k: v for k, v in vanilla.config.to_dict().items() if k != "_name_or_path"}


def test_cli_generate_score_attack_on_a_fine_tuned_checkpoint(
    checkpoint: Path, synthetic_mini_dir: Path, tmp_path: Path, few_train_items: None
) -> None:
    common = ["--dataset", str(synthetic_mini_dir)]
    vanilla = tmp_path / "vanilla"
    assert (
        main(
            [
                "finetune",
                *common,
                "--model",
                str(checkpoint),
                "--lora-rank",
                "4",
                "--epochs",
                "1",
                "--out",
                str(vanilla),
            ]
        )
        == 0
    )
    unlearned = tmp_path / "ga"
    assert (
        main(
            [
                "unlearn",
                *common,
                "--method",
                "ga",
                "--level",
                LEVEL,
                "--model",
                str(vanilla),
                "--out",
                str(unlearned),
                "--set",
                "epochs=1",
                "lora_rank=2",
            ]
        )
        == 0
    )
    submission, results = tmp_path / "s.jsonl", tmp_path / "r.json"
    assert (
        main(
            [
                "generate",
                *common,
                "--model",
                str(unlearned),
                "--level",
                LEVEL,
                "--out",
                str(submission),
                "--max-new-tokens",
                "2",
                "--method",
                "ga",
            ]
        )
        == 0
    )
    assert main(["score", str(submission), "--level", LEVEL, *common, "--out", str(results)]) == 0
    assert (
        main(["attack", *common, "--model", str(unlearned), "--level", LEVEL, "--results", str(results)]) == 0
    )
    attacks = json.loads(results.read_text())["attacks"]["membership"]
    assert set(attacks["auc"]) and 0.0 <= attacks["auc"]["loss"] <= 1.0


def test_medforget_run_on_a_checkpoint_writes_a_leaderboard(
    checkpoint: Path, synthetic_mini_dir: Path, tmp_path: Path, few_train_items: None
) -> None:
    out = tmp_path / "run"
    args = [
        "run", "--dataset", str(synthetic_mini_dir), "--model", str(checkpoint), "--lora-rank", "4",
        "--levels", LEVEL, "--methods", "ga", "--epochs", "1", "--max-new-tokens", "2", "--sweep", "none",
        "--out", str(out),
    ]  # fmt: skip
    assert main(args) == 0
    board = (out / "leaderboard" / "leaderboard.md").read_text(encoding="utf-8")
    assert all(method in board for method in ("vanilla", "oracle", "ga"))
    key = json.loads((out / "state" / "model-vanilla.json").read_text())["key"]
    assert main(args) == 0  # everything keyed by the checkpoint's content: nothing is redone
    assert json.loads((out / "state" / "model-vanilla.json").read_text())["key"] == key


def test_a_checkpoints_oracle_retrains_the_same_checkpoint_and_adapters() -> None:
    from medforget_data.methods.simple import oracle_config_from_record
    from medforget_data.models.build import BaseCheckpoint, ModelRecord, Recipe

    options = RecipeOptions(lora_rank=4, precision="bf16", seed=7)
    tuned = resolve_recipe("/ckpt/q", options, checkpoint_hash="ab")
    record = ModelRecord(
        config_name="q+lora",
        dataset_hash="x",
        parameters=1,
        recipe=Recipe(mode="vanilla", finetune=tuned, base_model=BaseCheckpoint(model_type="qwen2_5_vl")),
    )
    oracle = oracle_config_from_record(make_config("oracle", {"seed": 1}), record).resolved()
    assert (oracle.model, oracle.checkpoint_hash, oracle.lora) == ("/ckpt/q", "ab", tuned.lora)
    assert oracle.lora.rank == 4 and oracle.lora.alpha == 16  # the published α
    assert oracle.train == tuned.train.model_copy(update={"seed": 1})  # the method's own seed
    assert (oracle.train.epochs, oracle.train.lr, oracle.train.vision_pretrain_epochs) == (10, 1e-4, 0)


def test_options_a_checkpoint_or_adapters_cannot_take_are_refused(
    checkpoint: Path, synthetic_mini_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from medforget_data.errors import MedForgetError

    with pytest.raises(MedForgetError, match="lora_rank adapts the language layers only"):
        make_config("npo", {"lora_rank": 2, "parameters": "language+merger"})
    with pytest.raises(MedForgetError, match="vision pretraining is for the project's own models"):
        resolve_recipe(
            checkpoint, RecipeOptions(lora_rank=2, vision_pretrain_epochs=5), checkpoint_hash(checkpoint)
        )
    with pytest.raises(MedForgetError, match="LoRA .* needs a checkpoint folder"):
        resolve_recipe("tiny", RecipeOptions(lora_rank=2))
    run = ["run", "--dataset", str(synthetic_mini_dir), "--model", "tiny", "--lora-rank", "4"]
    assert main([*run, "--out", str(tmp_path / "run")]) == 2
    assert "lora_rank needs a checkpoint folder" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "run").exists()
