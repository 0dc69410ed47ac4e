"""Bad input for build/load/push: one line on stderr, non-zero exit, nothing half-written."""

from __future__ import annotations

from pathlib import Path

import pytest

import medforget_data
from medforget_data.builders import push_dataset_folder
from medforget_data.cli import main
from medforget_data.dataset import folder
from medforget_data.errors import MedForgetError


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The error is the last line of stderr (progress bars may precede it) and there is no traceback."""
    err = capsys.readouterr().err
    last = err.rstrip("\n").split("\n")[-1]
    assert last.startswith("error: ") and "Traceback" not in err, err
    return last


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--size", "huge"], "unknown size 'huge'; valid sizes: full, mini"),
        (["--source", "nope"], "unknown source 'nope'; valid sources: openi, synthetic, mimic-cxr"),
    ],
)
def test_unknown_names_list_the_valid_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["build", "--out", str(tmp_path / "X"), *args]) == 2
    assert message in one_error_line(capsys)
    assert not (tmp_path / "X").exists()


def test_unknown_level_lists_the_valid_ones() -> None:
    with pytest.raises(
        MedForgetError,
        match="unknown level 'hospital'; valid levels: institution, patient, study, section, train",
    ):
        medforget_data.load_dataset("medforget", level="hospital", size="mini")


def test_existing_output_is_refused_without_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "X"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["build", "--source", "synthetic", "--size", "mini", "--out", str(out)]) == 2
    assert "already exists; pass --overwrite" in one_error_line(capsys)
    assert (out / "keep.txt").read_text() == "mine"
    assert main(["build", "--source", "synthetic", "--size", "mini", "--out", str(out), "--overwrite"]) == 0
    assert not (out / "keep.txt").exists() and (out / "manifest.json").is_file()


def test_failed_build_leaves_no_partial_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls = {"n": 0}
    real = folder._write_parquet

    def fail_on_third(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise MedForgetError("disk full (simulated)")
        return real(*args, **kwargs)

    monkeypatch.setattr(folder, "_write_parquet", fail_on_third)
    assert main(["build", "--source", "synthetic", "--size", "mini", "--out", str(tmp_path / "X")]) == 2
    assert "disk full (simulated)" in one_error_line(capsys)
    assert list(tmp_path.iterdir()) == []  # neither X nor its staging folder


def test_verify_of_a_non_dataset_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(tmp_path)]) == 2
    assert "manifest.json is missing" in one_error_line(capsys)


def test_public_push_of_restricted_data_is_refused(openi_mini_dir: Path) -> None:
    with pytest.raises(MedForgetError, match="refusing to push openi data"):
        push_dataset_folder(openi_mini_dir, "someone/medforget")
    with pytest.raises(MedForgetError, match="needs --allow-restricted"):
        push_dataset_folder(openi_mini_dir, "someone/medforget", private=True)


def test_push_offline_fails_with_one_clear_line(
    synthetic_mini_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(MedForgetError, match="could not push to the Hugging Face Hub") as caught:
        push_dataset_folder(synthetic_mini_dir, "someone/medforget", token="hf_test_token")
    assert "\n" not in str(caught.value)


def test_push_without_token_says_how_to_log_in(
    synthetic_mini_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    with pytest.raises(MedForgetError, match="no Hugging Face token"):
        push_dataset_folder(synthetic_mini_dir, "someone/medforget")
