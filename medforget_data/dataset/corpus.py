"""The pretraining corpus: a synthetic hospital disjoint from the benchmark, for a base model that
already reads reports before the benchmark's facts are fine-tuned into it (issue 30).

Same source, renderer, task frames and shape as the benchmark build it serves, but its own
institutions, patients, MRNs, dates and images, placed from the source's reports that neither the
benchmark hierarchy nor its holdout uses (and whose text no benchmark section repeats). It is written
as a dataset folder like any build, so the one fine-tuning code path trains on it; its
`corpus.json` records the benchmark it is disjoint from and the leakage check's counts, all zero.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from medforget_data.constants import SECTIONS, TRAIN_CONFIG, TRAIN_SPLITS
from medforget_data.dataset.built import BuiltDataset
from medforget_data.dataset.folder import write_folder
from medforget_data.dataset.hierarchy import SHAPES, build_hierarchy
from medforget_data.dataset.identities import IdentityFactory
from medforget_data.dataset.load import read_split
from medforget_data.dataset.manifest import MANIFEST_FILE, BuildConfig, Manifest
from medforget_data.dataset.materialise import (
    Materialised,
    check_config,
    load_source,
    materialise_hierarchy,
    render_images,
)
from medforget_data.dataset.schema import Hierarchy, SourceReport, Study
from medforget_data.dataset.sources import Source
from medforget_data.errors import MedForgetError
from medforget_data.io import atomic_folder, folder_lock, lock_file_beside, read_model, write_model

CORPUS_FILE = "corpus.json"
CORPUS_ID_PREFIX = "corpus-"
# Bumped when what a corpus holds changes for the same build config (the cache keys corpora by it).
CORPUS_VERSION = 1
# EXAMINATION is templated from the view and comparison ("Chest radiograph, PA and lateral views. …"):
# shared wording, not a report's content, so it does not make a report the benchmark's.
REPORT_SECTIONS = tuple(name for name in SECTIONS if name != "EXAMINATION")
LEAKAGE_KINDS = (
    "institution_names",
    "patient_names",
    "mrns",
    "birth_dates",
    "study_dates",
    "report_texts",
    "image_hashes",
)


class Leakage(BaseModel):
    """How many values of each kind the corpus shares with the benchmark (every split, holdout
    included), beside how many distinct values the corpus has of that kind."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    shared: dict[str, int]
    corpus_values: dict[str, int]

    @property
    def clean(self) -> bool:
        return not any(self.shared.values())


class CorpusRecord(BaseModel):
    """`corpus.json`: which benchmark build the corpus is disjoint from, and the check that says so."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    corpus_version: int = CORPUS_VERSION
    benchmark: BuildConfig
    reports_available: int  # source reports neither used nor repeated by the benchmark
    leakage: Leakage


@dataclass(frozen=True)
class CorpusSource:
    """The benchmark's source, described as what the corpus is (the card's provenance paragraph)."""

    base: Source
    description: str

    def __getattr__(self, name: str):  # name, licence, citation, push flag, load: the base source's
        return getattr(self.base, name)


def _studies(hierarchy: Hierarchy) -> tuple[Study, ...]:
    return (*hierarchy.studies, *hierarchy.holdout_studies)


def _report_texts(studies: tuple[Study, ...]) -> set[str]:
    return {s.text for study in studies for s in study.sections if s.name in REPORT_SECTIONS}


def identity_values(hierarchy: Hierarchy) -> dict[str, set[str]]:
    """Every identifying value of a hierarchy, by kind (images aside)."""
    patients = (*hierarchy.patients, *hierarchy.holdout_patients)
    studies = _studies(hierarchy)
    return {
        "institution_names": {i.name for i in hierarchy.institutions}
        | {i.health_system for i in hierarchy.institutions},
        "patient_names": {p.name for p in patients},
        "mrns": {p.mrn for p in patients},
        "birth_dates": {p.birth_date for p in patients},
        "study_dates": {s.date for s in studies},
        "report_texts": _report_texts(studies),
    }


def leakage(
    benchmark: Hierarchy, corpus: Hierarchy, benchmark_images: set[str], corpus_images: set[str]
) -> Leakage:
    """What the corpus shares with the benchmark, per kind; images compared by sha256 of their PNG."""
    ours, theirs = identity_values(corpus), identity_values(benchmark)
    ours["image_hashes"], theirs["image_hashes"] = corpus_images, benchmark_images
    return Leakage(
        shared={kind: len(ours[kind] & theirs[kind]) for kind in LEAKAGE_KINDS},
        corpus_values={kind: len(ours[kind]) for kind in LEAKAGE_KINDS},
    )


def image_hashes(images: dict[str, bytes]) -> set[str]:
    return {hashlib.sha256(png).hexdigest() for png in images.values()}


def folder_image_hashes(folder: Path) -> set[str]:
    """The image hashes of a built folder's train and holdout splits (every study of the build)."""
    return {
        hashlib.sha256(row.image).hexdigest()
        for split in TRAIN_SPLITS
        for row in read_split(folder, TRAIN_CONFIG, split, images=True)
        if row.image
    }


