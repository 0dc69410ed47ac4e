"""The pretraining corpus shares no identity, date, report text or image with the benchmark (issue 30)."""

from __future__ import annotations

import hashlib
import re

import pytest

from medforget_data.dataset.corpus import (
    CORPUS_FILE,
    ensure_corpus_folder,
    materialise_corpus,
    read_corpus_record,
)
from medforget_data.dataset.folder import build_dataset_folder
from medforget_data.dataset.invariants import verify_folder
from medforget_data.dataset.manifest import BuildConfig
from medforget_data.dataset.materialise import materialise

DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
MRN = re.compile(r"MRN-\d{8}")


def benchmark_values(built) -> dict[str, set[str]]:
    """Every identifying value any benchmark split shows, read from the items (every config and split)
    and the nodes they name: names, MRNs, dates, report sections, image bytes."""
    hierarchy = built.hierarchy
    institutions = {i.id: i for i in hierarchy.institutions}
    patients = {p.id: p for p in (*hierarchy.patients, *hierarchy.holdout_patients)}
    studies = {s.id: s for s in (*hierarchy.studies, *hierarchy.holdout_studies)}
    values: dict[str, set[str]] = {k: set() for k in ("names", "mrns", "dates", "texts", "images")}
    for by_split in built.splits.values():
        for items in by_split.values():
            for item in items:
                institution, patient, study = (
                    institutions[item.institution_id],
                    patients[item.patient_id],
                    studies[item.study_id],
                )
                values["names"] |= {institution.name, institution.health_system, patient.name}
                values["mrns"].add(patient.mrn)
                values["dates"] |= {patient.birth_date, study.date}
                values["texts"] |= {s.text for s in study.sections if s.name != "EXAMINATION"}
                values["images"].add(hashlib.sha256(built.images[item.study_id]).hexdigest())
    return values


@pytest.mark.parametrize("size", ["mini", "full"])
def test_the_corpus_holds_no_value_of_any_benchmark_split(size: str) -> None:
    config = BuildConfig(size=size)
    built = materialise(config)
    benchmark = benchmark_values(built)
    corpus, record = materialise_corpus(config)
    # every string the corpus trains on: questions in every wording, answers, options
    texts = [
        text
        for by_split in corpus.splits.values()
        for items in by_split.values()
        for item in items
        for text in (item.question, *item.train_questions, item.answer, *item.options)
    ]
    blob = "\n".join(texts)
    assert not {name for name in benchmark["names"] if name in blob}
    assert not set(MRN.findall(blob)) & benchmark["mrns"]
    assert not set(DATE.findall(blob)) & benchmark["dates"]
    # a section asked as generation answers with its whole text (a cloze answer may be one word of it)
    section_answers = {
        item.answer
        for item in corpus.splits["train"]["train"]
        if item.section is not None and item.task == "generation"
    }
    assert section_answers and not section_answers & benchmark["texts"]
    corpus_sections = {s.text for study in corpus.hierarchy.studies for s in study.sections}
    assert not corpus_sections & benchmark["texts"]
    assert not {hashlib.sha256(png).hexdigest() for png in corpus.images.values()} & benchmark["images"]
    # the record says the same, and the corpus has the benchmark's shape (as many patients)
    assert record.leakage.clean and record.benchmark == config
    assert len(corpus.hierarchy.patients) == len(built.hierarchy.patients)


def test_the_corpus_folder_is_a_verified_build_and_is_deterministic(tmp_path) -> None:
    config = BuildConfig(size="mini")
    first = ensure_corpus_folder(config, tmp_path / "a")
    second = ensure_corpus_folder(config, tmp_path / "b")
    assert first.dataset_hash == second.dataset_hash
    assert verify_folder(first.folder) == []
    assert CORPUS_FILE in first.manifest.files  # the record is covered by the folder's hash
    record = read_corpus_record(first.folder)
    assert record.leakage.clean and set(record.leakage.shared) >= {"patient_names", "image_hashes"}
    benchmark = build_dataset_folder(config, tmp_path / "benchmark")
    assert benchmark.dataset_hash != first.dataset_hash
    assert all(i.id.startswith("corpus-") for i in first.items("train", "train")[:1])
