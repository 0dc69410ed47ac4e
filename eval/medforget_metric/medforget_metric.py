"""MedForget metric: exact match (classification, cloze) and 0.25·ROUGE-L + 0.75·factuality (generation).

Thin over `medforget_data.scoring`: the definitions live there, this module only declares the
inputs for `evaluate` and hands them to `score_answers` and `metric_outputs`.
"""

import datasets
import evaluate

# `evaluate` reads what follows "From:" as what to `pip install` when an import fails: the package
# from its repository (no index serves medforget; the URL is pyproject.toml's Repository).
# Modules, not names, keep each line short enough for the URL.
from medforget_data import constants  # From: git+https://github.com/medforget/medforget@main
from medforget_data.scoring import score  # From: git+https://github.com/medforget/medforget@main

_DESCRIPTION = """\
Scores answers to MedForget items. Classification and cloze items score exact match (robust
option parsing for classification); generation items score 0.25·ROUGE-L F1 (rouge_score, stemmer
on) + 0.75·factuality from a judge: the offline judge (clinical findings with negation, exact
identity facts; the default) or an OpenAI-compatible LLM judge.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of str): model outputs.
    references (list of str): reference answers (the dataset's `answer`).
    tasks (list of str): `generation`, `classification` or `cloze` (the dataset's `task`).
    options (list of list of str): the options of classification items, [] for the others.
    facts (list of str): fact keys (the dataset's `fact`, e.g. "patient.name", "section.FINDINGS").
    questions (list of str, optional): the questions (the dataset's `question`); the LLM judge puts
        them in its prompt, the offline judge does not need them.
    rule (str, optional): how classification and cloze answers count as correct, as
        `medforget score --rule`: "project" (default; the option named, the normalised span) or
        "published" (ROUGE-L 1.0 against the full reference, as the published analysis).
    judge (str, optional): "offline" (default, no network) or "llm": an OpenAI-compatible endpoint
        from MEDFORGET_JUDGE_BASE_URL, MEDFORGET_JUDGE_MODEL and MEDFORGET_JUDGE_API_KEY.
    judge_base_url, judge_model (str, optional), judge_cache (path, optional), judge_retries,
        judge_concurrency (int, optional), judge_backoff (float, optional): the LLM judge's
        settings, overriding its environment variables, as `medforget score --judge-base-url` etc.
    use_aggregator (bool, optional): True (default) returns means; False returns one value per item.
Returns:
    Always the same keys. score: mean per-item score; exact_match (classification and cloze items),
    rouge_l and factuality (generation items): means over the items they apply to; classification,
    generation, cloze: the mean score of each task; unscored: items the judge gave no verdict (left
    out of every mean). A mean over no item is None. With use_aggregator=False every key holds one
    value per item (None where it does not apply; unscored True/False).
Examples:
    >>> import evaluate
    >>> metric = evaluate.load("medforget_metric")
    >>> metric.compute(predictions=["B", "A"], references=["B) cardiomegaly"] * 2,
    ...                tasks=["classification"] * 2, facts=["section.FINDINGS"] * 2,
    ...                options=[["nodule", "cardiomegaly", "opacity", "no acute abnormality"]] * 2)
    {'score': 0.5, 'exact_match': 0.5, 'rouge_l': None, 'factuality': None, 'generation': None, \
'classification': 0.5, 'cloze': None, 'unscored': 0.0}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class MedforgetMetric(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=constants.MEDFORGET_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Value("string"),
                    "references": datasets.Value("string"),
                    "tasks": datasets.Value("string"),
                    "options": datasets.Sequence(datasets.Value("string")),
                    "facts": datasets.Value("string"),
                }
            ),
            reference_urls=["https://arxiv.org/abs/2512.09867"],
        )

    def _compute(
        self,
        predictions: list[str],
        references: list[str],
        tasks: list[str],
        options: list[list[str]],
        facts: list[str],
        questions: list[str] | None = None,
        judge: str = "offline",
        use_aggregator: bool = True,
        # With `judge`, the scoring options of `medforget score`, under the same names and defaults
        # (None: the library's default), so one call scores as the command does
        # (tests/test_reliability_surfaces.py checks the names against the command's).
        rule: str | None = None,
        judge_base_url: str | None = None,
        judge_model: str | None = None,
        judge_cache: str | None = None,
        judge_retries: int | None = None,
        judge_backoff: float | None = None,
        judge_concurrency: int | None = None,
    ) -> dict:
        from pathlib import Path

        from medforget_data.scoring.judges import make_judge
        from medforget_data.scoring.metrics import DEFAULT_RULE

        made = make_judge(
            judge,
            base_url=judge_base_url,
            model=judge_model,
            cache_dir=None if judge_cache is None else Path(judge_cache),
            retries=judge_retries,
            backoff_seconds=judge_backoff,
            concurrency=judge_concurrency,
        )
        answers = score.score_answers(
            predictions,
            references,
            tasks,
            options,
            facts,
            made,
            questions=questions,
            rule=rule or DEFAULT_RULE,
        )
        return score.metric_outputs(answers, tasks, per_item=not use_aggregator)
