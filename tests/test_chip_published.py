"""CHIP's published defaults: directions per child, the published sibling sets, both merger layers.

Expectations are written from the published method's description (one direction per child of each
target; siblings: institution → every retain patient, patient → retain studies of the same
institution's other patients, study → retain sections of the patient's other studies, section →
retain sections of the same study) and worked out by hand on a small hierarchy.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from medforget_data.dataset.schema import QAItem
from medforget_data.methods import get_method, make_config
from medforget_data.methods.base import load_unlearn_splits
from medforget_data.methods.chip import chip_modules, direction_groups

# inst-A and inst-B form health system 1, inst-C system 2.
HEALTH_SYSTEM = {"inst-A": "sys-1", "inst-B": "sys-1", "inst-C": "sys-2"}
# study → (institution, patient, sections)
STUDIES = {
    "s1": ("inst-A", "p1", ("FINDINGS", "IMPRESSION")),
    "s2": ("inst-A", "p1", ("FINDINGS",)),
    "s3": ("inst-A", "p2", ("FINDINGS", "IMPRESSION")),
    "s4": ("inst-B", "p3", ("FINDINGS",)),
    "s5": ("inst-C", "p4", ("FINDINGS",)),
    "s6": ("inst-A", "p2", ()),  # a study without section items
}


def _item(study: str, fact_level: str, section: str | None = None) -> QAItem:
    institution, patient, _ = STUDIES[study]
    item_id = f"{study}:{section or fact_level}"
    return QAItem(
        id=item_id,
        question=f"{item_id}?",
        answer=item_id,
        task="generation",
        fact_level=fact_level,
        fact=f"section.{section}" if section else f"{fact_level}.x",
        institution_id=institution,
        patient_id=patient,
        study_id=study,
        section=section,
        group_id=item_id,
    )


ITEMS = [
    item
    for study, (_, _, sections) in STUDIES.items()
    for item in [
        _item(study, "institution"),
        _item(study, "patient"),
        _item(study, "study"),
        *(_item(study, "section", name) for name in sections),
    ]
]


def _ids(*studies: str, facts: tuple[str, ...] = ("institution", "patient", "study", "sections")) -> set[str]:
    out = set()
    for study in studies:
        out |= {f"{study}:{f}" for f in facts if f != "sections"}
        if "sections" in facts:
            out |= {f"{study}:{name}" for name in STUDIES[study][2]}
    return out


def _split(forget_ids: set[str]) -> tuple[list[QAItem], list[QAItem]]:
    return [i for i in ITEMS if i.id in forget_ids], [i for i in ITEMS if i.id not in forget_ids]


def _groups(level, forget_ids, directions="per_child", siblings="published"):
    forget, pool = _split(forget_ids)
    groups = direction_groups(level, forget, pool, directions, siblings, HEALTH_SYSTEM)
    return [(g.key, {forget[r].id for r in g.forget}, {pool[r].id for r in g.siblings}) for g in groups]


def test_institution_level_one_direction_per_forgotten_patient_against_every_retain_patient() -> None:
    forget = _ids("s1", "s2", "s3", "s6")  # all of inst-A: patients p1, p2
    everyone_else = _ids("s4", "s5")
    assert _groups("institution", forget) == [
        (("inst-A", "p1"), _ids("s1", "s2"), everyone_else),
        (("inst-A", "p2"), _ids("s3", "s6"), everyone_else),
    ]
    # The project's variants: one direction per target; siblings = the other institutions of the system.
    assert _groups("institution", forget, "per_target", "health_system") == [
        (("inst-A",), forget, _ids("s4"))
    ]
    assert [key for key, _, _ in _groups("institution", forget, "per_child", "health_system")] == [
        ("inst-A", "p1"),
        ("inst-A", "p2"),
    ]


def test_patient_level_one_direction_per_study_against_the_institutions_other_patients() -> None:
    forget = _ids("s1", "s2")  # patient p1
    same_institution = _ids("s3", "s6")  # p2; not p3 (inst-B, same system) nor p4
    assert _groups("patient", forget) == [
        (("inst-A", "p1", "s1"), _ids("s1"), same_institution),
        (("inst-A", "p1", "s2"), _ids("s2"), same_institution),
    ]
    assert _groups("patient", forget, "per_target", "health_system") == [
        (("inst-A", "p1"), forget, same_institution)
    ]


def test_patient_target_alone_in_its_institution_falls_back_to_every_retain_study() -> None:
    # p3 is inst-B's only patient: as published, the set falls back to every retain node of the level.
    forget = _ids("s1", "s2", "s4")
    groups = _groups("patient", forget)
    assert [key for key, _, _ in groups] == [
        ("inst-A", "p1", "s1"),
        ("inst-A", "p1", "s2"),
        ("inst-B", "p3", "s4"),
    ]
    assert groups[2][2] == _ids("s3", "s5", "s6")
    assert _groups("patient", forget, siblings="health_system")[2][2] == set()


def test_study_level_one_direction_per_section_against_sections_of_the_patients_other_studies() -> None:
    forget = _ids("s1")
    # Only sections of s2 (p1's other study): not s2's study/patient/institution facts, not p2's studies.
    assert _groups("study", forget) == [
        (("inst-A", "p1", "s1", "FINDINGS"), {"s1:FINDINGS"}, {"s2:FINDINGS"}),
        (("inst-A", "p1", "s1", "IMPRESSION"), {"s1:IMPRESSION"}, {"s2:FINDINGS"}),
    ]
    # per_target: the study's own facts join the direction, and siblings are whole studies.
    assert _groups("study", forget, "per_target", "health_system") == [
        (("inst-A", "p1", "s1"), forget, _ids("s2"))
    ]


def test_study_without_section_items_gets_a_direction_of_its_own() -> None:
    assert _groups("study", _ids("s6")) == [(("inst-A", "p2", "s6"), _ids("s6"), _ids("s3"))]


def test_section_level_one_direction_per_target_against_the_same_studys_sections() -> None:
    forget = {"s1:FINDINGS"}
    for directions in ("per_child", "per_target"):
        for siblings in ("published", "health_system"):
            assert _groups("section", forget, directions, siblings) == [
                (("inst-A", "p1", "s1", "FINDINGS"), forget, {"s1:IMPRESSION"})
            ]


def test_config_values_are_named_and_validated() -> None:
    config = make_config("chip")
    assert (config.directions, config.siblings, config.merger_layers, config.score_retain) == (
        "per_child",
        "published",
        "both",
        "with_siblings",
    )
    variant = make_config(
        "chip",
        {
            "directions": "per_target",
            "siblings": "health_system",
            "merger_layers": "output",
            "score_retain": "without_siblings",
        },
    )
    assert variant.directions == "per_target" and variant.score_retain == "without_siblings"
    from medforget_data.errors import MedForgetError

    with pytest.raises(MedForgetError, match="chip config directions"):
        make_config("chip", {"directions": "per_grandchild"})


@pytest.fixture(scope="module")
def tiny(synthetic_mini_dir: Path):
    from medforget_data.models.build import new_model

    model, processor = new_model("tiny", synthetic_mini_dir, seed=0)
    return model, processor


def test_institution_level_on_a_build_forms_one_direction_per_forgotten_patient(
    synthetic_mini_dir: Path,
) -> None:
    splits = load_unlearn_splits(synthetic_mini_dir, "institution")
    forget = [e.item for e in splits.forget]
    pool = [e.item for e in splits.unlearn_retain + splits.unlearn_sibling]
    groups = direction_groups("institution", forget, pool, "per_child", "published", splits.health_system)
    patients = {(i.institution_id, i.patient_id) for i in forget}
    assert len(patients) > 1 and sorted(g.key for g in groups) == sorted(patients)
    assert all(len(g.siblings) == len(pool) for g in groups)  # every retain patient
    per_target = direction_groups("institution", forget, pool, "per_target", "published", {})
    assert len(per_target) == 1


@pytest.mark.parametrize(
    ("merger_layers", "edited"),
    [
        ("both", {"model.visual.merger.mlp.0", "model.visual.merger.mlp.2"}),
        ("output", {"model.visual.merger.mlp.2"}),
    ],
)
def test_chip_edits_the_merger_layers_it_names(tiny, synthetic_mini_dir: Path, merger_layers, edited) -> None:
    model, processor = tiny
    assert {n for n in chip_modules(model, 0.2, True, merger_layers) if "merger" in n} == edited
    splits = load_unlearn_splits(synthetic_mini_dir, "patient")
    config = make_config("chip", {"merger_layers": merger_layers, "max_reference_samples": 64})
    after = get_method("chip").unlearn(copy.deepcopy(model), processor, splits, config)
    before = dict(model.named_parameters())
    changed = {
        name.removesuffix(".weight")
        for name, value in after.named_parameters()
        if "merger" in name and not torch.equal(value, before[name])
    }
    assert changed == edited


def test_neuron_scores_read_siblings_only_when_asked(tiny, synthetic_mini_dir: Path) -> None:
    model, processor = tiny
    splits = load_unlearn_splits(synthetic_mini_dir, "patient")
    edited = {}
    for score_retain in ("with_siblings", "without_siblings"):
        config = make_config("chip", {"score_retain": score_retain, "max_reference_samples": 64})
        edited[score_retain] = get_method("chip").unlearn(copy.deepcopy(model), processor, splits, config)
    # Same directions, another retain reference: the selected neurons, hence the weights, differ.
    pairs = zip(
        edited["with_siblings"].state_dict().values(),
        edited["without_siblings"].state_dict().values(),
        strict=True,
    )
    assert not all(torch.equal(a, b) for a, b in pairs)
