"""`--rule published`: classification and cloze correct only at ROUGE-L F1 = 1.0 against the reference.

The published analysis counts an answer correct when ROUGE-L (rouge_score, Porter stemmer) against
the full reference — "B) cardiomegaly" for a classification item — is exactly 1.0; the project's
default rule parses the option named. Expected values are worked out by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medforget_data.cli import main
from medforget_data.scoring.metrics import exact_match
from medforget_data.scoring.results import read_results
from medforget_data.scoring.submission import SubmissionMetadata, write_submission
from tests.scoring_fixtures import HAND_ITEMS, OPTIONS, write_hand_dataset

ANSWER = "B) cardiomegaly"


@pytest.mark.parametrize(
    ("prediction", "project", "published"),
    [
        ("B) cardiomegaly", 1.0, 1.0),
        ("b) Cardiomegaly.", 1.0, 1.0),  # ROUGE tokens are lower-cased, punctuation dropped
        ("B", 1.0, 0.0),  # a bare letter: tokens {b} against {b, cardiomegali}, F1 2/3
        ("Cardiomegaly", 1.0, 0.0),  # the option text alone, F1 2/3
        ("The answer is B) cardiomegaly", 1.0, 0.0),  # precision 2/5
        ("B) cardiomegaly, C) opacity", 0.0, 0.0),  # two options named
        ("C) opacity", 0.0, 0.0),
    ],
)
def test_classification_under_both_rules(prediction: str, project: float, published: float) -> None:
    assert exact_match(prediction, ANSWER, "classification", OPTIONS) == project
    assert exact_match(prediction, ANSWER, "classification", OPTIONS, "published") == published


@pytest.mark.parametrize(
    ("prediction", "answer", "project", "published"),
    [
        ("monica padilla!", "Monica Padilla", 1.0, 1.0),
        ("Monica", "Monica Padilla", 0.0, 0.0),
        ("effusions", "effusion", 0.0, 1.0),  # the Porter stemmer makes them one token
    ],
)
def test_cloze_under_both_rules(prediction: str, answer: str, project: float, published: float) -> None:
    assert exact_match(prediction, answer, "cloze") == project
    assert exact_match(prediction, answer, "cloze", (), "published") == published


def test_cli_rule_is_recorded_and_checked_against_the_reference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset = write_hand_dataset(tmp_path / "hand")
    submission = tmp_path / "s.jsonl"
    predictions = {row["id"]: prediction for rows in HAND_ITEMS.values() for row, prediction in rows}
    metadata = SubmissionMetadata(method="m", model="x", level="patient", seed=0, contact="a@b.c")
    write_submission(submission, metadata, predictions)

    def score(out: str, *extra: str) -> int:
        base = ["score", str(submission), "--level", "patient", "--dataset", str(dataset)]
        return main([*base, "--out", str(tmp_path / out), *extra])

    assert score("project.json") == 0 and score("published.json", "--rule", "published") == 0
    project, published = read_results(tmp_path / "project.json"), read_results(tmp_path / "published.json")
    assert (project.rule, published.rule) == ("project", "published")
    # forget "b) cardiomegaly" is right under both; retain "Cardiomegaly." only under the project's.
    assert project.scores["forget"]["classification"].mean == 1.0
    assert published.scores["forget"]["classification"].mean == 1.0
    assert project.scores["retain"]["classification"].mean == 1.0
    assert published.scores["retain"]["classification"].mean == 0.0
    # Cloze and generation read the same under both rules on these items.
    assert published.scores["sibling"]["cloze"].mean == project.scores["sibling"]["cloze"].mean == 0.5
    assert published.scores["forget"]["generation"] == project.scores["forget"]["generation"]
    capsys.readouterr()
    # Utility against a reference scored under the other rule would compare unlike numbers.
    assert score("mixed.json", "--rule", "published", "--reference", str(tmp_path / "project.json")) == 2
    assert "was scored with rule 'project', not 'published'" in capsys.readouterr().err
    assert score("bad.json", "--rule", "paper") == 2
    assert "unknown scoring rule 'paper'" in capsys.readouterr().err
    assert not (tmp_path / "mixed.json").exists() and not (tmp_path / "bad.json").exists()
    # Results written before the rule existed read as the project's rule.
    old = json.loads((tmp_path / "project.json").read_text())
    del old["rule"]
    (tmp_path / "old.json").write_text(json.dumps(old))
    assert read_results(tmp_path / "old.json").rule == "project"
