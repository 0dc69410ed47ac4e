"""The split invariants of design §6, checked on items in memory or on a built folder."""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from pathlib import Path

from medforget_data.constants import (
    HOLDOUT_SPLIT,
    LEVEL_SPLITS,
    LEVELS,
    PARTITION_SPLITS,
    TRAIN_CONFIG,
    TRAIN_SPLIT,
    TRAIN_SPLITS,
    UNLEARNER_SPLITS,
)
from medforget_data.dataset.manifest import (
    MANIFEST_FILE,
    Manifest,
    read_manifest,
)
from medforget_data.dataset.schema import Hierarchy, QAItem
from medforget_data.dataset.sources import get_source
from medforget_data.dataset.splits import node_at, parent_key, unit_at
from medforget_data.errors import MedForgetError
from medforget_data.io import sha256_file

Splits = dict[str, dict[str, list[QAItem]]]
# The splits of a level that partition `train` by node: the reported three and the unlearner's halves.
TRAIN_PARTITION: tuple[str, ...] = (*PARTITION_SPLITS, *UNLEARNER_SPLITS)
SIBLING_SPLITS: tuple[str, ...] = ("sibling", "unlearn_sibling")
RETAIN_SPLITS: tuple[str, ...] = ("retain", "unlearn_retain")
# What a rephrased row has of its own; everything else (answer, options, task, node, …) is its original's.
REPHRASED_OWN_FIELDS = frozenset({"id", "question", "variant", "train_questions"})


def _differing(row: QAItem, reference: QAItem, own: frozenset[str] = frozenset()) -> list[str]:
    """The fields (beyond `own`) in which `row` differs from `reference`."""
    return [
        name
        for name in QAItem.model_fields
        if name not in own and getattr(row, name) != getattr(reference, name)
    ]


def check_rows(splits: Splits) -> list[str]:
    """Row-level invariants the id-set checks cannot see: no id twice within a split (scoring would
    count the item twice); a level's row of a `train` (or holdout) item is that item, field for field;
    a rephrased row differs from its original only in wording."""
    problems: list[str] = []
    for config, by_split in splits.items():
        for split, items in by_split.items():
            repeated = [(id_, n) for id_, n in Counter(item.id for item in items).items() if n > 1]
            problems += [f"{config}/{split} holds item {id_} {n} times" for id_, n in repeated]
    reference = {
        item.id: item for split in TRAIN_SPLITS for item in splits.get(TRAIN_CONFIG, {}).get(split, [])
    }
    for level in LEVELS:
        for split, items in splits.get(level, {}).items():
            for item in items:
                if item.id in reference and (fields := _differing(item, reference[item.id])):
                    where = f"{level}/{split} row {item.id}"
                    problems.append(f"{where} differs from its {TRAIN_CONFIG} row ({', '.join(fields)})")
                original = reference.get(item.group_id) if item.variant == "rephrased" else None
                if original and (fields := _differing(item, original, REPHRASED_OWN_FIELDS)):
                    problems.append(
                        f"{level}/{split} row {item.id} differs from its original {original.id} "
                        f"({', '.join(fields)})"
                    )
    return problems


def check_images(dataset_dir: Path, manifest: Manifest) -> list[str]:
    """Every row's image decodes as a build writes it (PNG, grayscale, the build's size), and all rows
    of a study carry the same image: the file hashes say only that nothing changed since the manifest."""
    from medforget_data.dataset.examples import decode_study_image
    from medforget_data.dataset.load import read_parquet, split_path

    problems: list[str] = []
    verdicts: dict[str, str] = {}  # sha256 of an image → its problem ("" when none): one decode each
    study_images: dict[str, str] = {}  # study → the sha256 of its image
    for config, by_split in manifest.counts.items():
        for split in by_split:
            table = read_parquet(split_path(dataset_dir, config, split), columns=["id", "study_id", "image"])
            for batch in table.to_batches():  # Python copies of one batch's images at a time, not a split's
                for row in batch.to_pylist():
                    encoded = (row["image"] or {}).get("bytes")
                    digest = hashlib.sha256(encoded).hexdigest() if encoded else ""
                    if digest not in verdicts:
                        try:
                            decode_study_image(encoded, manifest.build.image_size)
                            verdicts[digest] = ""
                        except MedForgetError as error:
                            verdicts[digest] = str(error)
                    where = f"{config}/{split} item {row['id']}"
                    if verdicts[digest]:
                        problems.append(f"{where}: {verdicts[digest]}")
                    elif study_images.setdefault(row["study_id"], digest) != digest:
                        problems.append(
                            f"{where}: its image differs from the other rows of study {row['study_id']}"
                        )
    return problems


