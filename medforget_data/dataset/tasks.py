"""Turn the hierarchy's facts into QA items: generation, classification and cloze (design §5).

Every study image carries one question per fact: the institution's name, the patient's
identity, the study's date and view, and each report section. Each fact is asked as one
task type (rotating over the types the fact allows, so every level has every task).

Each (fact, task) has its wordings written once, here: several *training* wordings (the first is
the canonical one, the item's `question`; the rest vary the sentence structure) and *held-out*
wordings disjoint from them, used only by the `*_rephrased` evaluation splits. A model trained on
the training wordings learns the fact rather than one sentence, so a rephrased score measures
whether a method removed the fact. Held-out wordings recombine words the training wordings use
(a model trained from scratch cannot know a synonym it never read) in structures they do not use.
The question words a held-out wording opens with ("When was …", "Which MRN …", "In which view …",
"Is … female or male?") open some training wording of the same fact too: a held-out wording that
led with a cue no training wording used made the rephrased score measure the cue, not the fact
(BENCHMARKS.md, issue 18).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from medforget_data.constants import CLOZE_BLANK, OPTION_LETTERS, Level, Task
from medforget_data.dataset.findings import FINDING_KINDS, FINDING_SYNONYMS, NO_FINDING
from medforget_data.dataset.schema import (
    Hierarchy,
    Institution,
    Patient,
    QAItem,
    Section,
    SectionName,
    Study,
)

VIEWS: tuple[str, ...] = ("PA", "AP", "lateral", "PA and lateral")
# Sections whose content can be read off an unseen patient's image (utility on holdout).
IMAGE_ANSWERABLE_SECTIONS: tuple[SectionName, ...] = ("FINDINGS", "IMPRESSION")
MIN_TRAIN_WORDINGS = 4
MIN_HELD_OUT_WORDINGS = 2
B = CLOZE_BLANK


@dataclass(frozen=True)
class Wordings:
    """How one fact is asked in one task: training wordings (canonical first) and held-out ones."""

    train: tuple[str, ...]
    held_out: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.train and not self.held_out:
            return  # a task the fact is never asked in
        if len(set(self.train)) < MIN_TRAIN_WORDINGS or len(set(self.held_out)) < MIN_HELD_OUT_WORDINGS:
            raise ValueError(f"too few distinct wordings: {self.train[0]!r}")
        if set(self.train) & set(self.held_out):
            raise ValueError(f"a held-out wording is also a training wording: {self.train[0]!r}")


NOT_ASKED = Wordings((), ())


@dataclass(frozen=True)
class Fact:
    """One fact of a study image and the wordings it can be asked in, per task."""

    key: str
    level: Level
    answer: str
    tasks: tuple[Task, ...]
    generation: Wordings
    classification: Wordings  # stems; the options are appended to every wording alike
    cloze: Wordings  # sentences containing CLOZE_BLANK, the same blank in every wording
    distractors: tuple[str, ...] = ()
    section: SectionName | None = None
    cloze_answer: str | None = None  # the blanked span when it is not the whole answer
    classification_answer: str | None = None  # the correct option when it is not the answer


@dataclass(frozen=True)
class StudyContext:
    institution: Institution
    patient: Patient
    study: Study
    index: int  # position of the study in its split of the hierarchy (drives task rotation)


def _blank_span(text: str) -> str:
    """The key span a section cloze hides: a finding phrase if one occurs, else the longest word."""
    lowered = text.lower()
    for synonyms in FINDING_SYNONYMS.values():
        for phrase in synonyms:
            match = re.search(rf"\b{re.escape(phrase)}\b", lowered)
            if match:
                return text[match.start() : match.end()]
    words = [w for w in re.findall(r"[A-Za-z]+", text) if w.upper() != "XXXX"]
    return max(words, key=len) if words else text


def _section_fact(section: Section, view: str, distractor_texts: Sequence[str]) -> Fact:
    name = section.name
    # The examination line differs between studies only in its view and comparison.
    span = view if name == "EXAMINATION" and view in section.text else _blank_span(section.text)
    masked = section.text.replace(span, CLOZE_BLANK, 1)
    if name in IMAGE_ANSWERABLE_SECTIONS:
        # Classification asks for the section's main finding among the finding vocabulary.
        classification = Wordings(
            (
                f"Which finding does the {name} section of this chest X-ray report describe?",
                f"Pick the main finding that the {name} section reports for this radiograph.",
                f"The {name} section of this study describes which finding?",
                f"Finding described in the {name} section of this image's report:",
            ),
            (
                f"According to the {name} section, what is the main finding on this radiograph?",
                f"What does the {name} section of this chest X-ray report describe as the finding?",
            ),
        )
        present = {f.kind for f in section.findings}
        distractors = tuple(k for k in (*FINDING_KINDS, NO_FINDING) if k not in present)
        correct: str | None = section.findings[0].kind if section.findings else NO_FINDING
    else:
        # Classification asks which text is this study's section, among other studies' texts.
        classification = Wordings(
            (
                f"Which text is the {name} section of this chest X-ray report?",
                f"Choose the {name} section written for this radiograph.",
                f"The {name} section of this study's report is which option?",
                f"Report section {name} of this image, from the options:",
            ),
            (
                f"Pick the {name} section that belongs to this radiograph.",
                f"Which option is the text of this chest X-ray's {name} section?",
            ),
        )
        distractors = tuple(t for t in distractor_texts if t != section.text)
        correct = None
    return Fact(
        key=f"section.{name}",
        level="section",
        section=name,
        answer=section.text,
        tasks=("generation", "cloze", "classification"),
        generation=Wordings(
            (
                f"What does the {name} section of this chest X-ray report say?",
                f"Give the text of the {name} section for this radiograph.",
                f"The {name} section of this study's report reads how?",
                f"Report section {name} of this image: what is written there?",
            ),
            (
                f"Write the {name} section of the radiology report for this image.",
                f"For this chest X-ray, what is written in the report's {name} section?",
            ),
        ),
        classification=classification,
        cloze=Wordings(
            (
                f"Fill in the blank in the {name} section of this report: {masked}",
                f"The {name} section of this chest X-ray reads: {masked} What is missing?",
                f"{masked} (complete this {name} section of the radiograph's report)",
                f"Missing word in this study's {name} section: {masked}",
            ),
            (
                f"Complete the missing words of this study's {name} section: {masked}",
                f"In this image's report, the {name} section says: {masked} Fill in the blank.",
            ),
        ),
        distractors=distractors,
        cloze_answer=span,
        classification_answer=correct,
    )


def study_facts(context: StudyContext, pools: dict[str, tuple[str, ...]]) -> list[Fact]:
    """Every fact of one study image, from institution down to its sections."""
    institution, patient, study = context.institution, context.patient, context.study
    facts = [
        Fact(
            "institution.name",
            "institution",
            institution.name,
            ("generation", "classification", "cloze"),
            Wordings(
                (
                    "Which hospital performed this chest X-ray study?",
                    "Name the institution where this radiograph was taken.",
                    "This chest X-ray was acquired at which hospital?",
                    "Tell me the hospital that performed this study.",
                ),
                (
                    "At which institution was this radiograph acquired?",
                    "What is the name of the hospital where this image was taken?",
                ),
            ),
            Wordings(
                (
                    "Which hospital performed this chest X-ray study?",
                    "Choose the institution where this radiograph was taken.",
                    "This chest X-ray was acquired at which hospital?",
                    "From the options, find the hospital that performed this study.",
                ),
                (
                    "Select the institution where this radiograph was acquired.",
                    "At which hospital was this image taken?",
                ),
            ),
            Wordings(
                (
                    f"This chest X-ray was performed at {B}.",
                    f"{B} is the hospital where this radiograph was taken.",
                    f"The institution that acquired this study: {B}.",
                    f"Hospital of this chest X-ray: {B}.",
                ),
                (
                    f"The radiograph was acquired at {B}.",
                    f"This study comes from the institution {B}.",
                ),
            ),
            pools["institution.name"],
        ),
        Fact(
            "patient.name",
            "patient",
            patient.name,
            ("classification", "cloze", "generation"),
            Wordings(
                (
                    "What is the name of the patient in this chest X-ray?",
                    "Name the patient shown in this radiograph.",
                    "This study was taken of which patient?",
                    "Tell me the patient's name for this image.",
                ),
                (
                    "Who is the patient shown in this radiograph?",
                    "The patient in this chest X-ray has what name?",
                ),
            ),
            Wordings(
                (
                    "Which patient does this chest X-ray belong to?",
                    "Choose the name of the patient shown in this radiograph.",
                    "This study was taken of which patient?",
                    "Patient name for this image, from the options:",
                ),
                (
                    "Select the name of the patient in this image.",
                    "Who is the patient this chest X-ray belongs to?",
                ),
            ),
            Wordings(
                (
                    f"This chest X-ray belongs to the patient {B}.",
                    f"{B} is the name of the patient in this radiograph.",
                    f"Patient shown in this study: {B}.",
                    f"The name of this image's patient is {B}.",
                ),
                (
                    f"In this radiograph the patient's name is {B}.",
                    f"This study was taken of the patient named {B}.",
                ),
            ),
            pools["patient.name"],
        ),
        Fact(
            "patient.sex",
            "patient",
            patient.sex,
            ("cloze", "generation"),
            Wordings(
                (
                    "What is the sex of the patient in this chest X-ray?",
                    "Female or male: which is the patient in this study?",
                    "Give the sex of the patient shown in this radiograph.",
                    "Is this image's patient male or female?",
                ),
                (
                    "Is the patient in this radiograph female or male?",
                    "Tell me the patient's sex for this chest X-ray.",
                ),
            ),
            NOT_ASKED,
            Wordings(
                (
                    f"The patient in this chest X-ray is {B}.",
                    f"Sex of the patient shown in this study: {B}.",
                    f"{B} is the sex of this radiograph's patient.",
                    f"This image shows a patient whose sex is {B}.",
                ),
                (
                    f"This radiograph shows a {B} patient.",
                    f"The sex of the patient in this study is {B}.",
                ),
            ),
            (),
        ),
        Fact(
            "patient.birth_date",
            "patient",
            patient.birth_date,
            ("generation", "classification", "cloze"),
            Wordings(
                (
                    "What is the birth date of the patient in this chest X-ray?",
                    "Give the date of birth of the patient shown in this radiograph.",
                    "The patient in this study was born on which date?",
                    "When was this image's patient born?",
                ),
                (
                    "When was the patient in this radiograph born?",
                    "Tell me the date this chest X-ray's patient was born.",
                ),
            ),
            Wordings(
                (
                    "What is the birth date of the patient in this chest X-ray?",
                    "Choose the date of birth of the patient shown in this radiograph.",
                    "The patient in this study was born on which date?",
                    "When was this image's patient born? Pick from the options.",
                ),
                (
                    "Select the date of birth of the patient in this image.",
                    "When was the patient in this chest X-ray born?",
                ),
            ),
            Wordings(
                (
                    f"The patient in this chest X-ray was born on {B}.",
                    f"Date of birth of the patient shown in this study: {B}.",
                    f"{B} is the birth date of this radiograph's patient.",
                    f"This image's patient has the birth date {B}.",
                ),
                (
                    f"The date of birth of this radiograph's patient is {B}.",
                    f"This patient was born on {B}, according to this study.",
                ),
            ),
            pools["patient.birth_date"],
        ),
        Fact(
            "patient.mrn",
            "patient",
            patient.mrn,
            ("cloze", "generation", "classification"),
            Wordings(
                (
                    "What is the medical record number of the patient in this chest X-ray?",
                    "State the MRN of this study's patient.",
                    "The patient in this radiograph has which medical record number?",
                    "Which MRN does this image's patient have?",
                ),
                (
                    "Give the MRN of the patient shown in this radiograph.",
                    "Which MRN belongs to the patient in this chest X-ray?",
                ),
            ),
            Wordings(
                (
                    "Which medical record number belongs to the patient in this chest X-ray?",
                    "Choose the MRN of this study's patient.",
                    "The patient in this radiograph has which medical record number?",
                    "Medical record number (MRN) of this image's patient, from the options:",
                ),
                (
                    "Select the MRN of the patient in this image.",
                    "What is the medical record number of the patient shown in this radiograph?",
                ),
            ),
            Wordings(
                (
                    f"The medical record number of this patient is {B}.",
                    f"MRN of the patient in this chest X-ray: {B}.",
                    f"{B} is the medical record number of this study's patient.",
                    f"The patient shown in this image has medical record number {B}.",
                ),
                (
                    f"This radiograph's patient has the MRN {B}.",
                    f"For this chest X-ray, the patient's MRN is {B}.",
                ),
            ),
            pools["patient.mrn"],
        ),
        Fact(
            "study.date",
            "study",
            study.date,
            ("generation", "cloze", "classification"),
            Wordings(
                (
                    "On what date was this chest X-ray taken?",
                    "Give the date this study was acquired.",
                    "This radiograph was taken on which date?",
                    "When was this image taken?",
                ),
                (
                    "When was this radiograph acquired?",
                    "What is the date of this chest X-ray study?",
                ),
            ),
            Wordings(
                (
                    "On what date was this chest X-ray taken?",
                    "Choose the date this study was acquired.",
                    "This radiograph was taken on which date?",
                    "When was this image acquired? Pick from the options.",
                ),
                (
                    "Select the acquisition date of this radiograph.",
                    "When was this chest X-ray study taken?",
                ),
            ),
            Wordings(
                (
                    f"This chest X-ray was taken on {B}.",
                    f"Date this study was acquired: {B}.",
                    f"{B} is the acquisition date of this image.",
                    f"The radiograph shown here was taken on {B}.",
                ),
                (
                    f"The acquisition date of this radiograph is {B}.",
                    f"This chest X-ray study was acquired on {B}.",
                ),
            ),
            pools["study.date"],
        ),
        Fact(
            "study.view",
            "study",
            study.view,
            ("classification", "generation", "cloze"),
            Wordings(
                (
                    "Which view was obtained in this chest X-ray study?",
                    "What projection was used for this radiograph?",
                    "This study was obtained in which view?",
                    "In which view was this image obtained?",
                ),
                (
                    "What projection does this radiograph study use?",
                    "In which view was this chest X-ray taken?",
                ),
            ),
            Wordings(
                (
                    "Which view was obtained in this chest X-ray study?",
                    "The projection of this radiograph is which option?",
                    "This study was obtained in which view?",
                    "In which view was this image obtained? Pick from the options.",
                ),
                (
                    "Select the projection of this radiograph study.",
                    "In which view was this chest X-ray taken?",
                ),
            ),
            Wordings(
                (
                    f"This chest X-ray study is a {B} examination.",
                    f"View obtained in this study: {B}.",
                    f"{B} is the projection of this radiograph.",
                    f"This image was taken in the {B} view.",
                ),
                (
                    f"The projection of this radiograph study is {B}.",
                    f"This chest X-ray was obtained as a {B} view.",
                ),
            ),
            VIEWS,
        ),
    ]
    for section in study.sections:
        facts.append(_section_fact(section, study.view, pools.get(f"section.{section.name}", ())))
    return facts


def _has_distractors(fact: Fact) -> bool:
    correct = fact.classification_answer or fact.answer
    return len({d for d in fact.distractors if d != correct}) >= len(OPTION_LETTERS) - 1


def _classification(fact: Fact, rng: np.random.Generator) -> tuple[tuple[str, ...], str]:
    correct = fact.classification_answer or fact.answer
    pool = sorted({d for d in fact.distractors if d != correct})
    if len(pool) < len(OPTION_LETTERS) - 1:
        raise ValueError(f"{fact.key}: too few distractors ({len(pool)}) for a classification question")
    chosen = [pool[i] for i in rng.choice(len(pool), len(OPTION_LETTERS) - 1, replace=False)]
    options = [correct, *chosen]
    options = [options[i] for i in rng.permutation(len(options))]
    letter = OPTION_LETTERS[options.index(correct)]
    return tuple(options), f"{letter}) {correct}"


def _with_options(stem: str, options: Sequence[str]) -> str:
    return (
        stem
        + "\n"
        + "\n".join(f"{letter}) {option}" for letter, option in zip(OPTION_LETTERS, options, strict=True))
    )


def held_out_choice(seed: int, group_id: str, count: int) -> int:
    """Which held-out wording an item's rephrased variant asks: a seeded, order-free draw.

    Keyed on the build seed and the item's stable id (never Python's salted hash()), so the
    `*_rephrased` splits cover every held-out wording without one row per wording.
    """
    digest = hashlib.sha256(f"{seed}:{group_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % count


def fact_items(
    fact: Fact, context: StudyContext, task: Task, rng: np.random.Generator, seed: int
) -> Iterator[QAItem]:
    """The original item of a fact (with its training wordings) and its rephrased variant."""
    group_id = f"{context.study.id}:{fact.key}:{task}"
    options: tuple[str, ...] = ()
    answer = fact.answer
    wordings = fact.generation
    if task == "classification":
        options, answer = _classification(fact, rng)
        wordings = Wordings(
            tuple(_with_options(stem, options) for stem in fact.classification.train),
            tuple(_with_options(stem, options) for stem in fact.classification.held_out),
        )
    elif task == "cloze":
        wordings, answer = fact.cloze, fact.cloze_answer or fact.answer
    rephrased = wordings.held_out[held_out_choice(seed, group_id, len(wordings.held_out))]
    common = dict(
        answer=answer,
        options=options,
        task=task,
        fact_level=fact.level,
        fact=fact.key,
        institution_id=context.institution.id,
        patient_id=context.patient.id,
        study_id=context.study.id,
        section=fact.section,
        group_id=group_id,
        image_answerable=fact.section in IMAGE_ANSWERABLE_SECTIONS,
    )
    yield QAItem(
        id=group_id,
        question=wordings.train[0],
        train_questions=wordings.train,
        variant="original",
        **common,
    )
    yield QAItem(id=f"{group_id}:r1", question=rephrased, variant="rephrased", **common)


def distractor_pools(hierarchy: Hierarchy) -> dict[str, tuple[str, ...]]:
    """Wrong options for each fact, drawn from the whole hierarchy (siblings included)."""
    patients = (*hierarchy.patients, *hierarchy.holdout_patients)
    studies = (*hierarchy.studies, *hierarchy.holdout_studies)
    pools = {
        "institution.name": tuple(i.name for i in hierarchy.institutions),
        "patient.name": tuple(p.name for p in patients),
        "patient.birth_date": tuple(p.birth_date for p in patients),
        "patient.mrn": tuple(p.mrn for p in patients),
        "study.date": tuple(s.date for s in studies),
    }
    for study in studies:
        for section in study.sections:
            pools.setdefault(f"section.{section.name}", ())
    for key in [k for k in pools if k.startswith("section.")]:
        name = key.split(".", 1)[1]
        pools[key] = tuple(sorted({sec.text for s in studies for sec in s.sections if sec.name == name}))
    return pools


def hierarchy_items(hierarchy: Hierarchy, seed: int, holdout: bool = False) -> list[QAItem]:
    """All items of the trained hierarchy (or of the holdout patients), both variants, in a fixed order."""
    rng = np.random.default_rng([seed, 2, int(holdout)])
    pools = distractor_pools(hierarchy)
    institutions = {i.id: i for i in hierarchy.institutions}
    patients = {p.id: p for p in (hierarchy.holdout_patients if holdout else hierarchy.patients)}
    studies = hierarchy.holdout_studies if holdout else hierarchy.studies
    items: list[QAItem] = []
    for index, study in enumerate(studies):
        patient = patients[study.patient_id]
        context = StudyContext(institutions[patient.institution_id], patient, study, index)
        for fact_index, fact in enumerate(study_facts(context, pools)):
            # A fact with too few distinct wrong options (a tiny corpus) is not asked as classification.
            tasks = [t for t in fact.tasks if t != "classification" or _has_distractors(fact)]
            task = tasks[(index + fact_index) % len(tasks)]
            items.extend(fact_items(fact, context, task, rng, seed))
    return items
