"""Pydantic models of the hierarchy and of one benchmark instance (design §3).

All models are frozen: a built hierarchy is a value, validated once at the boundary.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from medforget_data.constants import (
    CLOZE_BLANK,
    OPTION_LETTERS,
    Level,
    SectionName,
    Task,
    Variant,
)
from medforget_data.dataset.manifest import HIERARCHY_FILE
from medforget_data.io import read_model

Side = Literal["left", "right", "bilateral"]
Zone = Literal["upper", "middle", "lower"]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Finding(Frozen):
    """One radiographic finding, normalised from a source's tags (MeSH or CheXpert labels)."""

    kind: str
    side: Side | None = None
    zone: Zone | None = None
    severity: str | None = None

    @property
    def label(self) -> str:
        """Human-readable name used in questions, e.g. 'left lower opacity'."""
        parts = [p for p in (self.side, self.zone) if p]
        return " ".join([*parts, self.kind])


class SourceReport(Frozen):
    """One radiology report as a source yields it, before it is placed in the hierarchy."""

    report_id: str
    sections: dict[SectionName, str]
    findings: tuple[Finding, ...] = ()
    view: str = "PA"
    # Real patient grouping / date / image where the source has them (MIMIC); None means
    # the hierarchy assigns them synthetically (Open-i).
    patient_key: str | None = None
    study_key: str | None = None
    study_date: str | None = None
    image_path: str | None = None


class Institution(Frozen):
    id: str
    name: str
    health_system: str


class Patient(Frozen):
    id: str
    institution_id: str
    name: str
    sex: Literal["female", "male"]
    birth_date: str
    mrn: str


class Section(Frozen):
    study_id: str
    name: SectionName
    text: str
    findings: tuple[Finding, ...] = ()


class Study(Frozen):
    id: str
    patient_id: str
    date: str
    view: str
    report_id: str
    sections: tuple[Section, ...]
    findings: tuple[Finding, ...] = ()
    image_path: str | None = None


class Hierarchy(Frozen):
    """Institution → patient → study → section, plus the never-trained holdout patients."""

    institutions: tuple[Institution, ...]
    patients: tuple[Patient, ...]
    studies: tuple[Study, ...]
    holdout_patients: tuple[Patient, ...] = ()
    holdout_studies: tuple[Study, ...] = ()

    @classmethod
    def read(cls, dataset_dir: Path) -> Hierarchy:
        """The hierarchy of a built dataset folder."""
        return read_model(Path(dataset_dir) / HIERARCHY_FILE, cls, "MedForget hierarchy")

    def health_systems(self) -> dict[str, str]:
        """Institution id → its health system (the parent of institution-level siblings)."""
        return {institution.id: institution.health_system for institution in self.institutions}


class QAItem(Frozen):
    """One benchmark instance. Its node path is (institution, patient, study, section)."""

    id: str
    question: str
    answer: str
    options: tuple[str, ...] = ()
    task: Task
    fact_level: Level
    fact: str = Field(description="which fact is asked, e.g. 'patient.name' or 'section.FINDINGS'")
    institution_id: str
    patient_id: str
    study_id: str
    section: SectionName | None = None
    variant: Variant = "original"
    group_id: str = Field(description="id shared by an original item and its rephrasings")
    train_questions: tuple[str, ...] = Field(
        default=(),
        description="an original item's training wordings, `question` first (rephrasings hold none)",
    )
    image_answerable: bool = Field(
        default=False, description="answer readable from the image and general knowledge (utility)"
    )

    @model_validator(mode="after")
    def _task_shape(self) -> QAItem:
        if self.task == "classification":
            if len(self.options) != len(OPTION_LETTERS):
                raise ValueError(f"{self.id}: classification needs {len(OPTION_LETTERS)} options")
            if not any(
                self.answer == f"{letter}) {option}"
                for letter, option in zip(OPTION_LETTERS, self.options, strict=True)
            ):
                raise ValueError(f"{self.id}: answer {self.answer!r} is not one of the lettered options")
        elif self.options:
            raise ValueError(f"{self.id}: only classification items have options")
        if self.task == "cloze" and any(CLOZE_BLANK not in q for q in (self.question, *self.train_questions)):
            raise ValueError(f"{self.id}: cloze question lacks {CLOZE_BLANK}")
        if self.train_questions and (self.variant != "original" or self.train_questions[0] != self.question):
            raise ValueError(f"{self.id}: training wordings belong to an original item, its question first")
        if self.fact_level == "section" and self.section is None:
            raise ValueError(f"{self.id}: a section fact needs its section")
        return self
