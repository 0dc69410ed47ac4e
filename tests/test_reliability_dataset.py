"""Issue 29, the dataset's part: `build --overwrite` keeps the old dataset until the new one is in
place (4), one build per folder at a time (5), and `verify` sees what a careful tamperer hides —
damaged images (10), duplicated rows (14), level rows edited away from their `train` rows (15) —
and what the export files where (21).

A tampered copy is resealed as a careful tamperer would: every file hash, the dataset hash, the
manifest's row counts and its content hash recomputed, so only the new checks can catch it.
"""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from medforget_data.cli import main
from medforget_data.constants import OPTION_LETTERS
from medforget_data.dataset.examples import read_examples
from medforget_data.dataset.invariants import verify_folder
from medforget_data.dataset.load import split_path
from medforget_data.dataset.manifest import MANIFEST_FILE, Manifest, read_manifest
from medforget_data.errors import MedForgetError
from medforget_data.io import sha256_file, write_json

CLI = "import sys; from medforget_data.cli import main; sys.exit(main(sys.argv[1:]))"
BUILD = ["build", "--source", "synthetic", "--size", "mini"]

Rows = list[dict]


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """Stderr is exactly one line, an error, with no traceback."""
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    return err.strip()


def reseal(folder: Path) -> None:
    """Recompute what the manifest says of the files: hashes, dataset hash, row counts, content hash."""
    manifest = read_manifest(folder)
    files = {
        p.relative_to(folder).as_posix(): sha256_file(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MANIFEST_FILE
    }
    counts = {
        config: {split: pq.read_metadata(split_path(folder, config, split)).num_rows for split in by_split}
        for config, by_split in manifest.counts.items()
    }
    update = {"files": files, "dataset_hash": Manifest.hash_files(files), "counts": counts}
    write_json(folder / MANIFEST_FILE, manifest.model_copy(update=update).sealed().model_dump(mode="json"))


def edit_split(folder: Path, config: str, split: str, edit: Callable[[Rows], Rows]) -> None:
    """Rewrite one shard's rows through `edit`, keeping its schema (and the card's features)."""
    path = split_path(folder, config, split)
    table = pq.read_table(path)
    pq.write_table(pa.Table.from_pylist(edit(table.to_pylist()), schema=table.schema), path)


def every_shard(folder: Path) -> list[tuple[str, str]]:
    return [
        (config, split) for config, by_split in read_manifest(folder).counts.items() for split in by_split
    ]


def first_of(rows: Rows, **wanted: object) -> dict:
    return next(row for row in rows if all(row[key] == value for key, value in wanted.items()))


def png(size: int, mode: str = "L", image_format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (size, size), 128).save(buffer, format=image_format)
    return buffer.getvalue()


# ----- 14, 15: duplicated rows, level rows that differ from their train rows


def twice(row_index: int = 0) -> Callable[[Rows], Rows]:
    return lambda rows: [*rows, rows[row_index]]


def edited(field: str, change: Callable[[object], object], **wanted: object) -> Callable[[Rows], Rows]:
    def edit(rows: Rows) -> Rows:
        target = first_of(rows, **wanted)
        return [{**row, field: change(row[field])} if row is target else row for row in rows]

    return edit


def answer_moved(rows: Rows) -> Rows:
    """A classification row's answer moved to the next option (still a valid item: only the answer)."""
    target = first_of(rows, task="classification")
    index = (OPTION_LETTERS.index(target["answer"][0]) + 1) % len(OPTION_LETTERS)
    answer = f"{OPTION_LETTERS[index]}) {target['options'][index]}"
    return [{**row, "answer": answer} if row is target else row for row in rows]


def reworded(rows: Rows) -> Rows:
    """An original row asked in other words (its canonical training wording with it, to stay valid)."""
    question = f"{rows[0]['question']} Edited?"
    return [
        {**rows[0], "question": question, "train_questions": [question, *rows[0]["train_questions"][1:]]},
        *rows[1:],
    ]


ROW_CASES = {
    # 14: an id twice in a split; the id-set checks see one
    "train row twice": ("train", "train", twice(), "train/train holds item"),
    "forget row twice": ("patient", "forget", twice(), "patient/forget holds item"),
    "sibling row twice": ("institution", "sibling", twice(), "institution/sibling holds item"),
    "rephrased row twice": ("study", "retain_rephrased", twice(), "study/retain_rephrased holds item"),
    "holdout row twice": ("train", "holdout", twice(), "train/holdout holds item"),
    # 15: a level's copy of a train item edited; scoring reads the level's
    "forget generation answer": (
        "patient", "forget", edited("answer", lambda a: f"{a} (edited)", task="generation"),
        "differs from its train row (answer)",
    ),
    "forget cloze answer": (
        "institution", "forget", edited("answer", lambda a: "edited", task="cloze"),
        "differs from its train row (answer)",
    ),
    "forget classification answer": (
        "institution", "forget", answer_moved,
        "differs from its train row (answer)",
    ),
    "retain wording": (
        "section", "retain", reworded, "differs from its train row (question, train_questions)",
    ),
    "level holdout answer": (
        "study", "holdout", edited("answer", lambda a: f"{a} (edited)"),
        "differs from its train row (answer)",
    ),
    "rephrased answer": (
        "patient", "forget_rephrased", edited("answer", lambda a: f"{a} (edited)", task="generation"),
        "differs from its original",
    ),
}  # fmt: skip


@pytest.fixture()
def tampered(synthetic_mini_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "tampered"
    shutil.copytree(synthetic_mini_dir, copy)
    return copy


def assert_refused(folder: Path, expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`verify` names the problem, and the CLI refuses in one line."""
    problems = verify_folder(folder)
    assert any(expected in problem for problem in problems), problems
    assert main(["verify", str(folder)]) == 2
    assert expected in one_error_line(capsys)


def test_a_resealed_untouched_copy_passes(tampered: Path) -> None:
    reseal(tampered)  # the tamperer's resealing alone changes nothing verify can see
    assert verify_folder(tampered) == []


@pytest.mark.parametrize("case", ROW_CASES)
def test_verify_refuses_duplicated_and_edited_rows(
    tampered: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    config, split, edit, expected = ROW_CASES[case]
    edit_split(tampered, config, split, edit)
    reseal(tampered)
    assert_refused(tampered, expected, capsys)


def test_verify_refuses_a_row_that_is_no_valid_item_in_one_line(
    tampered: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Options reordered under their answer: the item's own check fails; a line naming the file, not
    a pydantic dump or a traceback."""
    edit_split(tampered, "institution", "forget", edited("options", lambda o: o[::-1], task="classification"))
    reseal(tampered)
    with pytest.raises(MedForgetError, match="institution/forget-00000-of-00001.parquet: row"):
        verify_folder(tampered)
    assert main(["verify", str(tampered)]) == 2
    assert "is not a valid item" in one_error_line(capsys)


# ----- 10: damaged images, every row of a study (as a careful tamperer keeps them consistent)

IMAGE_CASES: dict[str, tuple[Callable[[bytes], bytes | None], str]] = {
    "another size": (lambda old: png(232), "image is 232×232, the build's size is 224×224"),
    "RGBA": (lambda old: png(224, "RGBA"), "image mode is RGBA"),
    "RGB": (lambda old: png(224, "RGB"), "image mode is RGB"),
    "garbage bytes": (lambda old: b"not an image at all" * 20, "image does not decode"),
    "truncated PNG": (lambda old: old[: len(old) // 2], "image does not decode"),
    "null": (lambda old: None, "image is missing"),
    "JPEG": (lambda old: png(224, image_format="JPEG"), "image is JPEG, not PNG"),
}


def damage_study(folder: Path, study_id: str, damage: Callable[[bytes], bytes | None]) -> None:
    def edit(rows: Rows) -> Rows:
        return [
            {**row, "image": {**row["image"], "bytes": damage(row["image"]["bytes"])}}
            if row["study_id"] == study_id
            else row
            for row in rows
        ]

    for config, split in every_shard(folder):
        edit_split(folder, config, split, edit)


def first_train_row(folder: Path) -> dict:
    return pq.read_table(split_path(folder, "train", "train"), columns=["id", "study_id"]).to_pylist()[0]


@pytest.mark.parametrize("case", IMAGE_CASES)
def test_verify_refuses_a_damaged_image(
    tampered: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    damage, expected = IMAGE_CASES[case]
    damage_study(tampered, first_train_row(tampered)["study_id"], damage)
    reseal(tampered)
    assert_refused(tampered, expected, capsys)


def test_verify_refuses_a_row_whose_image_is_another_studys(
    tampered: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def swap(rows: Rows) -> Rows:  # a valid image, of another study: only the comparison sees it
        other = next(row for row in rows if row["study_id"] != rows[0]["study_id"])
        return [{**rows[0], "image": other["image"]}, *rows[1:]]

    edit_split(tampered, "train", "train", swap)
    reseal(tampered)
    assert_refused(
        tampered, f"differs from the other rows of study {first_train_row(tampered)['study_id']}", capsys
    )


@pytest.mark.parametrize("case", IMAGE_CASES)
def test_reading_examples_refuses_a_damaged_image_naming_its_item(tampered: Path, case: str) -> None:
    """What finetune, generate and unlearning read: one line naming the item, not a crash in a model."""
    damage, expected = IMAGE_CASES[case]
    first = first_train_row(tampered)
    damage_study(tampered, first["study_id"], damage)
    with pytest.raises(MedForgetError) as raised:
        read_examples(tampered, "train", "train")
    message = str(raised.value)
    assert f"train/train item {first['id']}: {expected}" in message and "\n" not in message


def test_finetune_refuses_a_damaged_image_in_one_line(
    tampered: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = first_train_row(tampered)
    damage_study(tampered, first["study_id"], IMAGE_CASES["garbage bytes"][0])
    args = ["finetune", "--dataset", str(tampered), "--config", "tiny", "--epochs", "1"]
    assert main([*args, "--out", str(tmp_path / "model")]) == 2
    assert f"item {first['id']}: image does not decode" in one_error_line(capsys)


# ----- 4: `build --overwrite` keeps the old dataset until the new one is in place


def as_mount_point(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """`folder` behaves as a mount point: renaming it (or onto it) or removing it fails with EBUSY."""
    real_rename, real_rmdir = os.rename, os.rmdir
    folder = folder.absolute()

    def busy(path: object) -> bool:
        return Path(os.fsdecode(path)).absolute() == folder

    def rename(src: object, dst: object, **kwargs: object) -> None:
        if busy(src) or busy(dst):
            raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), os.fsdecode(src))
        real_rename(src, dst, **kwargs)

    def rmdir(path: object, *, dir_fd: int | None = None) -> None:
        if dir_fd is None and busy(path):
            raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), os.fsdecode(path))
        real_rmdir(path, dir_fd=dir_fd)

    monkeypatch.setattr(os, "rename", rename)
    monkeypatch.setattr(os, "rmdir", rmdir)


def no_space_after_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """Moving files into place runs out of space after the first entry."""
    real_move, moved = shutil.move, []

    def move(src: object, dst: object, *args: object, **kwargs: object) -> object:
        if moved:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fsdecode(dst))
        moved.append(dst)
        return real_move(src, dst, *args, **kwargs)

    monkeypatch.setattr(shutil, "move", move)


def first_rename_into_place_fails(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """The first rename onto `folder` (the new build into place) fails; later ones (a restore) work."""
    real_rename, failed = os.rename, []
    folder = folder.absolute()

    def rename(src: object, dst: object, **kwargs: object) -> None:
        if not failed and Path(os.fsdecode(dst)).absolute() == folder:
            failed.append(src)
            raise OSError(errno.EIO, os.strerror(errno.EIO), os.fsdecode(dst))
        real_rename(src, dst, **kwargs)

    monkeypatch.setattr(os, "rename", rename)


def write_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    from medforget_data.dataset import folder

    def fail(*args: object, **kwargs: object) -> int:
        raise MedForgetError("disk full (simulated)")

    monkeypatch.setattr(folder, "_write_parquet", fail)


@pytest.fixture()
def old_dataset(synthetic_mini_dir: Path, tmp_path: Path) -> Path:
    """A built dataset (seed 0) that a `build --seed 1 --overwrite` is to replace."""
    out = tmp_path / "mini"
    shutil.copytree(synthetic_mini_dir, out)
    return out


def assert_only(tmp_path: Path, out: Path, seed: int, dataset_hash: str | None = None) -> None:
    """`out` holds a whole build of `seed` and nothing else (no staging, backup or lock beside it)."""
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]
    assert verify_folder(out) == []  # also: no file in it beyond the manifest's
    manifest = read_manifest(out)
    assert manifest.build.seed == seed
    assert dataset_hash is None or manifest.dataset_hash == dataset_hash


def test_overwrite_onto_a_mount_point_replaces_its_contents(
    old_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    as_mount_point(monkeypatch, old_dataset)
    assert main([*BUILD, "--seed", "1", "--out", str(old_dataset), "--overwrite"]) == 0, (
        capsys.readouterr().err
    )
    assert_only(tmp_path, old_dataset, seed=1)


FAILED_OVERWRITES: dict[str, tuple[Callable[[pytest.MonkeyPatch, Path], None], str]] = {
    "mount point, no space for the new contents": (
        lambda patch, out: (as_mount_point(patch, out), no_space_after_first(patch)),
        "cannot put the new",
    ),
    "the new folder cannot be renamed into place": (first_rename_into_place_fails, "cannot put the new"),
    "the build fails while writing": (lambda patch, out: write_fails(patch), "disk full (simulated)"),
}


@pytest.mark.parametrize("case", FAILED_OVERWRITES)
def test_a_failed_overwrite_keeps_the_old_dataset_and_is_one_line(
    old_dataset: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    case: str,
) -> None:
    fault, expected = FAILED_OVERWRITES[case]
    old_hash = read_manifest(old_dataset).dataset_hash
    fault(monkeypatch, old_dataset)
    assert main([*BUILD, "--seed", "1", "--out", str(old_dataset), "--overwrite"]) == 2
    assert expected in one_error_line(capsys)
    monkeypatch.undo()
    assert_only(tmp_path, old_dataset, seed=0, dataset_hash=old_hash)


# ----- 5: one build per output folder at a time


def test_a_build_into_a_folder_being_built_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from medforget_data.io import folder_lock, lock_file_beside

    out = tmp_path / "X"
    with folder_lock(lock_file_beside(out), "held by the test"):
        assert main([*BUILD, "--out", str(out)]) == 2
        assert f"{out} is being built by another medforget build (pid {os.getpid()})" in one_error_line(
            capsys
        )
        # and from another process, as two `medforget build`s started together
        other = subprocess.run(
            [sys.executable, "-c", CLI, *BUILD, "--out", str(out), "--overwrite"],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert other.returncode == 2 and other.stderr.count("\n") == 1, other.stderr
        assert "is being built by another medforget build" in other.stderr
        assert not out.exists()
    assert main([*BUILD, "--out", str(out)]) == 0  # the lock is free once its holder is done
    assert sorted(p.name for p in tmp_path.iterdir()) == ["X"]


def test_a_lock_left_by_a_killed_build_neither_blocks_nor_stays(tmp_path: Path) -> None:
    from medforget_data.io import atomic_folder, lock_file_beside

    out = tmp_path / "X"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    lock_file_beside(out).write_text(dead.stdout.strip())  # the file a SIGKILLed build leaves
    with atomic_folder(out) as staging:  # any writer of X (an export, say) removes it: nobody holds it
        (staging / "f").write_text("x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["X"]
    lock_file_beside(out).write_text(dead.stdout.strip())
    assert main([*BUILD, "--out", str(out), "--overwrite"]) == 0  # and a build takes it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["X"]


def test_the_loaders_first_use_waits_for_a_build_in_progress_and_uses_it(
    synthetic_mini_dir: Path, tmp_path: Path
) -> None:
    from medforget_data.dataset.folder import ensure_dataset_folder
    from medforget_data.dataset.manifest import BuildConfig
    from medforget_data.io import folder_lock, lock_file_beside

    out = tmp_path / "cache-build"
    errors: list[BaseException] = []

    def first_use() -> None:
        try:
            ensure_dataset_folder(BuildConfig(source="synthetic", size="mini"), out)
        except BaseException as error:  # noqa: BLE001 - reported by the test, not lost in the thread
            errors.append(error)

    with folder_lock(lock_file_beside(out), "held by the test"):
        waiter = threading.Thread(target=first_use)
        waiter.start()
        time.sleep(0.5)
        assert waiter.is_alive() and not out.exists()  # waiting, not refused and not building
        shutil.copytree(synthetic_mini_dir, out)  # "the other build" completes
        inode = (out / MANIFEST_FILE).stat().st_ino
    waiter.join(timeout=600)
    assert not errors and (out / MANIFEST_FILE).stat().st_ino == inode  # used, not rebuilt


def test_run_lock_is_the_shared_folder_lock(tmp_path: Path) -> None:
    from medforget_data.pipeline.state import run_lock

    with run_lock(tmp_path / "run"), pytest.raises(MedForgetError, match="in use by another medforget run"):
        with run_lock(tmp_path / "run"):
            pass
    with run_lock(tmp_path / "run"):  # released
        pass


# ----- 21: the export says where it files a study's own facts at the section level


def test_export_counts_the_study_rows_it_files_at_the_section_level(
    synthetic_mini_dir: Path, tmp_path: Path
) -> None:
    from medforget_data.dataset.export import EXPORT_INFO_FILE, export_published, level_dir

    out = tmp_path / "published"
    counts = export_published(synthetic_mini_dir, out)
    info = json.loads((out / EXPORT_INFO_FILE).read_text(encoding="utf-8"))
    for level, files in counts.items():
        for name, count in files.items():
            rows = pq.read_table(out / level_dir(level) / name, columns=["hierarchy_metadata"]).to_pylist()
            filed: dict[str, int] = {}
            for row in rows:
                node_level = json.loads(row["hierarchy_metadata"])["hierarchy_level"]
                filed[node_level] = filed.get(node_level, 0) + 1
            assert count.rows_by_hierarchy_level == filed
            assert info["counts"][level][name]["rows_by_hierarchy_level"] == filed
    study_rows = info["counts"]["section"]["retain_set_all.parquet"]["rows_by_hierarchy_level"]["study"]
    assert (
        study_rows > 0
        and "study" not in info["counts"]["section"]["forget_set_all.parquet"]["rows_by_hierarchy_level"]
    )
    assert "at the section level a study's own facts" in info["hierarchy_level"]