def check_level(
    level: str,
    splits: dict[str, list[QAItem]],
    train: list[QAItem],
    targets: set[tuple[str, ...]],
    hierarchy: Hierarchy,
) -> list[str]:
    """Violations of one level's invariants (empty when all hold)."""
    problems: list[str] = []
    for split in LEVEL_SPLITS:
        if not splits.get(split):
            problems.append(f"{level}/{split} is empty")
    ids = {split: {item.id for item in splits.get(split, [])} for split in TRAIN_PARTITION}
    union = set().union(*ids.values())
    if sum(len(v) for v in ids.values()) != len(union):
        problems.append(f"{level}: {', '.join(TRAIN_PARTITION)} overlap")
    if union != {item.id for item in train}:
        problems.append(f"{level}: the union of {', '.join(TRAIN_PARTITION)} differs from train")
    health_system = hierarchy.health_systems()
    target_parents = {parent_key(node, level, health_system) for node in targets}
    split_of_node: dict[tuple[str, ...], set[str]] = defaultdict(set)
    for split in TRAIN_PARTITION:
        for item in splits.get(split, []):
            node = node_at(item, level)
            split_of_node[unit_at(item, level)].add(split)
            in_target = node is not None and node in targets
            if in_target != (split == "forget"):
                problems.append(
                    f"{level}: item {item.id} (node {node}) is in {split} but "
                    f"{'is' if in_target else 'is not'} under a forget target"
                )
            shares_parent = node is not None and parent_key(node, level, health_system) in target_parents
            if split in SIBLING_SPLITS and not shares_parent:
                problems.append(f"{level}: {split} item {item.id} shares no parent with a target")
            if split in RETAIN_SPLITS and shares_parent:
                problems.append(f"{level}: {split} item {item.id} shares a parent with a target")
    for node, found in split_of_node.items():
        if len(found) > 1:
            problems.append(f"{level}: node {node} is split across {sorted(found)}")
    for split in PARTITION_SPLITS:
        originals = {item.group_id for item in splits.get(split, [])}
        rephrased = splits.get(f"{split}_rephrased", [])
        if {item.group_id for item in rephrased} != originals or any(
            i.variant != "rephrased" for i in rephrased
        ):
            problems.append(f"{level}/{split}_rephrased does not rephrase exactly the items of {split}")
    return problems


def check_splits(splits: Splits, targets: dict[str, list[list[str]]], hierarchy: Hierarchy) -> list[str]:
    """Violations of every invariant across configs (empty when all hold)."""
    problems: list[str] = []
    train = splits.get(TRAIN_CONFIG, {}).get(TRAIN_SPLIT, [])
    for split in TRAIN_SPLITS:
        if not splits.get(TRAIN_CONFIG, {}).get(split):
            problems.append(f"{TRAIN_CONFIG}/{split} is empty")
    if any(item.variant != "original" for item in train):
        problems.append("train holds a rephrased item")
    if any(not item.train_questions for item in train):
        problems.append("train holds an item without its training wordings")
    # Any training wording, of any item: a rephrased split asking one would test recall, not rephrasing.
    trained = {question for item in train for question in (item.question, *item.train_questions)}
    holdout = splits.get(TRAIN_CONFIG, {}).get(HOLDOUT_SPLIT, [])
    shared = {i.patient_id for i in holdout} & {i.patient_id for i in train}
    if shared:
        problems.append(f"holdout shares patients with train: {sorted(shared)[:3]}")
    problems += check_rows(splits)
    for level in LEVELS:
        if level not in splits:
            problems.append(f"config {level} is missing")
            continue
        # each level's holdout is train's holdout, item for item: never a trained (forget) row
        level_holdout = [item.id for item in splits[level].get(HOLDOUT_SPLIT, [])]
        if sorted(level_holdout) != sorted(item.id for item in holdout):
            problems.append(f"{level}/{HOLDOUT_SPLIT} differs from {TRAIN_CONFIG}/{HOLDOUT_SPLIT}")
        level_targets = {tuple(node) for node in targets.get(level, [])}
        if not level_targets:
            problems.append(f"{level} has no forget target")
        problems += check_level(level, splits[level], train, level_targets, hierarchy)
        for split in PARTITION_SPLITS:
            leaked = [i.id for i in splits[level].get(f"{split}_rephrased", []) if i.question in trained]
            if leaked:
                problems.append(f"{level}/{split}_rephrased asks a training wording: {leaked[:3]}")
    return problems


def verify_folder(dataset_dir: Path) -> list[str]:
    """Hashes first (a tampered file is named), then every split invariant, then every image."""
    from medforget_data.dataset.load import read_split_items

    dataset_dir = Path(dataset_dir)
    manifest: Manifest = read_manifest(dataset_dir)
    problems: list[str] = []
    on_disk = {p.relative_to(dataset_dir).as_posix() for p in dataset_dir.rglob("*") if p.is_file()} - {
        MANIFEST_FILE
    }
    for missing in sorted(set(manifest.files) - on_disk):
        problems.append(f"file {missing} listed in the manifest is missing")
    for extra in sorted(on_disk - set(manifest.files)):
        problems.append(f"file {extra} is not in the manifest")
    for path, digest in sorted(manifest.files.items()):
        if path in on_disk and sha256_file(dataset_dir / path) != digest:
            problems.append(f"file {path} does not match its manifest hash")
    if Manifest.hash_files(manifest.files) != manifest.dataset_hash:
        problems.append("manifest dataset_hash does not match its file hashes")
    if manifest.content_hash != manifest.compute_content_hash():
        problems.append("manifest content (counts, licence, targets, …) does not match its content_hash")
    source = get_source(manifest.build.source)
    if (manifest.licence, manifest.public_push_allowed) != (source.licence, source.public_push_allowed):
        problems.append(f"manifest licence fields differ from those of source {source.name}")
    if problems:
        return problems
    hierarchy = Hierarchy.read(dataset_dir)
    splits: Splits = {
        config: {split: read_split_items(dataset_dir, config, split) for split in by_split}
        for config, by_split in manifest.counts.items()
    }
    for config, by_split in manifest.counts.items():
        for split, count in by_split.items():
            if len(splits[config][split]) != count:
                rows = len(splits[config][split])
                problems.append(f"{config}/{split} has {rows} rows, manifest says {count}")
    return problems + check_splits(splits, manifest.targets, hierarchy) + check_images(dataset_dir, manifest)
