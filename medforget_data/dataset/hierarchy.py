"""Place source reports into the Institution → Patient → Study → Section hierarchy, by seed."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from pydantic import BaseModel, ConfigDict

from medforget_data.constants import SECTIONS, Size
from medforget_data.dataset.identities import IdentityFactory
from medforget_data.dataset.schema import Hierarchy, Institution, Patient, Section, SourceReport, Study


class HierarchyShape(BaseModel):
    """How large a build is: institutions per health system, patients, holdout patients."""

    model_config = ConfigDict(frozen=True)

    institutions_per_system: tuple[int, ...]
    patients: int
    holdout_patients: int
    max_studies_per_patient: int = 4


SHAPES: dict[Size, HierarchyShape] = {
    # ~350 studies × ~11 items ≈ 3,840 trained instances, as in the published benchmark.
    "full": HierarchyShape(institutions_per_system=(3, 3, 2), patients=140, holdout_patients=24),
    # a system of three: the lone institution target keeps a sibling for each half (design §10)
    "mini": HierarchyShape(institutions_per_system=(3, 2), patients=16, holdout_patients=4),
}


def _sections(study_id: str, report: SourceReport) -> tuple[Section, ...]:
    # Section-level findings: the report's tags belong to FINDINGS and IMPRESSION.
    return tuple(
        Section(
            study_id=study_id,
            name=name,
            text=report.sections[name],
            findings=report.findings if name in ("FINDINGS", "IMPRESSION") else (),
        )
        for name in SECTIONS
        if report.sections.get(name)
    )


def _make_patient(identities: IdentityFactory, patient_id: str, institution_id: str) -> Patient:
    sex = identities.sex()
    return Patient(
        id=patient_id,
        institution_id=institution_id,
        name=identities.person_name(sex),
        sex=sex,
        birth_date=identities.birth_date(),
        mrn=identities.mrn(),
    )


def _make_studies(
    identities: IdentityFactory, patient_id: str, study_ids: list[str], reports: list[SourceReport]
) -> list[Study]:
    dates = identities.study_dates(len(reports))
    return [
        Study(
            id=study_id,
            patient_id=patient_id,
            date=report.study_date or date,
            view=report.view,
            report_id=report.report_id,
            sections=_sections(study_id, report),
            findings=report.findings,
            image_path=report.image_path,
        )
        for study_id, report, date in zip(study_ids, reports, dates, strict=True)
    ]


def _group_reports(
    reports: tuple[SourceReport, ...], shape: HierarchyShape, real_hierarchy: bool, rng: np.random.Generator
) -> list[list[SourceReport]]:
    """Reports grouped per patient: the source's own grouping, or 1–4 reports per patient by seed."""
    if real_hierarchy:
        by_patient: dict[str, list[SourceReport]] = defaultdict(list)
        for report in reports:
            by_patient[report.patient_key or report.report_id].append(report)
        keys = sorted(by_patient)
        order = rng.permutation(len(keys))
        return [
            sorted(by_patient[keys[i]], key=lambda r: (r.study_date or "", r.report_id))[
                : shape.max_studies_per_patient
            ]
            for i in order
        ]
    shuffled = [reports[i] for i in rng.permutation(len(reports))]
    groups, cursor = [], 0
    while cursor < len(shuffled):
        count = int(rng.integers(1, shape.max_studies_per_patient + 1))
        groups.append(shuffled[cursor : cursor + count])
        cursor += count
    return groups


def build_hierarchy(
    reports: tuple[SourceReport, ...],
    shape: HierarchyShape,
    seed: int,
    real_hierarchy: bool = False,
    identities: IdentityFactory | None = None,
    id_prefix: str = "",
) -> Hierarchy:
    """The hierarchy of a build; a pretraining corpus passes its own identities and id prefix."""
    rng = np.random.default_rng([seed, 1])
    identities = identities or IdentityFactory(seed)
    groups = _group_reports(reports, shape, real_hierarchy, rng)
    patient_count = min(shape.patients, max(len(groups) - shape.holdout_patients, 0))
    holdout_count = min(shape.holdout_patients, len(groups) - patient_count)

    institutions: list[Institution] = []
    for size in shape.institutions_per_system:
        system = identities.health_system()
        for _ in range(size):
            institutions.append(
                Institution(
                    id=f"{id_prefix}inst-{len(institutions):02d}",
                    name=identities.hospital(),
                    health_system=system,
                )
            )

    patients: list[Patient] = []
    studies: list[Study] = []
    for index, group in enumerate(groups[:patient_count]):
        # Round-robin over a seeded institution order: every institution gets patients.
        institution = institutions[index % len(institutions)]
        patient = _make_patient(identities, f"{id_prefix}patient-{index:04d}", institution.id)
        patients.append(patient)
        ids = [f"{id_prefix}study-{len(studies) + k:04d}" for k in range(len(group))]
        studies.extend(_make_studies(identities, patient.id, ids, group))

    holdout_patients: list[Patient] = []
    holdout_studies: list[Study] = []
    for index, group in enumerate(groups[patient_count : patient_count + holdout_count]):
        institution = institutions[index % len(institutions)]
        patient = _make_patient(identities, f"{id_prefix}holdout-patient-{index:04d}", institution.id)
        holdout_patients.append(patient)
        ids = [f"{id_prefix}holdout-study-{len(holdout_studies) + k:04d}" for k in range(len(group))]
        holdout_studies.extend(_make_studies(identities, patient.id, ids, group))

    return Hierarchy(
        institutions=tuple(institutions),
        patients=tuple(patients),
        studies=tuple(studies),
        holdout_patients=tuple(holdout_patients),
        holdout_studies=tuple(holdout_studies),
    )