def unused_reports(reports: tuple[SourceReport, ...], benchmark: Hierarchy) -> tuple[SourceReport, ...]:
    """The source's reports the benchmark neither places nor repeats the text of, in source order."""
    used = {study.report_id for study in _studies(benchmark)}
    texts = _report_texts(_studies(benchmark))
    return tuple(
        report
        for report in reports
        if report.report_id not in used
        and not any(report.sections.get(name) in texts for name in REPORT_SECTIONS)
    )


def reserved_values(benchmark: Hierarchy) -> frozenset[str]:
    """What the corpus's identity factory may not hand out: every identity value of the benchmark."""
    values = identity_values(benchmark)
    return frozenset().union(*(values[kind] for kind in values if kind != "report_texts"))


def materialise_corpus(config: BuildConfig) -> tuple[Materialised, CorpusRecord]:
    """The corpus for the benchmark build `config`, and its record (refused if anything leaks)."""
    check_config(config)
    source, loaded = load_source(config)
    shape = SHAPES[config.size]
    benchmark = build_hierarchy(loaded.reports, shape, config.seed, source.real_hierarchy)
    available = unused_reports(loaded.reports, benchmark)
    identities = IdentityFactory(f"{config.seed}-pretraining-corpus", reserved=reserved_values(benchmark))
    hierarchy = build_hierarchy(
        available,
        shape,
        config.seed,
        source.real_hierarchy,
        identities=identities,
        id_prefix=CORPUS_ID_PREFIX,
    )
    corpus_source = CorpusSource(
        base=source,
        description=(
            "A **pretraining corpus**, not the benchmark: a synthetic hospital disjoint from the MedForget "
            f"build ({config.source}, {config.size}, seed {config.seed}) — its own institutions, patients, "
            "MRNs, dates and images, from reports that build does not use. " + source.description
        ),
    )
    built = materialise_hierarchy(config, corpus_source, hierarchy, {})
    benchmark_images = image_hashes(render_images(benchmark, config))  # the images alone, not its splits
    found = leakage(benchmark, hierarchy, benchmark_images, image_hashes(built.images))
    if not found.clean:
        leaked = ", ".join(f"{kind} {n}" for kind, n in found.shared.items() if n)
        raise MedForgetError(f"the pretraining corpus shares values with the benchmark ({leaked})")
    return built, CorpusRecord(benchmark=config, reports_available=len(available), leakage=found)


def read_corpus_record(folder: Path) -> CorpusRecord:
    return read_model(Path(folder) / CORPUS_FILE, CorpusRecord, "MedForget pretraining corpus record")


def _build_corpus(config: BuildConfig, out: Path) -> Manifest:
    built, record = materialise_corpus(config)
    with atomic_folder(out, overwrite=True) as staging:
        write_model(staging / CORPUS_FILE, record)  # before the manifest: its hash covers the record
        return write_folder(built, staging)


def ensure_corpus_folder(config: BuildConfig, out: Path) -> BuiltDataset:
    """The corpus folder of `config` at `out`, built unless it is there (a concurrent first use waits)."""
    with folder_lock(lock_file_beside(out), f"{out} is being built by another medforget process", wait=True):
        if not (Path(out) / MANIFEST_FILE).is_file() or not (Path(out) / CORPUS_FILE).is_file():
            _build_corpus(config, out)
    return BuiltDataset(out)
