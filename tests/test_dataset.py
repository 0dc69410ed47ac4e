"""Build, load, verify and the split invariants of design §6, on real mini builds."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import datasets
import pytest

import medforget_data
from medforget_data.cli import main
from medforget_data.constants import (
    CONFIGS,
    LEVEL_SPLITS,
    LEVELS,
    OPTION_LETTERS,
    REPHRASED_SPLITS,
    TASKS,
    TRAIN_SPLITS,
)
from medforget_data.dataset.invariants import TRAIN_PARTITION, check_splits, verify_folder
from medforget_data.dataset.load import read_split_items
from medforget_data.dataset.manifest import HIERARCHY_FILE, read_manifest
from medforget_data.dataset.schema import Hierarchy, QAItem


def load_all(folder: Path) -> dict[str, dict[str, list[QAItem]]]:
    manifest = read_manifest(folder)
    return {c: {s: read_split_items(folder, c, s) for s in splits} for c, splits in manifest.counts.items()}


def hierarchy_of(folder: Path) -> Hierarchy:
    return Hierarchy.model_validate(json.loads((folder / HIERARCHY_FILE).read_text()))


def test_cli_build_then_verify_exits_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "X"
    assert main(["build", "--source", "synthetic", "--size", "mini", "--out", str(out)]) == 0
    assert main(["verify", str(out)]) == 0
    assert "all hashes and invariants hold" in capsys.readouterr().out
    assert main(["info", str(out)]) == 0


def test_every_config_has_every_split_and_loads_with_plain_datasets(openi_mini_dir: Path) -> None:
    for config in CONFIGS:
        loaded = datasets.load_dataset(str(openi_mini_dir), config)
        expected = TRAIN_SPLITS if config == "train" else LEVEL_SPLITS
        assert set(loaded) == set(expected)
        assert all(len(loaded[split]) > 0 for split in expected)
    row = datasets.load_dataset(str(openi_mini_dir), "patient", split="forget")[0]
    assert row["image"].mode == "L" and row["image"].size == (224, 224)
    assert row["patient_id"].startswith("patient-") and row["institution_id"].startswith("inst-")


def test_package_loader_builds_into_the_cache_and_returns_the_level(tmp_path: Path) -> None:
    splits = medforget_data.load_dataset("medforget", level="patient", size="mini")
    assert set(splits) == set(LEVEL_SPLITS)
    assert all(len(splits[name]) > 0 for name in LEVEL_SPLITS)


def test_openi_mini_passes_verify_and_has_a_few_hundred_items(openi_mini_dir: Path) -> None:
    assert verify_folder(openi_mini_dir) == []
    train = read_split_items(openi_mini_dir, "train", "train")
    assert 200 <= len(train) <= 800


def test_same_seed_same_manifest_other_seed_differs(tmp_path: Path) -> None:
    from medforget_data.builders import build_dataset_folder
    from medforget_data.dataset.manifest import BuildConfig

    first = build_dataset_folder(BuildConfig(source="synthetic", size="mini", seed=7), tmp_path / "a")
    again = build_dataset_folder(BuildConfig(source="synthetic", size="mini", seed=7), tmp_path / "b")
    other = build_dataset_folder(BuildConfig(source="synthetic", size="mini", seed=8), tmp_path / "c")
    assert (tmp_path / "a" / "manifest.json").read_bytes() == (tmp_path / "b" / "manifest.json").read_bytes()
    assert first.dataset_hash == again.dataset_hash != other.dataset_hash


@pytest.mark.parametrize("level", LEVELS)
def test_sibling_relation_matches_the_hierarchy(openi_mini_dir: Path, level: str) -> None:
    """Recompute forget/sibling/retain from hierarchy.json and the targets, independently of splits.py."""
    hierarchy = hierarchy_of(openi_mini_dir)
    targets = [tuple(t) for t in read_manifest(openi_mini_dir).targets[level]]
    system = {i.id: i.health_system for i in hierarchy.institutions}
    splits = load_all(openi_mini_dir)[level]
    for split in TRAIN_PARTITION:
        for item in splits[split]:
            if level == "institution":
                forget = any(item.institution_id == t[0] for t in targets)
                sibling = not forget and any(system[item.institution_id] == system[t[0]] for t in targets)
            elif level == "patient":
                forget = any(item.patient_id == t[1] for t in targets)
                sibling = not forget and any(item.institution_id == t[0] for t in targets)
            elif level == "study":
                forget = any(item.study_id == t[2] for t in targets)
                sibling = not forget and any(item.patient_id == t[1] for t in targets)
            else:
                forget = item.section is not None and any(
                    (item.study_id, item.section) == t[2:] for t in targets
                )
                sibling = (
                    not forget and item.section is not None and any(item.study_id == t[2] for t in targets)
                )
            expected = "forget" if forget else "sibling" if sibling else "retain"
            # an unlearner's half holds what its report split would: retain or sibling nodes
            assert split.removeprefix("unlearn_") == expected, (item.id, split, expected)


@pytest.mark.parametrize("level", LEVELS)
def test_targets_keep_a_sibling_and_every_split_is_nonempty(openi_mini_dir: Path, level: str) -> None:
    splits = load_all(openi_mini_dir)[level]
    assert all(splits[name] for name in LEVEL_SPLITS)
    target_count = len(read_manifest(openi_mini_dir).targets[level])
    assert target_count == 1 if level == "institution" else target_count >= 1


def test_partition_by_node_and_holdout_disjoint(openi_mini_dir: Path) -> None:
    everything = load_all(openi_mini_dir)
    train_ids = {item.id for item in everything["train"]["train"]}
    for level in LEVELS:
        ids = [item.id for split in TRAIN_PARTITION for item in everything[level][split]]
        assert sorted(ids) == sorted(train_ids)
        study_split: dict[str, set[str]] = defaultdict(set)
        if level != "section":  # at study depth and above, a whole study image lands in one split
            for split in TRAIN_PARTITION:
                for item in everything[level][split]:
                    study_split[item.study_id].add(split)
            assert all(len(found) == 1 for found in study_split.values())
    holdout_patients = {item.patient_id for item in everything["train"]["holdout"]}
    assert holdout_patients and not holdout_patients & {
        item.patient_id for item in everything["train"]["train"]
    }


def test_tasks_variants_and_answers(openi_mini_dir: Path) -> None:
    everything = load_all(openi_mini_dir)
    train = everything["train"]["train"]
    assert {(i.fact_level, i.task) for i in train} >= {(lvl, t) for lvl in LEVELS for t in TASKS}
    # a reported item's rephrasing, at any level (the unlearner's halves have none at their level)
    rephrased = {
        i.group_id: i for level in LEVELS for split in REPHRASED_SPLITS for i in everything[level][split]
    }
    assert len(rephrased) >= 0.75 * len(train)
    for item in train:
        variant = rephrased.get(item.group_id)
        assert variant is None or (variant.answer == item.answer and variant.question != item.question)
        if item.task == "classification":
            letter, text = item.answer.split(") ", 1)
            assert item.options[OPTION_LETTERS.index(letter)] == text
            assert item.question.endswith(
                "\n".join(f"{k}) {o}" for k, o in zip(OPTION_LETTERS, item.options, strict=True))
            )
        if item.task == "cloze":
            assert "[blank]" in item.question
    assert len({item.id for item in train}) == len(train)


def test_check_splits_names_each_violation(openi_mini_dir: Path) -> None:
    everything = load_all(openi_mini_dir)
    manifest = read_manifest(openi_mini_dir)
    hierarchy = hierarchy_of(openi_mini_dir)
    assert check_splits(everything, manifest.targets, hierarchy) == []

    moved = {c: {s: list(items) for s, items in by.items()} for c, by in everything.items()}
    moved["patient"]["retain"].append(moved["patient"]["forget"].pop())
    assert any(
        "is in retain but is under a forget target" in p
        for p in check_splits(moved, manifest.targets, hierarchy)
    )

    leaked = {c: {s: list(items) for s, items in by.items()} for c, by in everything.items()}
    leaked["train"]["holdout"].append(leaked["train"]["train"][0])
    assert any("holdout shares patients" in p for p in check_splits(leaked, manifest.targets, hierarchy))

    emptied = {c: {s: list(items) for s, items in by.items()} for c, by in everything.items()}
    emptied["study"]["sibling"] = []
    problems = check_splits(emptied, manifest.targets, hierarchy)
    assert "study/sibling is empty" in problems


def test_verify_names_a_tampered_file(
    tmp_path: Path, synthetic_mini_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(synthetic_mini_dir, copy)
    card = copy / "README.md"
    card.write_text(card.read_text() + "tampered\n")
    assert main(["verify", str(copy)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "README.md does not match its manifest hash" in err, err
