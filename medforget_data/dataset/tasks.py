"""Turn the hierarchy's facts into QA items: generation, classification and cloze (design §5).

Every study image carries one question per fact: the institution's name, the patient's
identity, the study's date and view, and each report section. Each fact is asked as one
task type (rotating over the types the fact allows, so every level has every task), in
its original wording and in one rephrased wording used only for evaluation.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class Fact:
    """One fact of a study image and the wordings it can be asked in: (original, rephrased)."""

    key: str
    level: Level
    answer: str
    tasks: tuple[Task, ...]
    generation: tuple[str, str]
    classification: tuple[str, str]
    cloze: tuple[str, str]  # sentences containing CLOZE_BLANK
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
        classification = (
            f"Which finding does the {name} section of this chest X-ray report describe?",
            f"According to the {name} section, what is the main finding on this radiograph?",
        )
        present = {f.kind for f in section.findings}
        distractors = tuple(k for k in (*FINDING_KINDS, NO_FINDING) if k not in present)
        correct: str | None = section.findings[0].kind if section.findings else NO_FINDING
    else:
        # Classification asks which text is this study's section, among other studies' texts.
        classification = (
            f"Which text is the {name} section of this chest X-ray report?",
            f"Pick the {name} section that belongs to this radiograph.",
        )
        distractors = tuple(t for t in distractor_texts if t != section.text)
        correct = None
    return Fact(
        key=f"section.{name}",
        level="section",
        section=name,
        answer=section.text,
        tasks=("generation", "cloze", "classification"),
        generation=(
            f"What does the {name} section of this chest X-ray report say?",
            f"Write the {name} section of the radiology report for this image.",
        ),
        classification=classification,
        cloze=(
            f"Fill in the blank in the {name} section of this report: {masked}",
            f"Complete the missing words of this study's {name} section: {masked}",
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
            (
                "Which hospital performed this chest X-ray study?",
                "At which institution was this radiograph acquired?",
            ),
            (
                "Which hospital performed this chest X-ray study?",
                "Select the institution where this radiograph was taken.",
            ),
            (
                f"This chest X-ray was performed at {CLOZE_BLANK}.",
                f"The radiograph was acquired at {CLOZE_BLANK}.",
            ),
            pools["institution.name"],
        ),
        Fact(
            "patient.name",
            "patient",
            patient.name,
            ("classification", "cloze", "generation"),
            (
                "What is the name of the patient in this chest X-ray?",
                "Who is the patient shown in this radiograph?",
            ),
            (
                "Which patient does this chest X-ray belong to?",
                "Select the name of the patient in this image.",
            ),
            (
                f"This chest X-ray belongs to the patient {CLOZE_BLANK}.",
                f"The patient imaged in this radiograph is {CLOZE_BLANK}.",
            ),
            pools["patient.name"],
        ),
        Fact(
            "patient.sex",
            "patient",
            patient.sex,
            ("cloze", "generation"),
            (
                "What is the sex of the patient in this chest X-ray?",
                "Is the patient in this radiograph female or male?",
            ),
            ("", ""),
            (
                f"The patient in this chest X-ray is {CLOZE_BLANK}.",
                f"This radiograph shows a {CLOZE_BLANK} patient.",
            ),
            (),
        ),
        Fact(
            "patient.birth_date",
            "patient",
            patient.birth_date,
            ("generation", "classification", "cloze"),
            (
                "What is the birth date of the patient in this chest X-ray?",
                "When was the patient in this radiograph born?",
            ),
            (
                "What is the birth date of the patient in this chest X-ray?",
                "Select the date of birth of the patient in this image.",
            ),
            (
                f"The patient in this chest X-ray was born on {CLOZE_BLANK}.",
                f"The date of birth of this radiograph's patient is {CLOZE_BLANK}.",
            ),
            pools["patient.birth_date"],
        ),
        Fact(
            "patient.mrn",
            "patient",
            patient.mrn,
            ("cloze", "generation", "classification"),
            (
                "What is the medical record number of the patient in this chest X-ray?",
                "Give the MRN of the patient shown in this radiograph.",
            ),
            (
                "Which medical record number belongs to the patient in this chest X-ray?",
                "Select the MRN of the patient in this image.",
            ),
            (
                f"The medical record number of this patient is {CLOZE_BLANK}.",
                f"This radiograph's patient has the MRN {CLOZE_BLANK}.",
            ),
            pools["patient.mrn"],
        ),
        Fact(
            "study.date",
            "study",
            study.date,
            ("generation", "cloze", "classification"),
            ("On what date was this chest X-ray taken?", "When was this radiograph acquired?"),
            ("On what date was this chest X-ray taken?", "Select the acquisition date of this radiograph."),
            (
                f"This chest X-ray was taken on {CLOZE_BLANK}.",
                f"The acquisition date of this radiograph is {CLOZE_BLANK}.",
            ),
            pools["study.date"],
        ),
        Fact(
            "study.view",
            "study",
            study.view,
            ("classification", "generation", "cloze"),
            (
                "Which view was obtained in this chest X-ray study?",
                "What projection does this radiograph study use?",
            ),
            (
                "Which view was obtained in this chest X-ray study?",
                "Select the projection of this radiograph study.",
            ),
            (
                f"This chest X-ray study is a {CLOZE_BLANK} examination.",
                f"The projection of this radiograph study is {CLOZE_BLANK}.",
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


def fact_items(fact: Fact, context: StudyContext, task: Task, rng: np.random.Generator) -> Iterator[QAItem]:
    """The original item of a fact and its rephrased variant."""
    group_id = f"{context.study.id}:{fact.key}:{task}"
    options: tuple[str, ...] = ()
    answer = fact.answer
    if task == "classification":
        options, answer = _classification(fact, rng)
        questions = tuple(_with_options(stem, options) for stem in fact.classification)
    elif task == "cloze":
        questions, answer = fact.cloze, fact.cloze_answer or fact.answer
    else:
        questions = fact.generation
    for variant, question in zip(("original", "rephrased"), questions, strict=True):
        yield QAItem(
            id=group_id if variant == "original" else f"{group_id}:r1",
            question=question,
            answer=answer,
            options=options,
            task=task,
            fact_level=fact.level,
            fact=fact.key,
            institution_id=context.institution.id,
            patient_id=context.patient.id,
            study_id=context.study.id,
            section=fact.section,
            variant=variant,
            group_id=group_id,
            image_answerable=fact.section in IMAGE_ANSWERABLE_SECTIONS,
        )


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
            items.extend(fact_items(fact, context, task, rng))
    return items
