"""What the unlearner may see (design §10, issue 31): forget and the unlearner's halves, nothing else.

The halves are node-disjoint from the report-only splits at every level, `verify` catches an item moved
across, and every method runs on a copy of the build whose report-only files are gone.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest

from medforget_data.constants import (
    HOLDOUT_SPLIT,
    LEVELS,
    PARTITION_SPLITS,
    REPHRASED_SPLITS,
    UNLEARNER_SPLITS,
    UNLEARNER_VIEW,
)
from medforget_data.dataset.built import BuiltDataset
from medforget_data.dataset.invariants import check_level
from medforget_data.dataset.load import split_path
from medforget_data.dataset.splits import unit_at
from medforget_data.errors import MedForgetError
from medforget_data.methods import make_config
from medforget_data.methods.apply import apply_method
from medforget_data.methods.base import load_unlearn_splits
from medforget_data.models.build import ModelRecord, new_model

REPORT_ONLY = (
    *PARTITION_SPLITS[1:],
    *REPHRASED_SPLITS,
    HOLDOUT_SPLIT,
)  # retain, sibling, rephrasings, holdout


@pytest.fixture(params=["synthetic", "openi"])
def mini(request, synthetic_mini_dir: Path, openi_mini_dir: Path) -> BuiltDataset:
    return BuiltDataset({"synthetic": synthetic_mini_dir, "openi": openi_mini_dir}[request.param])


@pytest.mark.parametrize("level", LEVELS)
def test_the_view_holds_no_report_only_item_and_the_halves_share_no_node(
    mini: BuiltDataset, level: str
) -> None:
    view = load_unlearn_splits(mini, level)
    seen = [e.item for e in (*view.forget, *view.unlearn_retain, *view.unlearn_sibling)]
    reported = [item for split in REPORT_ONLY for item in mini.items(level, split)]
    assert {i.id for i in seen} == {i.id for split in UNLEARNER_VIEW for i in mini.items(level, split)}
    assert not {i.id for i in seen} & {i.id for i in reported}
    # no fact of the halves is reported in any wording (a rephrasing shares its original's group id);
    # forget's facts are, in held-out wordings only: forget_rephrased tests that forgetting generalises
    halves = {e.item.group_id for e in (*view.unlearn_retain, *view.unlearn_sibling)}
    assert not halves & {i.group_id for i in reported}
    rephrased_forget = {i.group_id for i in mini.items(level, "forget_rephrased")}
    assert {i.group_id for i in reported} & {e.item.group_id for e in view.forget} == rephrased_forget
    # ... and the halves share no node with the report-only splits they were drawn from
    for half, report in zip(UNLEARNER_SPLITS, PARTITION_SPLITS[1:], strict=True):
        half_nodes = {unit_at(i, level) for i in mini.items(level, half)}
        report_nodes = {unit_at(i, level) for i in mini.items(level, report)}
        assert half_nodes and report_nodes and not half_nodes & report_nodes, (level, half)
    # roughly half the nodes each way (an odd one out goes either way)
    retain_nodes = [{unit_at(i, level) for i in mini.items(level, s)} for s in ("unlearn_retain", "retain")]
    assert abs(len(retain_nodes[0]) - len(retain_nodes[1])) <= 1


@pytest.mark.parametrize(
    ("source_split", "target_split", "problem"),
    [
        ("unlearn_retain", "retain", "is split across"),  # half of a node's items moved to the report
        ("unlearn_sibling", "unlearn_retain", "shares a parent with a target"),
        ("unlearn_retain", "unlearn_sibling", "shares no parent with a target"),
    ],
)
def test_verify_catches_an_item_moved_across_the_halves(
    synthetic_mini_dir: Path, source_split: str, target_split: str, problem: str
) -> None:
    dataset = BuiltDataset(synthetic_mini_dir)
    level = "patient"
    splits = {split: list(items) for split, items in dataset.level_items(level).items()}
    splits.update({split: list(dataset.items(level, split)) for split in UNLEARNER_SPLITS})
    train = dataset.items("train", "train")
    targets = {tuple(node) for node in dataset.manifest.targets[level]}
    assert check_level(level, splits, train, targets, dataset.hierarchy()) == []
    moved = splits[source_split].pop(0)
    splits[target_split].append(moved)
    problems = check_level(level, splits, train, targets, dataset.hierarchy())
    assert any(problem in p for p in problems), problems


@pytest.fixture(scope="module")
def gutted(synthetic_mini_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """A tiny model, and a copy of the build without the patient level's report-only files."""
    model, processor = new_model("tiny", synthetic_mini_dir, seed=0)  # its tokenizer reads every rephrasing
    folder = tmp_path_factory.mktemp("gutted") / "build"
    shutil.copytree(synthetic_mini_dir, folder)
    for split in REPORT_ONLY:
        split_path(folder, "patient", split).unlink()
    return model, processor, folder


# Every path by which a method reads data: the loss trainer's `unlearn` (GA, GradDiff, KL, NPO and
# Forget-MI override only their losses) and CHIP's activation pass. The check below keeps it so.
DATA_PATHS = ("graddiff", "chip")


def test_the_data_paths_cover_every_method() -> None:
    from medforget_data.methods import METHODS
    from medforget_data.methods.chip import CHIP
    from medforget_data.methods.trainer import LossMethod

    for name, method in METHODS.items():
        if name in ("vanilla", "oracle"):
            continue
        if isinstance(method, LossMethod):  # reads only through the trainer's own data path
            kind = type(method)
            assert kind.unlearn is LossMethod.unlearn, name
            assert kind.retain_examples is LossMethod.retain_examples, name
        else:
            assert isinstance(method, CHIP), name


@pytest.mark.parametrize("name", DATA_PATHS)
def test_every_method_runs_with_the_report_only_files_gone(gutted, name: str) -> None:
    model, processor, folder = gutted
    dataset = BuiltDataset(folder)
    with pytest.raises(MedForgetError, match="is missing"):  # the files are really gone
        dataset.items("patient", "retain")
    record = ModelRecord(config_name="tiny", dataset_hash=dataset.dataset_hash, parameters=1)
    overrides = {"max_reference_samples": 16} if name == "chip" else {"epochs": 1, "batch_size": 16}
    config = make_config(name, overrides)
    done = apply_method(name, copy.deepcopy(model), processor, record, dataset, "patient", config)
    assert done.record.recipe.unlearn is not None and done.record.recipe.unlearn.method == name
