"""Reliability 3 (issue 29), the scorer's surfaces: huge numbers in inputs, the metric module's
options, the install lines of the Spaces and cards, the missing source data."""

from __future__ import annotations

import argparse
import importlib.metadata
import inspect
import json
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import evaluate
import pytest
from packaging.requirements import Requirement

import medforget_data
from medforget_data.cli import build_parser, main
from medforget_data.dataset.sources import openi
from medforget_data.dataset.sources.openi import PROVIDER_VERSION
from medforget_data.errors import MedForgetError
from medforget_data.scoring.metrics import DEFAULT_RULE, SCORING_RULES
from medforget_data.scoring.results import read_results
from medforget_data.scoring.submission import SubmissionMetadata, read_submission, write_submission
from tests.scoring_fixtures import (
    HAND_ITEMS,
    HAND_LEVEL,
    ScriptedJudgeServer,
    hand_predictions,
    verdict,
    write_hand_dataset,
)

# ---- 12. A huge integer anywhere in a submission (or a results file) is one line, never a traceback.

ROOT = Path(__file__).resolve().parents[1]
METADATA = {"method": "m", "model": "none", "level": HAND_LEVEL, "seed": 0, "contact": "a@b.c"}
# Past Python's int-string conversion limit (4300 digits): json.loads raises ValueError, not
# JSONDecodeError.
HUGE = "9" * 5000


def huge(text: str) -> str:
    """`text` with its N replaced by the huge integer."""
    return text.replace("N", HUGE)


@pytest.fixture(scope="module")
def hand_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_hand_dataset(tmp_path_factory.mktemp("hand") / "dataset")


def valid_lines() -> list[str]:
    metadata = json.dumps({"metadata": METADATA})
    return [metadata, *(json.dumps({"id": i, "prediction": p}) for i, p in hand_predictions().items())]


# (where, line number, the line): a huge integer in each place a submission line can hold one.
HUGE_SUBMISSION_LINES = {
    "seed": (1, json.dumps({"metadata": METADATA}).replace('"seed": 0', f'"seed": {HUGE}')),
    "metadata-nested": (1, huge('{"metadata": {"method": "m", "extra": [[{"x": N}]]}}')),
    "id": (2, huge('{"id": N, "prediction": "B"}')),
    "prediction": (3, huge('{"id": "f-cls", "prediction": N}')),
    "nested": (4, huge('{"id": "f-cls", "prediction": "B", "x": {"y": [1, N]}}')),
    "bare": (5, HUGE),
}


