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
    from medforget_data.models.batches import Encoder
    from medforget_data.models.build import new_model
    from medforget_data.models.examples import read_examples
    from medforget_data.models.train import TrainConfig

    examples = read_examples(synthetic_mini_dir, "train", "train")[:16]
    config = TrainConfig(epochs=2, batch_size=8, lr=3e-3, vision_pretrain_epochs=0)

    def fresh():
        model, processor = new_model("tiny", synthetic_mini_dir, seed=0)
        encoder = Encoder(processor)
        return model, [encoder.encode(e) for e in examples], processor.tokenizer.pad_token_id

    return fresh, config


def _checkpoint_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / "checkpoint").rglob("*") if p.is_file())


@pytest.mark.parametrize("cut", ["empty", "half", "missing"])
def test_a_damaged_checkpoint_file_restarts_training_with_a_warning(
    tiny_training, tmp_path: Path, cut: str, capfd: pytest.CaptureFixture[str]
) -> None:
    from medforget_data.models.train import train

    fresh, config = tiny_training
    root = tmp_path / "model"
    model, encoded, pad = fresh()
    train(model, encoded, pad, config, checkpoint_root=root, progress=False, stop_after_epochs=1)
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
        history = train(model, encoded, pad, config, checkpoint_root=root, resume=True, progress=False)
        assert [h["epoch"] for h in history] == [0, 1], damaged.name  # restarted from scratch
        assert "is damaged" in capfd.readouterr().err
        assert [p.parent.name for p in _checkpoint_files(root)] == ["epoch-000001"] * 3


def test_a_kill_between_checkpoint_saves_leaves_the_previous_one_resumable(
    tiny_training, tmp_path: Path
) -> None:
    """The states a kill can leave mid-save: a staging slot cut after each file, beside the old slot."""
    from medforget_data.models.train import train

    fresh, config = tiny_training
    config = config.model_copy(update={"epochs": 3})
    root = tmp_path / "model"
    model, encoded, pad = fresh()
    train(model, encoded, pad, config, checkpoint_root=root, progress=False, stop_after_epochs=1)
    old = {p.name: p.read_bytes() for p in _checkpoint_files(root)}
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
        history = train(
            model, encoded, pad, config, checkpoint_root=root, resume=True, progress=False, stop_after_epochs=1
        )
        assert [h["epoch"] for h in history] == [0, 1]  # resumed after epoch 0
        assert not staging.exists()


TRAIN_SCRIPT = """
import sys
from pathlib import Path
from medforget_data.models.batches import Encoder
from medforget_data.models.build import new_model
from medforget_data.models.examples import read_examples
from medforget_data.models.train import TrainConfig, train
dataset, root, epochs = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
model, processor = new_model("tiny", dataset, seed=0)
encoder = Encoder(processor)
encoded = [encoder.encode(e) for e in read_examples(dataset, "train", "train")[:16]]
config = TrainConfig(epochs=epochs, batch_size=8, lr=3e-3, vision_pretrain_epochs=0)
history = train(model, encoded, processor.tokenizer.pad_token_id, config, checkpoint_root=root,
                resume=True, progress=False)
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
