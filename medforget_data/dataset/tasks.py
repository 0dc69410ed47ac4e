"""Turn the hierarchy's facts into QA items: generation, classification and cloze (design §5).

Every study image carries one question per fact: the institution's name, the patient's
identity, the study's date and view, and each report section. Each fact is asked as one
task type (rotating over the types the fact allows, so every level has every task).

A wording is a *frame* (the sentence's structure, shared by every fact of a task) with one of the
fact's *names* in its slot ("Give {name} for this radiograph." with "the patient's MRN"). Each fact
has several training wordings (the first is the canonical one, the item's `question`) and held-out
wordings disjoint from them, used only by the `*_rephrased` evaluation splits. A held-out wording
puts a name the fact was trained with into a frame the fact was never trained in, though other facts
were: the model learns frames with every fact and names with several frames, so it can answer the
fact in a new sentence — and must read the name to do it. When each fact had its own sentences, a
held-out one that resembled another fact's training sentence got that fact's answer ("Which MRN
belongs to …" answered with the patient's name; BENCHMARKS.md, issue 18): the score measured the
sentence, not the fact. Which frames and names a fact trains with rotates with the fact, so every
frame is trained with most facts and held out for a few.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import cast

import numpy as np

from medforget_data.constants import CLOZE_BLANK, OPTION_LETTERS, SECTIONS, Level, Task
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
from medforget_data.draws import keyed_index

VIEWS: tuple[str, ...] = ("PA", "AP", "lateral", "PA and lateral")
# Sections whose content can be read off an unseen patient's image (utility on holdout).
IMAGE_ANSWERABLE_SECTIONS: tuple[SectionName, ...] = ("FINDINGS", "IMPRESSION")
MIN_TRAIN_WORDINGS = 4
MIN_HELD_OUT_WORDINGS = 2
B = CLOZE_BLANK

# Frames: `{name}` is the fact's name, `{Name}` the same capitalised; a section cloze's frame also
# holds `{masked}`, the section with its blank. Structures vary: questions, imperatives, fronted
# names, a leading blank.
GENERATION_FRAMES: tuple[str, ...] = (
    "What is {name} for this chest X-ray?",
    "Give {name} for this radiograph.",
    "Tell me {name} for this study.",
    "{Name} for this image: what is it?",
    "For this chest X-ray, write down {name}.",
    "In this radiograph, which is {name}?",
)
CLASSIFICATION_FRAMES: tuple[str, ...] = (  # stems: the options follow every one alike
    "Which option is {name} of this chest X-ray?",
    "Choose {name} for this radiograph.",
    "Select {name} for this study from the options.",
    "{Name} for this image is which option?",
    "For this chest X-ray, pick {name}.",
    "In this radiograph, which of these is {name}?",
)
CLOZE_FRAMES: tuple[str, ...] = (
    f"{{Name}} of this chest X-ray is {B}.",
    f"For this radiograph, {{name}} is {B}.",
    f"{B} is {{name}} for this study.",
    f"{{Name}} for this image: {B}.",
    f"This chest X-ray's report gives {{name}} as {B}.",
    f"In this radiograph, {{name}} reads {B}.",
)
SECTION_CLOZE_FRAMES: tuple[str, ...] = (
    "Fill in the blank in {name} of this chest X-ray: {masked}",
    "{Name} of this radiograph reads: {masked} What is missing?",
    "{masked} (complete {name} of this study)",
    "Missing word in {name} for this image: {masked}",
    "Complete the missing words of {name} for this chest X-ray: {masked}",
    "In this radiograph, {name} says: {masked} Fill in the blank.",
)
# Which (frame, name) pairs a fact trains with, for rotation 0: frame offsets and name indices.
# Training covers every name and four frames; each held-out wording pairs a trained name with one
# of the two frames left out. Rotating the frame offsets by the fact's position spreads the
# held-out frames over the facts.
TRAIN_PAIRS: tuple[tuple[int, int], ...] = ((0, 0), (1, 1), (2, 2), (3, 0))
HELD_OUT_PAIRS: tuple[tuple[int, int], ...] = ((4, 1), (5, 2))


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


def fill_frame(frame: str, name: str, masked: str = "") -> str:
    """One wording: the frame with the fact's name (capitalised where the frame opens with it)."""
    return frame.format(name=name, Name=name[:1].upper() + name[1:], masked=masked)


