"""Materialise a build: source → hierarchy → items → splits per level, plus one image per study."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from medforget_data import progress
from medforget_data.constants import HOLDOUT_SPLIT, LEVELS, SIZES, TRAIN_CONFIG, TRAIN_SPLIT
from medforget_data.dataset.hierarchy import SHAPES, build_hierarchy
from medforget_data.dataset.manifest import BuildConfig
from medforget_data.dataset.rendering import encode_png, patient_anatomy, render_radiograph
from medforget_data.dataset.schema import Hierarchy, QAItem, Study
from medforget_data.dataset.sources import SOURCE_NAMES, Source, SourceLoad, SourceOptions, get_source
from medforget_data.dataset.splits import LevelTargets, choose_targets, choose_unlearner_nodes, partition
from medforget_data.dataset.tasks import hierarchy_items
from medforget_data.errors import MedForgetError, check_choice


@dataclass(frozen=True)
class Materialised:
    config: BuildConfig
    source: Source
    hierarchy: Hierarchy
    splits: dict[str, dict[str, list[QAItem]]]  # config -> split -> items
    targets: dict[str, LevelTargets]
    images: dict[str, bytes]  # study id -> PNG
    skipped_reports: dict[str, int]


def _real_image(study: Study, size: int) -> bytes:
    """A source's own image, centre-cropped to a square and resized to the build's size."""
    try:
        with Image.open(study.image_path or "") as image:
            gray = image.convert("L")
    except (OSError, UnidentifiedImageError) as error:
        raise MedForgetError(f"cannot read image {study.image_path}: {error}") from None
    side = min(gray.size)
    left, top = (gray.width - side) // 2, (gray.height - side) // 2
    return encode_png(gray.crop((left, top, left + side, top + side)).resize((size, size), Image.BILINEAR))


def render_images(hierarchy: Hierarchy, config: BuildConfig) -> dict[str, bytes]:
    patients = {p.id: p for p in (*hierarchy.patients, *hierarchy.holdout_patients)}
    studies = (*hierarchy.studies, *hierarchy.holdout_studies)
    images: dict[str, bytes] = {}
    anatomies = {pid: patient_anatomy(pid, config.seed) for pid in patients}
    for study in progress.bar(studies, desc="rendering radiographs", unit="image"):
        if study.image_path:
            images[study.id] = _real_image(study, config.image_size)
        else:
            image = render_radiograph(
                anatomies[study.patient_id], study.findings, study.view, study.id, size=config.image_size
            )
            images[study.id] = encode_png(image)
    return images


def check_config(config: BuildConfig) -> None:
    check_choice("size", config.size, SIZES)
    check_choice("source", config.source, SOURCE_NAMES)
    if not 32 <= config.image_size <= 1024:
        raise MedForgetError(f"image size {config.image_size} is out of range 32..1024")


def load_source(config: BuildConfig) -> tuple[Source, SourceLoad]:
    source = get_source(config.source)
    options = SourceOptions(seed=config.seed, mimic_root=config.mimic_root, max_patients=config.max_patients)
    return source, source.load(options)


def materialise(config: BuildConfig) -> Materialised:
    check_config(config)
    source, loaded = load_source(config)
    hierarchy = build_hierarchy(loaded.reports, SHAPES[config.size], config.seed, source.real_hierarchy)
    return materialise_hierarchy(config, source, hierarchy, loaded.skipped)


def materialise_hierarchy(
    config: BuildConfig, source: Source, hierarchy: Hierarchy, skipped_reports: dict[str, int]
) -> Materialised:
    """Items, splits per level and images of a placed hierarchy (a benchmark's or a corpus's)."""
    if len(hierarchy.patients) < 4 or not hierarchy.holdout_patients:
        raise MedForgetError(
            f"source {config.source} gave too few usable reports ({len(hierarchy.patients)} patients "
            f"placed, {len(hierarchy.holdout_patients)} held out) for a hierarchy with siblings at every "
            "level and a holdout"
        )
    items = hierarchy_items(hierarchy, config.seed)
    holdout = [
        item for item in hierarchy_items(hierarchy, config.seed, holdout=True) if item.variant == "original"
    ]
    splits: dict[str, dict[str, list[QAItem]]] = {
        TRAIN_CONFIG: {TRAIN_SPLIT: [i for i in items if i.variant == "original"], HOLDOUT_SPLIT: holdout}
    }
    targets: dict[str, LevelTargets] = {}
    for level in LEVELS:
        try:
            chosen = choose_targets(items, hierarchy, level, config.seed)
            targets[level] = choose_unlearner_nodes(items, hierarchy, chosen, config.seed)
        except ValueError as error:
            raise MedForgetError(str(error)) from None
        splits[level] = {**partition(items, hierarchy, targets[level]), HOLDOUT_SPLIT: holdout}
    images = render_images(hierarchy, config)
    return Materialised(
        config=config,
        source=source,
        hierarchy=hierarchy,
        splits=splits,
        targets=targets,
        images=images,
        skipped_reports=skipped_reports,
    )