def submission_with(path: Path, number: int, line: str) -> Path:
    lines = valid_lines()
    lines[number - 1] = line
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("where", HUGE_SUBMISSION_LINES)
def test_a_huge_integer_in_a_submission_is_one_line_naming_its_line(
    where: str, tmp_path: Path, hand_dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    number, line = HUGE_SUBMISSION_LINES[where]
    path = submission_with(tmp_path / "s.jsonl", number, line)
    with pytest.raises(MedForgetError, match=rf"s\.jsonl:{number}: a number of more than 4300 digits$"):
        read_submission(path)
    out = tmp_path / "r.json"
    args = ["score", str(path), "--level", HAND_LEVEL, "--dataset", str(hand_dataset), "--out", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {path}:{number}: "), err
    assert not out.exists()


def test_a_huge_integer_in_a_submission_through_the_command(tmp_path: Path, hand_dataset: Path) -> None:
    """The installed command as a user runs it: a non-zero exit and exactly one stderr line."""
    path = submission_with(tmp_path / "s.jsonl", *HUGE_SUBMISSION_LINES["nested"])
    command = [str(Path(sys.executable).parent / "medforget"), "score", str(path), "--level", HAND_LEVEL]
    done = subprocess.run(
        [*command, "--dataset", str(hand_dataset)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode != 0
    assert done.stderr.splitlines() == [f"error: {path}:4: a number of more than 4300 digits"], done.stderr


# A results JSON (the --reference of `score`) read through io.read_json: the same holes.
BAD_RESULTS = {
    "huge-integer": huge('{"schema_version": N}'),
    "huge-integer-nested": huge('{"items": [{"score": 1, "x": [N]}]}'),
    "nested-too-deeply": "[" * 100_000 + "]" * 100_000,
}


@pytest.mark.parametrize("case", BAD_RESULTS)
def test_a_bad_reference_results_file_is_one_line(
    case: str, tmp_path: Path, hand_dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    submission = tmp_path / "s.jsonl"
    write_submission(submission, SubmissionMetadata(**METADATA), hand_predictions())
    reference = tmp_path / "reference.json"
    reference.write_text(BAD_RESULTS[case], encoding="utf-8")
    args = ["score", str(submission), "--level", HAND_LEVEL, "--dataset", str(hand_dataset)]
    assert main([*args, "--reference", str(reference)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {reference}: not valid JSON"), err


# ---- 18. The metric module takes the scoring options of `medforget score`, names and results alike.

# Options of `medforget score` about the whole submission file, not about scoring answers: the
# metric scores given columns (no file, level, dataset, output, reference or bootstrap intervals).
# `overwrite` is listed ahead of issue 29 #3, which gives `score --out` the --overwrite rule.
SUBMISSION_ONLY_OPTIONS = {"submission", "level", "dataset", "size", "reference", "out", "overwrite", "seed"}
# The metric's inputs; besides these and `use_aggregator`, every keyword is an option of the command.
METRIC_INPUTS = {"self", "predictions", "references", "tasks", "options", "facts", "questions"}


@pytest.fixture(scope="module")
def metric() -> evaluate.EvaluationModule:
    return evaluate.load(medforget_data.metric_path())


def score_command_defaults() -> dict[str, object]:
    """The scoring options of `medforget score`: argument name → default."""
    (subparsers,) = (a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    actions = subparsers.choices["score"]._actions
    return {
        a.dest: a.default
        for a in actions
        if a.dest not in SUBMISSION_ONLY_OPTIONS and not isinstance(a, argparse._HelpAction)
    }


def test_the_metric_takes_the_scoring_options_of_medforget_score(metric: evaluate.EvaluationModule) -> None:
    parameters = inspect.signature(type(metric)._compute).parameters
    options = {
        name: p.default for name, p in parameters.items() if name not in METRIC_INPUTS | {"use_aggregator"}
    }
    assert options == score_command_defaults()
    assert {"rule", "judge", "judge_base_url"} <= options.keys()


def hand_columns(split: str) -> dict[str, list]:
    rows = [row for row, _ in HAND_ITEMS[split]]
    return {
        "predictions": [prediction for _, prediction in HAND_ITEMS[split]],
        "references": [r["answer"] for r in rows],
        "tasks": [r["task"] for r in rows],
        "options": [r["options"] for r in rows],
        "facts": [r["fact"] for r in rows],
        "questions": [r["question"] for r in rows],
    }


def command_scores(tmp_path: Path, dataset: Path, *options: str) -> dict[tuple[str, str], float]:
    """What `medforget score` writes: (split, task) → mean, and generation's rouge_l, factuality."""
    submission = tmp_path / "s.jsonl"
    write_submission(submission, SubmissionMetadata(**METADATA), hand_predictions())
    out = tmp_path / "r.json"
    args = ["score", str(submission), "--level", HAND_LEVEL, "--dataset", str(dataset), "--out", str(out)]
    assert main([*args, *options]) == 0
    scores: dict[tuple[str, str], float] = {}
    for split, by_task in read_results(out).scores.items():
        scores.update({(split, task): s.mean for task, s in by_task.items()})
        if (generation := by_task.get("generation")) is not None:
            scores[(split, "rouge_l")] = generation.rouge_l
            scores[(split, "factuality")] = generation.factuality
    return scores


def metric_scores(metric: evaluate.EvaluationModule, **options: object) -> dict[tuple[str, str], float]:
    """The metric's means over each split's columns, under the keys `command_scores` has."""
    scores: dict[tuple[str, str], float] = {}
    for split in HAND_ITEMS:
        means = metric.compute(**hand_columns(split), **options)
        tasks = dict.fromkeys(hand_columns(split)["tasks"])
        keys = [*tasks, *(("rouge_l", "factuality") if "generation" in tasks else ())]
        scores.update({(split, key): means[key] for key in keys})
    return scores


@pytest.mark.parametrize("rule", SCORING_RULES)
def test_metric_compute_equals_medforget_score_for_each_rule(
    rule: str,
    metric: evaluate.EvaluationModule,
    tmp_path: Path,
    hand_dataset: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    expected = command_scores(tmp_path, hand_dataset, "--rule", rule)
    capsys.readouterr()
    assert metric_scores(metric, rule=rule) == pytest.approx(expected, abs=1e-12)
    # The rules score these predictions differently ("Cardiomegaly." names option B, but is not the
    # reference "B) cardiomegaly"), so each rule really reached the scorer.
    other = next(r for r in SCORING_RULES if r != rule)
    assert metric_scores(metric, rule=other) != pytest.approx(expected, abs=1e-12)


def test_metric_rule_default_and_refusal(metric: evaluate.EvaluationModule) -> None:
    assert metric_scores(metric) == metric_scores(metric, rule=DEFAULT_RULE)
    with pytest.raises(MedForgetError, match="unknown scoring rule 'exact'"):
        metric.compute(**hand_columns("forget"), rule="exact")


def test_metric_judge_options_override_the_environment_as_the_command_does(
    metric: evaluate.EvaluationModule, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    server = ScriptedJudgeServer()
    try:
        server.script = [verdict(0.5)]
        for name in ("MEDFORGET_JUDGE_BASE_URL", "MEDFORGET_JUDGE_MODEL"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("MEDFORGET_JUDGE_API_KEY", "secret")
        columns = hand_columns("forget")
        means = metric.compute(
            **columns,
            judge="llm",
            judge_base_url=server.url,
            judge_model="given-model",
            judge_cache=str(tmp_path / "verdicts"),
            judge_retries=0,
            judge_backoff=0.0,
            judge_concurrency=1,
        )
        assert means["factuality"] == 0.5
        assert [request["model"] for request in server.requests] == ["given-model"]
        assert any((tmp_path / "verdicts").iterdir())  # the verdict was cached where it was told
    finally:
        server.close()


# ---- 19. Every install line installs: the package from its repository, the URL from pyproject.toml.

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def repository_requirement_url() -> str:
    """What pip installs this repository from: pyproject's Repository URL, at branch main."""
    return f"git+{PYPROJECT['urls']['Repository']}@main"


def defined_extras() -> set[str]:
    return set(PYPROJECT["optional-dependencies"])


# The file, and the extras its medforget requirement must ask for.
REQUIREMENTS_FILES = {
    "hub_card/leaderboard/requirements.txt": {"space"},
    "eval/medforget_metric/requirements.txt": set(),
}
# Prose and code blocks with `pip install …` lines a user copies: any extras the package defines.
CARDS = (
    "README.md",
    "hub_card/dataset_card.md",
    "hub_card/leaderboard/README.md",
    "eval/medforget_metric/README.md",
)
# Other distributions an install line may name, pinned to the version the project reads.
PINNED = {"torchxrayvision": f"=={PROVIDER_VERSION}"}


def check_requirement(requirement: Requirement, extras: set[str] | None = None) -> None:
    """This package from the repository (with `extras`, or any it defines), or a pinned dependency."""
    if requirement.name == PYPROJECT["name"]:
        assert requirement.url == repository_requirement_url(), requirement
        assert requirement.extras == (requirement.extras & defined_extras() if extras is None else extras)
        assert not requirement.specifier, requirement
    else:  # an index serves it: only what the project pins, pinned as it does
        assert requirement.url is None and str(requirement.specifier) == PINNED[requirement.name], requirement


def test_the_repository_url_is_defined_once_and_real() -> None:
    url = PYPROJECT["urls"]["Repository"]
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url), url
    assert not re.search(r"example|your|owner|<|placeholder", url, flags=re.IGNORECASE), url


@pytest.mark.parametrize("name", REQUIREMENTS_FILES)
def test_each_space_requirement_installs_from_the_repository(name: str) -> None:
    lines = (ROOT / name).read_text(encoding="utf-8").splitlines()
    requirements = [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]
    assert PYPROJECT["name"] in [r.name for r in requirements]
    for requirement in requirements:
        check_requirement(requirement, REQUIREMENTS_FILES[name])


@pytest.mark.parametrize("name", CARDS)
def test_each_pip_install_line_of_the_cards_installs(name: str) -> None:
    text = (ROOT / name).read_text(encoding="utf-8")
    assert not re.search(r"pip\s*\n\s*install|pip install\s*\n", text)  # none broken across lines
    commands = re.findall(r"pip install ([^`\n]+)", text)
    targets = [word for command in commands for word in shlex.split(command) if not word.startswith("-")]
    requirements = [Requirement(target) for target in targets]
    assert PYPROJECT["name"] in [r.name for r in requirements], commands
    for requirement in requirements:
        check_requirement(requirement)


def test_the_metric_module_tells_evaluate_what_to_install() -> None:
    """evaluate's ImportError says `pip install <what follows "From:">` (tests/test_metric_hub.py)."""
    code = (ROOT / "eval" / "medforget_metric" / "medforget_metric.py").read_text(encoding="utf-8")
    imports = re.findall(r"^from medforget_data\S* import .*$", code, flags=re.MULTILINE)
    assert imports and all(line.endswith(f"# From: {repository_requirement_url()}") for line in imports)


# ---- 20. Without the source data (a plain `pip install` of the repository), one line says what to install.


class _WithoutReportsFile:
    """An installed torchxrayvision whose data file is gone (another version, a trimmed wheel)."""

    version = "0.0"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def locate_file(self, name: str) -> Path:
        return self.folder / name


def _not_installed(name: str) -> object:
    raise importlib.metadata.PackageNotFoundError(name)


SOURCE_MISSING = {
    "not-installed": lambda folder: _not_installed,
    "file-missing": lambda folder: lambda name: _WithoutReportsFile(folder),
}


@pytest.mark.parametrize("case", SOURCE_MISSING)
def test_the_default_load_dataset_without_source_data_names_what_to_install(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MEDFORGET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(openi.importlib.metadata, "distribution", SOURCE_MISSING[case](tmp_path))
    with pytest.raises(MedForgetError) as raised:
        medforget_data.load_dataset()  # as typed after `pip install <repo>`: openi, full, in the cache
    message = str(raised.value)
    assert "\n" not in message
    assert "pip install --no-deps torchxrayvision==1.5.7" in message and "--source synthetic" in message
    out = tmp_path / "built"
    assert main(["build", "--size", "mini", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {message}\n" and not out.exists()
