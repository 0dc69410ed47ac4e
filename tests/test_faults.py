"""Defects from the fault sweep (issue 20): damaged checkpoints, lock races, tampering, NaN, …"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from medforget_data.cli import main
from medforget_data.errors import MedForgetError

CLI = "import sys; from medforget_data.cli import main; sys.exit(main(sys.argv[1:]))"


def run_cli(*args: str, cwd: Path | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", CLI, *args], capture_output=True, text=True, cwd=cwd, timeout=600, **kwargs
    )


# ----- 1: a damaged checkpoint is reported and discarded, never a crash


@pytest.fixture(scope="module")
def tiny_training(synthetic_mini_dir: Path):
    from medforget_data.dataset.examples import read_examples
    from medforget_data.models.batches import Encoder
    from medforget_data.models.build import new_model
    from medforget_data.models.recipe import RecipeOptions, resolve_recipe

    examples = read_examples(synthetic_mini_dir, "train", "train")[:16]
    config = resolve_recipe(
        "tiny", RecipeOptions(epochs=2, batch_size=8, lr=3e-3, vision_pretrain_epochs=0)
    ).train

    def fresh():
        model, processor = new_model("tiny", synthetic_mini_dir, seed=0)
        encoder = Encoder(processor)
        return model, [encoder.encode(e) for e in examples], processor.tokenizer.pad_token_id

    return fresh, config


class _Stop(Exception):
    pass


def _train_one_epoch(model, encoded, pad, config, root: Path) -> None:
    """Train until the first epoch's checkpoint is saved, then stop (an interrupted run)."""
    from medforget_data.models import train as training

    save = training.save_checkpoint

    def save_then_stop(*args, **kwargs) -> None:
        save(*args, **kwargs)
        raise _Stop

    training.save_checkpoint = save_then_stop
    try:
        training.train(model, encoded, pad, config, training.LoopSetup(checkpoint_root=root))
    except _Stop:
        pass
    finally:
        training.save_checkpoint = save


def _checkpoint_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / "checkpoint").rglob("*") if p.is_file())


