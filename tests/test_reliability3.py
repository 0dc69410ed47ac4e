"""Defects of issue 29 (reliability 3): no command destroys its own input, files get the umask's
modes, a full disk is one line with nothing left behind, broken tokenizers and templates, a
mismatched model type, a locked run and an open progress bar each leave one line on stderr, and a
resumed fine-tuning records what an uninterrupted one does."""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from medforget_data.cli import main

NO_SPACE = "No space left on device"


def snapshot(*roots: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under `roots` (or the file itself): its bytes and mtime, to compare before and after."""
    files = {}
    for root in roots:
        for path in [root] if root.is_file() else sorted(root.rglob("*")):
            if path.is_file():
                files[str(path)] = (path.read_bytes(), path.stat().st_mtime_ns)
    return files


def one_line(err: str) -> str:
    """The one error line; tqdm's cleared bar (carriage returns, no newline) may precede it."""
    assert err.count("\n") == 1 and err.endswith("\n"), err[-3000:]
    line = err.split("\r")[-1].rstrip("\n")
    assert line.startswith("error: "), err[-3000:]
    assert "Traceback" not in err
    return line


@pytest.fixture(scope="module")
def tiny_model(synthetic_mini_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained tiny model folder recorded as trained on the synthetic mini build."""
    from medforget_data.dataset.manifest import read_manifest
    from medforget_data.models.build import ModelRecord, new_model, save_model

    model, processor = new_model("tiny", synthetic_mini_dir, seed=0)
    record = ModelRecord(
        config_name="tiny",
        dataset_hash=read_manifest(synthetic_mini_dir).dataset_hash,
        parameters=sum(p.numel() for p in model.parameters()),
        recipe={"mode": "vanilla"},
    )
    folder = tmp_path_factory.mktemp("model") / "tiny"
    save_model(model, processor, folder, record)
    return folder


# ----- 1: an output that is, contains or lies inside an input is refused, --overwrite or not


def _filled(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "kept.json").write_text('{"kept": true}\n', encoding="utf-8")
    return folder


# (case id, arguments with {D} a dataset copy, {R} a results folder inside the run folder {RUN},
# {M} a model folder, {S} a submission, {C} the cache, {T} the test's folder; the output; its
# relation; the input the one line names)
OVERLAPS: list[tuple[str, str, str, str, str]] = [
    ("leaderboard-run", "leaderboard {R} --out {RUN} --overwrite", "{RUN}", "contains", "results folder {R}"),
    ("leaderboard-self", "leaderboard {R} --out {R} --overwrite", "{R}", "is", "results folder {R}"),
    (
        "leaderboard-inside", "leaderboard {R} --out {R}/board", "{R}/board", "lies inside",
        "results folder {R}",
    ),
    (  # {RUN}/link is a symbolic link to {R}
        "leaderboard-link", "leaderboard {R} --out {RUN}/link --overwrite", "{RUN}/link", "is",
        "results folder {R}",
    ),
    ("export-self", "export --format published {D} {D} --overwrite", "{D}", "is", "dataset folder {D}"),
    ("export-inside", "export {D} {D}/published", "{D}/published", "lies inside", "dataset folder {D}"),
    ("export-contains", "export {D} {T} --overwrite", "{T}", "contains", "dataset folder {D}"),
    (
        "generate-weights",
        "generate --dataset {D} --model {M} --level patient --out {M}/model.safetensors --overwrite",
        "{M}/model.safetensors", "lies inside", "model folder {M}",
    ),
    (
        "generate-dataset",
        "generate --dataset {D} --model {M} --level patient --out {D}/answers.jsonl",
        "{D}/answers.jsonl", "lies inside", "dataset folder {D}",
    ),
    (
        "generate-cache",
        "generate --model {M} --level patient --out {C}/answers.jsonl",
        "{C}/answers.jsonl", "lies inside", "dataset cache {C}",
    ),
    (
        "score-submission",
        "score {S} --level patient --dataset {D} --out {S} --overwrite",
        "{S}", "is", "submission {S}",
    ),
    (
        "score-dataset",
        "score {S} --level patient --dataset {D} --out {D}/results.json",
        "{D}/results.json", "lies inside", "dataset folder {D}",
    ),
    (
        "finetune-dataset",
        "finetune --dataset {D} --config tiny --out {D}/model",
        "{D}/model", "lies inside", "dataset folder {D}",
    ),
    (
        "finetune-checkpoint",
        "finetune --dataset {D} --model {M} --out {M}/tuned",
        "{M}/tuned", "lies inside", "checkpoint folder {M}",
    ),
    (
        "unlearn-model",
        "unlearn --dataset {D} --method ga --level patient --model {M} --out {M}/ga",
        "{M}/ga", "lies inside", "model folder {M}",
    ),
    (
        "attack-plot",
        "attack --dataset {D} --model {M} --level patient --results {S} --plot {S}",
        "{S}", "is", "results file {S}",
    ),
    (
        "build-mimic",
        "build --source mimic-cxr --mimic-root {RUN} --out {RUN} --overwrite",
        "{RUN}", "is", "MIMIC-CXR root {RUN}",
    ),
    (
        "run-dataset", "run --dataset {D} --model tiny --out {D}/run", "{D}/run", "lies inside",
        "dataset folder {D}",
    ),
    (
        "run-checkpoint", "run --dataset {D} --model {M} --out {M}/run", "{M}/run", "lies inside",
        "checkpoint folder {M}",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("command", "output", "relation", "named"), [case[1:] for case in OVERLAPS], ids=[c[0] for c in OVERLAPS]
)
def test_an_output_over_an_input_is_refused_and_the_input_kept(
    command: str,
    output: str,
    relation: str,
    named: str,
    synthetic_mini_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run = _filled(tmp_path / "run")
    places = {
        "D": tmp_path / "dataset",
        "R": _filled(run / "results"),
        "RUN": run,
        "M": _filled(tmp_path / "model"),
        "S": tmp_path / "answers.jsonl",
        "C": Path(os.environ["MEDFORGET_CACHE"]) / "datasets",
        "T": tmp_path,
    }
    shutil.copytree(synthetic_mini_dir, places["D"])
    places["S"].write_text('{"metadata": {}}\n', encoding="utf-8")
    (run / "link").symlink_to(places["R"], target_is_directory=True)
    before = snapshot(tmp_path)
    fill = {key: str(value) for key, value in places.items()}
    assert main(command.format(**fill).split()) == 2
    line = one_line(capsys.readouterr().err)
    assert line == f"error: output {output.format(**fill)} {relation} the {named.format(**fill)}; " + (
        "choose another output path"
    )
    assert snapshot(tmp_path) == before  # nothing deleted, replaced or added


# ----- 2: score refuses an existing --out without --overwrite


def test_score_refuses_an_existing_out_without_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from medforget_data.scoring.results import read_results
    from medforget_data.scoring.submission import SubmissionMetadata, write_submission
    from tests.scoring_fixtures import HAND_LEVEL, hand_predictions, write_hand_dataset

    dataset = write_hand_dataset(tmp_path / "hand")
    submission = tmp_path / "hand.jsonl"
    metadata = SubmissionMetadata(method="chip", model="m", level=HAND_LEVEL, seed=0, contact="c")
    write_submission(submission, metadata, hand_predictions())
    score = ["score", str(submission), "--level", HAND_LEVEL, "--dataset", str(dataset)]
    default = submission.with_name(submission.name + ".results.json")
    for out, extra in ((tmp_path / "kept.json", ["--out", str(tmp_path / "kept.json")]), (default, [])):
        out.write_text("precious\n", encoding="utf-8")
        before = snapshot(out)
        assert main([*score, *extra]) == 2
        line = one_line(capsys.readouterr().err)
        assert line == f"error: output file {out} already exists; pass --overwrite to replace it"
        assert snapshot(out) == before
        assert main([*score, *extra, "--overwrite"]) == 0
        assert read_results(out).metadata.method == "chip"
        capsys.readouterr()


# ----- 3: the atomic helpers honour the umask as a plain write does


def _write_text(path: Path) -> list[Path]:
    from medforget_data.io import atomic_write_text

    atomic_write_text(path, "x")
    return [path]


def _write_json(path: Path) -> list[Path]:
    from medforget_data.io import write_json

    write_json(path, {"x": 1})
    return [path]


def _folder(path: Path) -> list[Path]:
    from medforget_data.io import atomic_folder

    with atomic_folder(path) as staging:
        (staging / "inside.txt").write_text("x", encoding="utf-8")
    return [path, path / "inside.txt"]


@pytest.mark.parametrize("umask", [0o022, 0o077], ids=["022", "077"])
@pytest.mark.parametrize("writer", [_write_text, _write_json, _folder], ids=["text", "json", "folder"])
def test_atomic_outputs_get_the_modes_a_plain_write_gets(
    writer: Callable[[Path], list[Path]], umask: int, tmp_path: Path
) -> None:
    before = os.umask(umask)
    try:
        written = writer(tmp_path / "out")
        (tmp_path / "plain").write_text("x", encoding="utf-8")
        (tmp_path / "plain-folder").mkdir()
    finally:
        os.umask(before)
    for path in written:
        plain = tmp_path / ("plain-folder" if path.is_dir() else "plain")
        assert path.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777, path
        assert path.stat().st_mode & 0o777 == (0o777 if path.is_dir() else 0o666) & ~umask, path


def test_a_saved_model_and_its_checkpoint_are_readable_by_the_group(
    synthetic_mini_dir: Path, tmp_path: Path
) -> None:
    import torch

    from medforget_data.models.build import ModelRecord, new_model, save_model
    from medforget_data.models.checkpoint import save_checkpoint

    model, processor = new_model("tiny", synthetic_mini_dir, seed=0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    before = os.umask(0o022)
    try:
        record = ModelRecord(config_name="tiny", dataset_hash="", parameters=1)
        save_model(model, processor, tmp_path / "m", record)
        save_checkpoint(tmp_path / "m" / "checkpoint", model, optimizer, scheduler, 0, [])
    finally:
        os.umask(before)
    modes = {p.relative_to(tmp_path).as_posix(): p.stat().st_mode & 0o777 for p in tmp_path.rglob("*")}
    assert modes and all(mode in (0o644, 0o755) for mode in modes.values()), modes


# ----- 4: a full disk is one line naming the path, and leaves no temporary behind


class _FullStream:
    """A text stream whose writes fail as on a full disk (an OSError naming no file, as write(2) gives)."""

    def __init__(self, stream) -> None:
        self.stream = stream

    def __enter__(self) -> _FullStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stream.close()

    def fileno(self) -> int:
        return self.stream.fileno()

    def write(self, text: str) -> int:
        raise OSError(errno.ENOSPC, NO_SPACE)


def _full_fdopen(monkeypatch: pytest.MonkeyPatch) -> None:
    fdopen = os.fdopen
    monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: _FullStream(fdopen(fd, *a, **k)))


def _full_parquet(monkeypatch: pytest.MonkeyPatch, named: bool) -> None:
    import pyarrow.parquet as pq

    def write_table(table, where, *args, **kwargs) -> None:
        raise OSError(errno.ENOSPC, NO_SPACE, *([str(where)] if named else []))

    monkeypatch.setattr(pq, "write_table", write_table)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.startswith(".") or ".staging-" in p.name)


def test_a_full_disk_during_build_is_one_line_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _full_parquet(monkeypatch, named=True)
    out = tmp_path / "built"
    assert main(["build", "--source", "synthetic", "--size", "mini", "--out", str(out)]) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"error: {tmp_path}/.built.") and line.endswith(f".parquet: {NO_SPACE}"), line
    assert list(tmp_path.iterdir()) == []  # no output, no staging folder


@pytest.mark.parametrize("command", ["export", "leaderboard", "score"])
def test_a_full_disk_is_one_line_naming_the_output(
    command: str,
    synthetic_mini_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from medforget_data.scoring.results import write_results
    from medforget_data.scoring.submission import SubmissionMetadata, write_submission
    from tests.scoring_fixtures import HAND_LEVEL, hand_predictions, write_hand_dataset
    from tests.test_leaderboard import results

    inputs = tmp_path / "inputs"
    out = tmp_path / "outputs" / ("answers.json" if command == "score" else "out")
    out.parent.mkdir()
    if command == "export":
        args = ["export", str(synthetic_mini_dir), str(out)]
        _full_parquet(monkeypatch, named=False)
    elif command == "leaderboard":
        for method in ("chip", "vanilla"):
            write_results(inputs / f"{method}.json", results(method, "patient", 0.2, 0.9))
        args = ["leaderboard", str(inputs), "--out", str(out)]
        _full_write_text(monkeypatch)
    else:
        submission = inputs / "hand.jsonl"
        metadata = SubmissionMetadata(method="chip", model="m", level=HAND_LEVEL, seed=0, contact="c")
        write_submission(submission, metadata, hand_predictions())
        dataset = write_hand_dataset(inputs / "d")
        args = ["score", str(submission), "--level", HAND_LEVEL, "--dataset", str(dataset), "--out", str(out)]
        _full_fdopen(monkeypatch)
    before = snapshot(inputs) if inputs.exists() else {}
    assert main(args) == 2
    assert one_line(capsys.readouterr().err) == f"error: {out}: {NO_SPACE}"
    assert list(out.parent.iterdir()) == []  # no output, no temporary file or staging folder
    assert (snapshot(inputs) if inputs.exists() else {}) == before


def _full_write_text(monkeypatch: pytest.MonkeyPatch) -> None:
    def write_text(self: Path, *args, **kwargs) -> int:
        raise OSError(errno.ENOSPC, NO_SPACE)  # as a failed write(2): no file named

    monkeypatch.setattr(Path, "write_text", write_text)


def test_a_full_disk_during_generate_is_one_line(
    synthetic_mini_dir: Path,
    tiny_model: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "answers.jsonl"
    _full_fdopen(monkeypatch)
    args = ["generate", "--dataset", str(synthetic_mini_dir), "--model", str(tiny_model)]
    args += ["--level", "patient", "--splits", "forget", "--max-new-tokens", "1", "--out", str(out)]
    assert main(args) == 2
    assert one_line(capsys.readouterr().err) == f"error: {out}: {NO_SPACE}"
    assert list(tmp_path.iterdir()) == []


def _few_training_examples(monkeypatch: pytest.MonkeyPatch, count: int = 16) -> None:
    """Fine-tune on `count` items: an epoch in seconds, not minutes."""
    from medforget_data.models import finetune

    examples = finetune.training_examples
    monkeypatch.setattr(finetune, "training_examples", lambda *args: examples(*args)[:count])


def test_a_full_disk_during_finetune_is_one_line_and_leaves_no_staging_slot(
    synthetic_mini_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from medforget_data.models import checkpoint

    def save(*args, **kwargs) -> None:  # the trainer state's write fails, after the weights' succeeded
        raise OSError(errno.ENOSPC, NO_SPACE)

    monkeypatch.setattr(checkpoint.torch, "save", save)
    _few_training_examples(monkeypatch)
    out = tmp_path / "model"
    args = ["finetune", "--dataset", str(synthetic_mini_dir), "--config", "tiny", "--out", str(out)]
    args += ["--epochs", "1", "--batch-size", "32", "--vision-pretrain-epochs", "0"]
    assert main(args) == 2
    assert one_line(capsys.readouterr().err) == f"error: {out / 'checkpoint'}: {NO_SPACE}"
    assert _leftovers(tmp_path) == []  # no `.staging-*` slot


def test_a_read_only_output_folder_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """EROFS and EACCES at write time (after the up-front check passed) are one line too."""
    from medforget_data.scoring.results import write_results
    from tests.test_leaderboard import results

    write_results(tmp_path / "r" / "chip.json", results("chip", "patient", 0.2, 0.9))
    for code in (errno.EROFS, errno.EACCES, errno.EDQUOT):

        def refuse(self: Path, *args, code: int = code, **kwargs) -> int:
            raise OSError(code, os.strerror(code), str(self))

        monkeypatch.setattr(Path, "write_text", refuse)
        assert main(["leaderboard", str(tmp_path / "r"), "--out", str(tmp_path / "board")]) == 2
        line = one_line(capsys.readouterr().err)
        assert line.endswith(f"leaderboard.md: {os.strerror(code)}") and str(tmp_path) in line, line
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]


# ----- 5: tracebacks and extra lines where one line is owed


def _broken_model(tiny_model: Path, folder: Path, damage: str) -> None:
    shutil.copytree(tiny_model, folder)
    if damage == "no tokenizer.json":
        (folder / "tokenizer.json").unlink()
    elif damage == "no tokenizer files":
        (folder / "tokenizer.json").unlink()
        (folder / "tokenizer_config.json").unlink()
    elif damage == "template undefined":
        (folder / "chat_template.jinja").write_text("{{ messages[0].nothing.deeper }}", encoding="utf-8")
    elif damage == "template syntax":
        (folder / "chat_template.jinja").write_text("{% for m in messages %}", encoding="utf-8")
    else:  # a model_type that does not match the weights: transformers prints its load report
        config = (folder / "config.json").read_text(encoding="utf-8")
        (folder / "config.json").write_text(config.replace('"qwen2_5_vl"', '"llava"'), encoding="utf-8")


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        ("no tokenizer.json", "damaged model folder"),
        ("no tokenizer files", "its tokenizer is empty"),
        ("template undefined", "its processor cannot build a prompt (UndefinedError"),
        ("template syntax", "its processor cannot build a prompt"),
        ("model_type llava", "weights missing"),
    ],
)
def test_a_broken_model_folder_is_one_line_on_stderr(
    damage: str,
    expected: str,
    synthetic_mini_dir: Path,
    tiny_model: Path,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    folder = tmp_path / "broken"
    _broken_model(tiny_model, folder, damage)
    out = tmp_path / "answers.jsonl"
    args = ["generate", "--dataset", str(synthetic_mini_dir), "--model", str(folder), "--level", "patient"]
    capfd.readouterr()
    assert main([*args, "--max-new-tokens", "1", "--out", str(out)]) == 2
    captured = capfd.readouterr()  # the file descriptors: transformers' logging holds the real stderr
    line = one_line(captured.err)
    assert line.startswith(f"error: {folder}: ") and expected in line, line
    assert captured.out == "" and not out.exists()


def test_a_run_on_a_locked_folder_is_refused_before_the_dataset_is_printed(
    synthetic_mini_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from medforget_data.pipeline.state import run_lock

    out = tmp_path / "run"
    args = ["run", "--dataset", str(synthetic_mini_dir), "--model", "tiny", "--out", str(out)]
    with run_lock(out):  # another run holds it (a lock on another open file: flock conflicts in-process)
        before = snapshot(out)
        assert main(args) == 2
        captured = capsys.readouterr()
        assert snapshot(out) == before
    assert one_line(captured.err) == f"error: {out} is in use by another medforget run (pid {os.getpid()})"
    assert captured.out == ""  # no dataset table before the refusal
    assert sorted(p.name for p in out.iterdir()) == []  # the probe left the lock file as found


def test_an_error_during_a_progress_bar_is_the_only_line(
    synthetic_mini_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from medforget_data import progress

    monkeypatch.setattr(progress, "_enabled", True)  # the suite runs quiet; a user sees bars
    args = ["finetune", "--dataset", str(synthetic_mini_dir), "--config", "tiny"]
    args += ["--out", str(tmp_path / "m"), "--epochs", "1", "--lr", "1e30", "--vision-pretrain-epochs", "0"]
    args += ["--batch-size", "32"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "fine-tuning" in err  # the bar was shown, then cleared: the error's line is the only one
    assert one_line(err).startswith("error: training diverged")


def test_bars_still_open_when_an_error_is_printed_are_cleared(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An iterated bar is closed only when its generator is collected: after the error, unless cleared."""
    from medforget_data import progress
    from medforget_data.cli import info
    from medforget_data.errors import MedForgetError

    def failing(args) -> int:
        for step in progress.bar(range(3), desc="working"):
            if step == 1:
                raise MedForgetError("failed at step 1")
        return 0

    monkeypatch.setattr(progress, "_enabled", True)
    monkeypatch.setattr(info, "run_info", failing)
    assert main(["info", "anything"]) == 2
    err = capsys.readouterr().err
    assert "working" in err and one_line(err) == "error: failed at step 1"


# ----- 7 (fixed already): a resumed fine-tuning records what an uninterrupted one does


class _Stop(Exception):
    pass


def test_a_resumed_finetuning_records_the_vision_pretraining_accuracy(
    synthetic_mini_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from medforget_data.models import train as training
    from medforget_data.models.finetune import finetune
    from medforget_data.models.recipe import RecipeOptions, resolve_recipe

    _few_training_examples(monkeypatch)
    options = RecipeOptions(epochs=2, batch_size=8, lr=3e-3, vision_pretrain_epochs=2)
    recipe = resolve_recipe("tiny", options)
    whole = finetune(synthetic_mini_dir, tmp_path / "whole", recipe)

    save = training.save_checkpoint

    def save_then_stop(*args, **kwargs) -> None:  # killed once epoch 0's checkpoint is on disk
        save(*args, **kwargs)
        raise _Stop

    monkeypatch.setattr(training, "save_checkpoint", save_then_stop)
    with pytest.raises(_Stop):
        finetune(synthetic_mini_dir, tmp_path / "resumed", recipe)
    monkeypatch.setattr(training, "save_checkpoint", save)
    resumed = finetune(synthetic_mini_dir, tmp_path / "resumed", recipe, resume=True)
    assert whole.recipe.vision_pretrain_study_accuracy is not None
    assert resumed.recipe.vision_pretrain_study_accuracy == whole.recipe.vision_pretrain_study_accuracy
    assert [h["epoch"] for h in resumed.history] == [0, 1]
