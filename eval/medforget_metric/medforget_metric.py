"""MedForget metric: exact match (classification, cloze) and 0.25·ROUGE-L + 0.75·factuality (generation).

Thin over `medforget_data.scoring`: the definitions live there, this module only declares the
inputs for `evaluate` and hands them to `score_answer` and `summarise`.
"""

import datasets
import evaluate

from medforget_data.scoring.judge_offline import OfflineJudge
from medforget_data.scoring.score import score_answer, summarise

_CITATION = """\
@misc{medforget,
  title = {MedForget: hierarchy-aware multimodal unlearning benchmark},
  year = {2026}
}
"""

_DESCRIPTION = """\
Scores predictions on MedForget items. Classification and cloze items score exact match (robust
option parsing for classification); generation items score 0.25·ROUGE-L F1 (rouge_score, stemmer
on) + 0.75·factuality from the offline judge (clinical findings with negation, exact identity facts).
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: list of model outputs.
    references: list of reference answers (the dataset's `answer`).
    tasks: list of task names: generation, classification or cloze.
    options: list of option lists (empty for non-classification items).
    facts: list of fact keys (the dataset's `fact`, e.g. "patient.name", "section.FINDINGS").
Returns:
    score: mean per-item score over all items; exact_match, rouge_l, factuality: means over the
    items they apply to; and `<task>` means per task present.
Examples:
    >>> metric = evaluate.load(medforget_data.metric_path())
    >>> metric.compute(predictions=["B"], references=["B) cardiomegaly"], tasks=["classification"],
    ...                options=[["nodule", "cardiomegaly", "opacity", "no acute abnormality"]],
    ...                facts=["section.FINDINGS"])
    {'score': 1.0, 'exact_match': 1.0, 'classification': 1.0}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class MedforgetMetric(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
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
            codebase_urls=["https://pypi.org/project/medforget/"],
            reference_urls=["https://github.com/google-research/google-research/tree/master/rouge"],
        )

    def _compute(
        self,
        predictions: list[str],
        references: list[str],
        tasks: list[str],
        options: list[list[str]],
        facts: list[str],
    ) -> dict[str, float]:
        judge = OfflineJudge()
        answers = [
            score_answer(prediction, reference, task, choices, fact, judge)
            for prediction, reference, task, choices, fact in zip(
                predictions, references, tasks, options, facts, strict=True
            )
        ]
        return summarise(answers, tasks)