@functools.cache  # pure; analyses match every item against every frame of its task
def frame_pattern(frame: str) -> re.Pattern[str]:
    """A frame as a regex matching its wordings; the name is captured as `name` (for analysis and tests)."""
    pattern = re.escape(frame)
    for slot in ("name", "Name"):
        pattern = pattern.replace(re.escape("{" + slot + "}"), "(?P<name>.+)")
    return re.compile(pattern.replace(re.escape("{masked}"), ".+", 1), re.DOTALL)


def task_frames(task: Task, section: SectionName | None) -> tuple[str, ...]:
    """The frames a task's wordings are built from (a section's cloze has its own: they hold the text)."""
    if task == "cloze":
        return SECTION_CLOZE_FRAMES if section is not None else CLOZE_FRAMES
    return GENERATION_FRAMES if task == "generation" else CLASSIFICATION_FRAMES


def compose(frames: Sequence[str], names: Sequence[str], rotation: int, masked: str = "") -> Wordings:
    """A fact's wordings: its names in the frames its rotation trains with and the ones it holds out."""
    if len(names) != 3:
        raise ValueError(f"a fact has three names, got {names!r}")

    def wordings(pairs: tuple[tuple[int, int], ...]) -> tuple[str, ...]:
        return tuple(
            fill_frame(frames[(rotation + offset) % len(frames)], names[index], masked)
            for offset, index in pairs
        )

    return Wordings(wordings(TRAIN_PAIRS), wordings(HELD_OUT_PAIRS))


Names = tuple[str, str, str]  # a fact's three names; its rotation picks the frame each one goes into


@dataclass(frozen=True)
class FactSpec:
    """One row of FACTS: a fact every study image carries, its names, and the task types that ask it.

    Above the sections the key is `<level>.<attribute>` and the answer is that attribute of the study's
    node at the level ("patient.mrn": the patient's MRN); a section's key is `section.<NAME>` and its
    answer the section's text. The frames come from `task_frames`, by task type.
    """

    key: str
    tasks: tuple[Task, ...]  # the task types it may be asked as, in the order items rotate over them
    names: Names  # in every task type that `names_by_task` does not name
    names_by_task: Mapping[Task, Names] = field(default_factory=dict)
    # Classification's option vocabulary when it is not this answer of every other node of the level.
    options: tuple[str, ...] | None = None

    @property
    def level(self) -> Level:
        return cast(Level, self.key.split(".", 1)[0])

    @property
    def attribute(self) -> str:
        return self.key.split(".", 1)[1]

    @property
    def section(self) -> SectionName | None:
        return cast(SectionName, self.attribute) if self.level == "section" else None

    def names_for(self, task: Task) -> Names:
        return self.names_by_task.get(task, self.names)


def _section_spec(name: SectionName) -> FactSpec:
    """A report section's row: classification asks an image-answerable section's main finding among the
    finding vocabulary, any other section's text among the other studies' texts of that section."""
    by_task: dict[Task, Names] = {
        "cloze": (f"the {name} section", f"the report's {name} section", f"the {name} section of the report")
    }
    options = None
    if name in IMAGE_ANSWERABLE_SECTIONS:
        by_task["classification"] = (
            f"the main finding of the {name} section",
            f"the finding the {name} section describes",
            f"the {name} section's finding",
        )
        options = (*FINDING_KINDS, NO_FINDING)
    return FactSpec(
        key=f"section.{name}",
        tasks=("generation", "cloze", "classification"),
        names=(f"the {name} section", f"the text of the {name} section", f"the report's {name} section"),
        names_by_task=by_task,
        options=options,
    )


# Every fact of a study image, in a fixed order: a fact's position is its rotation (which frames it
# trains with). The sections come last, in report order; a study is asked the sections it has.
FACTS: tuple[FactSpec, ...] = (
    FactSpec(
        "institution.name",
        ("generation", "classification", "cloze"),
        ("the hospital", "the institution's name", "the performing hospital"),
    ),
    FactSpec(
        "patient.name",
        ("classification", "cloze", "generation"),
        ("the patient's name", "the name of the patient", "the patient's full name"),
    ),
    FactSpec(
        "patient.sex",
        ("cloze", "generation"),  # two values: too few for four options
        ("the patient's sex", "the sex of the patient", "the patient's sex (female or male)"),
    ),
    FactSpec(
        "patient.birth_date",
        ("generation", "classification", "cloze"),
        ("the patient's birth date", "the date of birth of the patient", "the day the patient was born"),
    ),
    FactSpec(
        "patient.mrn",
        ("cloze", "generation", "classification"),
        (
            "the patient's MRN",
            "the medical record number of the patient",
            "the patient's medical record number",
        ),
    ),
    FactSpec(
        "study.date",
        ("generation", "cloze", "classification"),
        ("the study date", "the date the study was acquired", "the acquisition date"),
    ),
    FactSpec(
        "study.view",
        ("classification", "generation", "cloze"),
        ("the view", "the projection", "the view obtained"),
        options=VIEWS,
    ),
    *(_section_spec(name) for name in SECTIONS),
)
FACT_SPECS: dict[str, FactSpec] = {spec.key: spec for spec in FACTS}
ROTATION: dict[str, int] = {spec.key: index for index, spec in enumerate(FACTS)}