@pytest.mark.parametrize("cut", ["empty", "half", "missing"])
def test_a_damaged_checkpoint_file_restarts_training_with_a_warning(
    tiny_training, tmp_path: Path, cut: str, capfd: pytest.CaptureFixture[str]
) -> None:
    from medforget_data.models.train import LoopSetup, train

    fresh, config = tiny_training
    root = tmp_path / "model"
    model, encoded, pad = fresh()
    _train_one_epoch(model, encoded, pad, config, root)
    files = _checkpoint_files(root)
    assert sorted(p.name for p in files) == ["meta.json", "model.safetensors", "trainer_state.pt"]
    pristine = {p: p.read_bytes() for p in files}
    for damaged in files:  # every file of the checkpoint in turn
        shutil.rmtree(root / "checkpoint")
        for path, data in pristine.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        if cut == "missing":
            damaged.unlink()
        else:
            damaged.write_bytes(b"" if cut == "empty" else pristine[damaged][: len(pristine[damaged]) // 2])
        capfd.readouterr()
        model, encoded, pad = fresh()
        history = train(model, encoded, pad, config, LoopSetup(checkpoint_root=root, resume=True))
        assert [h["epoch"] for h in history] == [0, 1], damaged.name  # restarted from scratch
        assert "is damaged" in capfd.readouterr().err
        assert [p.parent.name for p in _checkpoint_files(root)] == ["epoch-000001"] * 3


def test_a_kill_between_checkpoint_saves_leaves_the_previous_one_resumable(
    tiny_training, tmp_path: Path
) -> None:
    """The states a kill can leave mid-save: a staging slot cut after each file, beside the old slot."""
    import torch

    from medforget_data.models.train import LoopSetup, train

    fresh, config = tiny_training
    config = config.model_copy(update={"epochs": 3})
    root = tmp_path / "model"
    model, encoded, pad = fresh()
    _train_one_epoch(model, encoded, pad, config, root)
    old = {p.name: p.read_bytes() for p in _checkpoint_files(root)}
    saved_first = torch.load(root / "checkpoint" / "epoch-000000" / "trainer_state.pt")["history"][0]
    order = ("model.safetensors", "trainer_state.pt", "meta.json")  # the order a save writes them
    for written in range(1, len(order) + 1):
        shutil.rmtree(root / "checkpoint")
        (root / "checkpoint" / "epoch-000000").mkdir(parents=True)
        for name, data in old.items():
            (root / "checkpoint" / "epoch-000000" / name).write_bytes(data)
        staging = root / "checkpoint" / ".staging-000001"
        staging.mkdir()
        for name in order[:written]:
            (staging / name).write_bytes(old[name][: len(old[name]) // 2])
        model, encoded, pad = fresh()
        history = train(model, encoded, pad, config, LoopSetup(checkpoint_root=root, resume=True))
        assert [h["epoch"] for h in history] == [0, 1, 2]
        assert history[0] == saved_first  # resumed after epoch 0, not retrained
        assert not staging.exists()


TRAIN_SCRIPT = """
import sys
from pathlib import Path
from medforget_data.models.batches import Encoder
from medforget_data.models.build import new_model
from medforget_data.dataset.examples import read_examples
from medforget_data.models.recipe import RecipeOptions, resolve_recipe
from medforget_data.models.train import LoopSetup, train
dataset, root, epochs = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
model, processor = new_model("tiny", dataset, seed=0)
encoder = Encoder(processor)
encoded = [encoder.encode(e) for e in read_examples(dataset, "train", "train")[:16]]
options = RecipeOptions(epochs=epochs, batch_size=8, lr=3e-3, vision_pretrain_epochs=0)
config = resolve_recipe("tiny", options).train
history = train(model, encoded, processor.tokenizer.pad_token_id, config,
                LoopSetup(checkpoint_root=root, resume=True))
print(",".join(str(h["epoch"]) for h in history))
"""


def test_training_killed_repeatedly_mid_save_always_resumes(synthetic_mini_dir: Path, tmp_path: Path) -> None:
    """SIGKILL a training process as soon as each new epoch's slot appears (mid-save or just after)."""
    import signal
    import time

    root, epochs = tmp_path / "model", 8
    command = [sys.executable, "-c", TRAIN_SCRIPT, str(synthetic_mini_dir), str(root), str(epochs)]
    seen: set[str] = set()
    for delay in (0.0, 0.002, 0.01, 0.05):
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 300
        while process.poll() is None and time.monotonic() < deadline:
            entries = {p.name for p in (root / "checkpoint").glob("*")} - seen
            if entries:  # a staging or a new slot just appeared: kill around its save
                time.sleep(delay)
                process.send_signal(signal.SIGKILL)
                seen |= entries
                break
            time.sleep(0.001)
        process.wait()
    finished = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == ",".join(str(e) for e in range(epochs))  # a whole history
    assert "Traceback" not in finished.stderr


# ----- 2: a stale lock is no race: of N processes started together exactly one runs

LOCK_SCRIPT = """
import sys, time
from pathlib import Path
from medforget_data.errors import MedForgetError
from medforget_data.pipeline.state import run_lock
folder, go = Path(sys.argv[1]), Path(sys.argv[2])
while not go.exists():  # a busy wait: all start within microseconds of each other
    pass
try:
    with run_lock(folder):
        print("ran", flush=True)
        time.sleep(1.0)  # held while the others try
except MedForgetError as error:
    print(f"refused: {error}", flush=True)
"""


def test_processes_started_together_on_a_stale_lock_exactly_one_runs(tmp_path: Path) -> None:
    processes = 4  # the pid-file lock let two or three of four run in some trials
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    for trial in range(12):
        folder, go = tmp_path / f"run{trial}", tmp_path / f"go{trial}"
        folder.mkdir()
        (folder / "run.lock").write_text(dead.stdout.decode().strip())  # left by a killed run
        started = [
            subprocess.Popen(
                [sys.executable, "-c", LOCK_SCRIPT, str(folder), str(go)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(processes)
        ]
        go.touch()
        outcomes = [p.communicate(timeout=120) for p in started]
        assert all(p.returncode == 0 for p in started), [err for _, err in outcomes]
        ran = [out for out, _ in outcomes if out.startswith("ran")]
        assert len(ran) == 1, outcomes
        assert all("is in use by another medforget run" in out for out, _ in outcomes if out not in ran)
        assert not (folder / "run.lock").exists()  # released


# ----- 3: damaged inputs are one line


def test_damaged_model_folder_and_parquet_are_one_line(
    synthetic_mini_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from medforget_data.models.build import ModelRecord, new_model, save_model

    model, processor = new_model("tiny", synthetic_mini_dir, seed=0)
    folder = tmp_path / "model"
    record = ModelRecord(config_name="tiny", dataset_hash="x", parameters=1, recipe={"mode": "vanilla"})
    save_model(model, processor, folder, record)
    capsys.readouterr()  # the save's progress bar
    weights = (folder / "model.safetensors").read_bytes()
    generate = [
        "generate",
        "--dataset",
        str(synthetic_mini_dir),
        "--model",
        str(folder),
        "--level",
        "patient",
    ]
    for damage in ("truncated", "config"):
        if damage == "truncated":
            (folder / "model.safetensors").write_bytes(weights[: len(weights) // 3])
        else:
            (folder / "model.safetensors").write_bytes(weights)
            (folder / "config.json").write_text("{not json", encoding="utf-8")
        assert main([*generate, "--out", str(tmp_path / "s.jsonl")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "damaged model folder" in err, err
    assert not (tmp_path / "s.jsonl").exists()

    dataset = tmp_path / "dataset"
    shutil.copytree(synthetic_mini_dir, dataset)
    from medforget_data.dataset.load import split_path

    split_path(dataset, "patient", "forget").write_bytes(b"PAR1 truncated")
    for args in (["info", str(dataset)], ["export", str(dataset), str(tmp_path / "out")]):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "not a readable parquet file" in err, err
    assert not (tmp_path / "out").exists()


def test_a_cuda_device_without_a_gpu_is_one_line() -> None:
    import torch

    from medforget_data.models.device import check_device

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(MedForgetError, match="no CUDA GPU"):
        check_device("cuda")
    assert check_device("cpu") == "cpu"


# ----- 4: verify catches tampering; the push check re-derives the licence from the source


def _reseal(folder: Path) -> None:
    """What a careful tamperer does: recompute every file hash, the dataset hash and the content hash."""
    from medforget_data.dataset.manifest import MANIFEST_FILE, Manifest, read_manifest
    from medforget_data.io import sha256_file, write_json

    manifest = read_manifest(folder)
    files = {
        p.relative_to(folder).as_posix(): sha256_file(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MANIFEST_FILE
    }
    resealed = manifest.model_copy(
        update={"files": files, "dataset_hash": Manifest.hash_files(files)}
    ).sealed()
    write_json(folder / MANIFEST_FILE, resealed.model_dump(mode="json"))


def _edit_manifest(folder: Path, **changes) -> None:
    from medforget_data.dataset.manifest import MANIFEST_FILE

    path = folder / MANIFEST_FILE
    data = json.loads(path.read_text(encoding="utf-8"))
    data.update(changes)
    path.write_text(json.dumps(data), encoding="utf-8")


def test_verify_catches_edited_manifest_fields_and_a_forget_row_in_the_holdout(
    openi_mini_dir: Path, tmp_path: Path
) -> None:
    import pyarrow.parquet as pq

    from medforget_data.builders import check_push_allowed
    from medforget_data.dataset.invariants import verify_folder
    from medforget_data.dataset.load import split_path
    from medforget_data.dataset.manifest import read_manifest

    assert verify_folder(openi_mini_dir) == []
    counts = read_manifest(openi_mini_dir).counts

    edited = tmp_path / "counts"
    shutil.copytree(openi_mini_dir, edited)
    _edit_manifest(edited, counts={**counts, "train": {**counts["train"], "train": 1}})
    assert any("content" in p for p in verify_folder(edited))
    _reseal(edited)  # even with the content hash recomputed, the rows do not match the counts
    assert any("manifest says 1" in p for p in verify_folder(edited))

    opened = tmp_path / "push"
    shutil.copytree(openi_mini_dir, opened)
    _edit_manifest(opened, public_push_allowed=True)
    _reseal(opened)
    assert any("licence fields differ" in p for p in verify_folder(opened))
    with pytest.raises(MedForgetError):
        check_push_allowed(opened, private=False, allow_restricted=False)

    leaked = tmp_path / "holdout"
    shutil.copytree(openi_mini_dir, leaked)
    holdout, forget = split_path(leaked, "patient", "holdout"), split_path(leaked, "patient", "forget")
    import pyarrow as pa

    table = pa.concat_tables([pq.read_table(holdout), pq.read_table(forget).slice(0, 1)])
    pq.write_table(table, holdout)
    _edit_manifest(leaked, counts={**counts, "patient": {**counts["patient"], "holdout": table.num_rows}})
    _reseal(leaked)
    assert verify_folder(leaked) == ["patient/holdout differs from train/holdout"]


# ----- 5: an endpoint that accepts connections and never answers


def test_a_silent_llm_endpoint_stops_at_the_deadline_with_one_line(tmp_path: Path) -> None:
    import socket

    from medforget_data.scoring.judge_llm import LLMJudge, LLMJudgeConfig

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)  # the kernel completes connections; nobody ever reads or answers
    try:
        config = LLMJudgeConfig(
            base_url=f"http://127.0.0.1:{silent.getsockname()[1]}/v1",
            model="m",
            api_key="k",
            cache_dir=tmp_path,
            timeout_seconds=0.3,
            deadline_seconds=0.5,
            backoff_seconds=0.01,
            concurrency=4,
        )
        judge = LLMJudge(config)
        with pytest.raises(MedForgetError, match="deadline"):
            judge.prefetch([(f"q{i}", "p", "r", "f") for i in range(20)])
        # at most two tries per item fit the deadline, and only the first wave of items is asked:
        # without a deadline, 5 tries × 5 items (25 requests) went out before giving up
        assert judge.requests <= 2 * config.concurrency
    finally:
        silent.close()


# ----- 6: every config field has its range


@pytest.mark.parametrize(
    ("method", "overrides"),
    [
        ("ga", {"epochs": -1}),
        ("ga", {"lr": float("nan")}),
        ("npo", {"beta": 0}),
        ("chip", {"tau": 2}),
        ("chip", {"top_fraction": 5}),
        ("forget_mi", {"noise_std": -1}),
        ("oracle", {"epochs": 0}),
    ],
)
def test_out_of_range_method_settings_are_refused(method: str, overrides: dict) -> None:
    from medforget_data.methods import make_config

    with pytest.raises(MedForgetError, match=f"{method} config {next(iter(overrides))}"):
        make_config(method, overrides)


def test_out_of_range_training_and_run_settings_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    from pydantic import ValidationError

    from medforget_data.models.recipe import RecipeOptions, resolve_recipe
    from medforget_data.models.train import TrainConfig
    from medforget_data.pipeline.config import RunConfig

    valid = resolve_recipe("tiny", RecipeOptions()).train.model_dump()
    for bad in ({"epochs": -1}, {"lr": float("nan")}, {"batch_size": 0}, {"warmup_fraction": 2}):
        with pytest.raises(ValidationError):
            TrainConfig(**{**valid, **bad})
    for bad in ({"epochs": 0}, {"ray_gpus": 0}, {"max_new_tokens": 0}, {"executor": "dask"}):
        with pytest.raises(ValidationError):
            RunConfig(**bad)
    assert main(["unlearn", "--method", "ga", "--level", "patient", "--model", "m", "--out", "o",
                 "--set", "epochs=-1"]) == 2  # fmt: skip
    assert "ga config epochs: Input should be greater than or equal to 1" in capsys.readouterr().err


# ----- 7: generate records the model's method, refuses an existing --out and a foreign dataset


def test_generate_labels_from_the_model_record_and_unlearning_keeps_the_chain(
    synthetic_mini_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from medforget_data.dataset.manifest import read_manifest
    from medforget_data.methods.apply import apply_method
    from medforget_data.models.build import ModelRecord, UnlearnRecipe, new_model, save_model
    from medforget_data.scoring.submission import read_submission

    model, processor = new_model("tiny", synthetic_mini_dir, seed=0)
    record = ModelRecord(
        config_name="tiny",
        dataset_hash=read_manifest(synthetic_mini_dir).dataset_hash,
        parameters=1,
        recipe={"mode": "vanilla"},
    )
    once = apply_method("vanilla", model, processor, record, synthetic_mini_dir, "patient")
    twice = apply_method("vanilla", model, processor, once.record, synthetic_mini_dir, "study")
    assert [step.model_dump() for step in twice.record.recipe.unlearn_chain] == [
        {"method": "vanilla", "level": "patient"},
        {"method": "vanilla", "level": "study"},
    ]
    ga_step = UnlearnRecipe(method="ga", level="study")
    unlearned = twice.record.model_copy(
        update={"recipe": twice.record.recipe.model_copy(update={"unlearn": ga_step})}
    )
    folder = tmp_path / "model"
    save_model(model, processor, folder, unlearned)
    out = tmp_path / "sub.jsonl"
    args = ["generate", "--dataset", str(synthetic_mini_dir), "--model", str(folder), "--level", "study"]
    args += ["--out", str(out), "--max-new-tokens", "2"]
    assert main(args) == 0
    capsys.readouterr()
    assert read_submission(out).metadata.method == "ga"  # not "vanilla"
    before = out.read_bytes()
    assert main(args) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert out.read_bytes() == before
    assert main([*args, "--overwrite", "--method", "chip"]) == 2
    assert "records a 'ga' model" in capsys.readouterr().err
    save_model(model, processor, folder, unlearned.model_copy(update={"dataset_hash": "another"}))
    assert main([*args, "--overwrite"]) == 2
    assert "trained on another dataset" in capsys.readouterr().err


# ----- 8: a killed build's staging folder is removed by the next build of the same target


def test_a_killed_builds_staging_folder_is_cleaned_by_the_next(tmp_path: Path) -> None:
    import signal
    import time

    from medforget_data.io import atomic_folder

    out = tmp_path / "X"
    process = subprocess.Popen(
        [sys.executable, "-c", CLI, "build", "--source", "synthetic", "--size", "mini", "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 600
    while not list(tmp_path.glob(".X.*")):
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    stale = list(tmp_path.glob(".X.*"))
    assert stale and not out.exists()
    other = tmp_path / f".X.{os.getpid()}.abcdefgh"  # a live build of the same target: kept
    unrelated = tmp_path / ".X.v2.abcdefgh"  # the staging of a target named "X.v2": kept
    other.mkdir()
    unrelated.mkdir()
    with atomic_folder(out) as staging:
        (staging / "f").write_text("x")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["X", other.name, unrelated.name])


# ----- 9: NaN is written as null


def _results(method: str = "ga", judge: str = "offline", contact: str = "c", mean: float = 0.5):
    from medforget_data.scoring.results import Results, SplitTaskScore, UtilityScore
    from medforget_data.scoring.submission import SubmissionMetadata

    score = SplitTaskScore(n=2, unscored=0, mean=mean, ci_low=mean, ci_high=mean)
    return Results(
        dataset_hash="h",
        level="patient",
        metadata=SubmissionMetadata(method=method, model="tiny", level="patient", seed=0, contact=contact),
        judge={"name": judge, "version": "1"},
        scores={"forget": {"cloze": score}, "retain": {"cloze": score}},
        gaps={"cloze": {"retain_minus_forget": mean - 0.5}},
        utility={"holdout": UtilityScore(score=0.0, reference=0.0, relative=math.nan)},
        unscored=0,
        items=[],
    )


def test_results_json_has_null_not_nan_and_reads_back(tmp_path: Path) -> None:
    from medforget_data.scoring.results import read_results, write_results

    results = _results(mean=math.nan)
    path = tmp_path / "r.json"
    write_results(path, results)

    def refuse(constant: str):
        raise ValueError(f"bare {constant} is not JSON")

    data = json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)  # strict, as Node's JSON.parse
    assert data["utility"]["holdout"]["relative"] is None
    assert data["scores"]["forget"]["cloze"]["mean"] is None
    back = read_results(path)
    assert math.isnan(back.utility["holdout"].relative) and math.isnan(back.scores["forget"]["cloze"].mean)


# ----- 10: the leaderboard keeps judges and same-named submissions apart


def test_leaderboard_keeps_judges_and_same_named_submissions_apart(tmp_path: Path) -> None:
    from medforget_data.leaderboard.rows import ranking, rows_of

    loaded = [
        _results("ga", "offline", "a", 0.9),
        _results("ga", "llm", "a", 0.6),
        _results("chip", "offline", "a", 0.8),
        _results("chip", "offline", "b", 0.7),
    ]
    labels = sorted(m for m, _, _ in ranking(rows_of(loaded)))
    assert labels == ["chip (tiny, seed 0, a)", "chip (tiny, seed 0, b)", "ga", "ga [judge llm]"]
    with pytest.raises(MedForgetError, match="two results for ga"):
        rows_of([_results("ga"), _results("ga")])


# ----- Ctrl-C (a real SIGINT) during build, finetune and run leaves a resumable state


def _interrupt_when(process: subprocess.Popen, ready) -> subprocess.CompletedProcess:
    import signal
    import time

    deadline = time.monotonic() + 900
    while not ready():
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.monotonic() < deadline
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=300)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def _restore_ctrl_c() -> None:
    # A suite started in the background by a non-interactive shell inherits SIGINT ignored, and Python
    # then installs no KeyboardInterrupt handler: the child gets the disposition a terminal gives.
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _popen(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CLI, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_restore_ctrl_c,
    )


def _assert_interrupted(done: subprocess.CompletedProcess) -> None:
    assert done.returncode == 130, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert done.stderr.rstrip().splitlines()[-1].split("\r")[-1] == "error: interrupted"


def test_ctrl_c_during_build_leaves_nothing_and_a_rerun_builds(tmp_path: Path) -> None:
    out = tmp_path / "X"
    build = ["build", "--source", "synthetic", "--size", "mini", "--out", str(out)]
    done = _interrupt_when(_popen(*build), lambda: bool(list(tmp_path.glob(".X.*"))))
    _assert_interrupted(done)
    assert list(tmp_path.iterdir()) == []  # neither the target nor its staging folder
    assert run_cli(*build).returncode == 0
    assert run_cli("verify", str(out)).returncode == 0


def test_ctrl_c_during_finetune_resumes_from_the_checkpoint(synthetic_mini_dir: Path, tmp_path: Path) -> None:
    from medforget_data.models.build import load_model

    out = tmp_path / "model"
    args = ["finetune", "--dataset", str(synthetic_mini_dir), "--config", "tiny", "--out", str(out)]
    args += ["--epochs", "4", "--batch-size", "16", "--vision-pretrain-epochs", "0"]
    done = _interrupt_when(_popen(*args), lambda: bool(list((out / "checkpoint").glob("epoch-*"))))
    _assert_interrupted(done)
    resumed = run_cli(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    _, _, record = load_model(out)
    assert [h["epoch"] for h in record.history] == [0, 1, 2, 3]


def test_ctrl_c_during_run_leaves_a_resumable_stage_and_a_free_lock(
    synthetic_mini_dir: Path, tmp_path: Path
) -> None:
    from medforget_data.models.train import checkpoint_exists
    from medforget_data.pipeline.config import RunConfig
    from medforget_data.pipeline.layout import RunLayout, Stage
    from medforget_data.pipeline.runner import BenchmarkRun
    from medforget_data.pipeline.state import RunState, run_lock

    out = tmp_path / "run"
    args = ["run", "--dataset", str(synthetic_mini_dir), "--model", "tiny", "--epochs", "3", "--levels"]
    args += ["patient", "--methods", "ga", "--max-new-tokens", "4", "--sweep", "none", "--out", str(out)]
    vanilla = out / "models" / "vanilla"
    done = _interrupt_when(_popen(*args), lambda: bool(list((vanilla / "checkpoint").glob("epoch-*"))))
    _assert_interrupted(done)
    assert RunState(RunLayout(out)).read(Stage.model(None)).done is False
    assert checkpoint_exists(vanilla)
    import torch

    slot = sorted((vanilla / "checkpoint").glob("epoch-*"))[-1]
    saved = torch.load(slot / "trainer_state.pt", weights_only=True)["history"]
    with run_lock(out):  # released by the interrupted run
        pass
    # the rerun's first stage continues that training from its checkpoint
    config = RunConfig(
        model="tiny", epochs=3, levels=("patient",), methods=("ga",), max_new_tokens=4, sweep="none"
    )
    run = BenchmarkRun(config, synthetic_mini_dir, out)
    run.trained_model(None)
    card = json.loads((vanilla / "medforget_model.json").read_text(encoding="utf-8"))
    assert [h["epoch"] for h in card["history"]] == [0, 1, 2]
    assert card["history"][: len(saved)] == saved  # the interrupted epochs were kept, not retrained
    assert RunState(RunLayout(out)).read(Stage.model(None)).done is True