@dataclass(frozen=True)
class Fact:
    """One fact of one study image: its row's answer for the study and its wordings, per task."""

    spec: FactSpec
    answer: str
    generation: Wordings
    classification: Wordings  # stems; the options are appended to every wording alike
    cloze: Wordings  # sentences containing CLOZE_BLANK, the same blank in every wording
    distractors: tuple[str, ...] = ()
    cloze_answer: str | None = None  # the blanked span when it is not the whole answer
    classification_answer: str | None = None  # the correct option when it is not the answer

    @property
    def key(self) -> str:
        return self.spec.key

    @property
    def level(self) -> Level:
        return self.spec.level

    @property
    def section(self) -> SectionName | None:
        return self.spec.section

    @property
    def tasks(self) -> tuple[Task, ...]:
        return self.spec.tasks


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


def _fact(
    spec: FactSpec,
    answer: str,
    distractors: tuple[str, ...],
    masked: str = "",
    cloze_answer: str | None = None,
    classification_answer: str | None = None,
) -> Fact:
    """A fact of one study: its row's names in the frames of each task type it is asked as."""

    def wordings(task: Task) -> Wordings:
        if task not in spec.tasks:
            return NOT_ASKED
        return compose(task_frames(task, spec.section), spec.names_for(task), ROTATION[spec.key], masked)

    return Fact(
        spec=spec,
        answer=answer,
        generation=wordings("generation"),
        classification=wordings("classification"),
        cloze=wordings("cloze"),
        distractors=distractors,
        cloze_answer=cloze_answer,
        classification_answer=classification_answer,
    )


def _section_fact(section: Section, view: str, pool: tuple[str, ...]) -> Fact:
    # The examination line differs between studies only in its view and comparison.
    span = view if section.name == "EXAMINATION" and view in section.text else _blank_span(section.text)
    correct: str | None = None  # a section's classification answers with its text
    if section.name in IMAGE_ANSWERABLE_SECTIONS:  # ... or, read off the image, with its main finding
        present = {f.kind for f in section.findings}
        distractors = tuple(k for k in pool if k not in present)
        correct = section.findings[0].kind if section.findings else NO_FINDING
    else:
        distractors = tuple(t for t in pool if t != section.text)
    masked = section.text.replace(span, CLOZE_BLANK, 1)
    spec = FACT_SPECS[f"section.{section.name}"]
    return _fact(spec, section.text, distractors, masked, cloze_answer=span, classification_answer=correct)


def study_facts(context: StudyContext, pools: dict[str, tuple[str, ...]]) -> list[Fact]:
    """Every fact of one study image: those above the sections in FACTS order, then its sections."""
    facts = [
        # The answer is the attribute of the study's institution, patient or study that the key names.
        _fact(spec, getattr(getattr(context, spec.level), spec.attribute), pools.get(spec.key, ()))
        for spec in FACTS
        if spec.section is None
    ]
    for section in context.study.sections:
        facts.append(_section_fact(section, context.study.view, pools.get(f"section.{section.name}", ())))
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
    return keyed_index(count, seed, group_id)


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
    """Options of each fact asked as classification, the right one among them: its row's vocabulary, or
    its answer on every node of its level in the whole hierarchy (siblings and holdout included).

    Sorted and distinct: a question draws its wrong options from the distinct ones in sorted order.
    """
    studies = (*hierarchy.studies, *hierarchy.holdout_studies)
    nodes: dict[Level, Sequence[object]] = {
        "institution": hierarchy.institutions,
        "patient": (*hierarchy.patients, *hierarchy.holdout_patients),
        "study": studies,
        "section": [sec for study in studies for sec in study.sections],
    }
    pools: dict[str, tuple[str, ...]] = {}
    for spec in FACTS:
        if "classification" not in spec.tasks:
            continue
        if spec.options is not None:
            pools[spec.key] = spec.options
        elif spec.section is not None:
            pools[spec.key] = tuple(sorted({s.text for s in nodes["section"] if s.name == spec.section}))
        else:
            pools[spec.key] = tuple(sorted({getattr(node, spec.attribute) for node in nodes[spec.level]}))
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
