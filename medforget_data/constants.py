"""The benchmark's vocabulary: one definition of every level, split, task and section name.

Everything else imports these; nothing retypes them.
"""

from __future__ import annotations

from typing import Literal, get_args

Level = Literal["institution", "patient", "study", "section"]
LEVELS: tuple[Level, ...] = get_args(Level)

Task = Literal["generation", "classification", "cloze"]
TASKS: tuple[Task, ...] = get_args(Task)

SectionName = Literal["EXAMINATION", "INDICATION", "FINDINGS", "IMPRESSION"]
SECTIONS: tuple[SectionName, ...] = get_args(SectionName)

Variant = Literal["original", "rephrased"]
VARIANTS: tuple[Variant, ...] = get_args(Variant)

# Splits of each level config (design §6, §10). forget, retain, sibling and the unlearner's halves
# partition `train` by node. The unlearner's halves (a seeded half of the retain nodes and of each
# target's sibling nodes) are what a method may train and select on besides `forget`; `retain`,
# `sibling`, their rephrasings and `holdout` are report-only.
PARTITION_SPLITS: tuple[str, ...] = ("forget", "retain", "sibling")
REPHRASED_SPLITS: tuple[str, ...] = tuple(f"{split}_rephrased" for split in PARTITION_SPLITS)
HOLDOUT_SPLIT = "holdout"
UNLEARNER_SPLITS: tuple[str, ...] = ("unlearn_retain", "unlearn_sibling")
# What a method sees: forget and the unlearner's halves, nothing else (methods/base.py UnlearnSplits).
UNLEARNER_VIEW: tuple[str, ...] = ("forget", *UNLEARNER_SPLITS)
# What is generated, scored and reported per level.
REPORTED_SPLITS: tuple[str, ...] = (*PARTITION_SPLITS, *REPHRASED_SPLITS, HOLDOUT_SPLIT)
LEVEL_SPLITS: tuple[str, ...] = (*REPORTED_SPLITS, *UNLEARNER_SPLITS)

TRAIN_CONFIG = "train"
TRAIN_SPLIT = "train"
TRAIN_SPLITS: tuple[str, ...] = (TRAIN_SPLIT, HOLDOUT_SPLIT)
CONFIGS: tuple[str, ...] = (*LEVELS, TRAIN_CONFIG)

Size = Literal["full", "mini"]
SIZES: tuple[Size, ...] = get_args(Size)

# Blank marker of cloze questions and the option letters of classification questions.
CLOZE_BLANK = "[blank]"
OPTION_LETTERS: tuple[str, ...] = ("A", "B", "C", "D")

# The reference rows of every table: the model before unlearning and the retrain-without-forget oracle.
REFERENCE_METHODS: tuple[str, ...] = ("vanilla", "oracle")

# A model folder's parts that commands check before loading torch (a cheap refusal comes first)
CHECKPOINT_DIR = "checkpoint"  # the epoch checkpoint while a training runs (resume)
PRETRAINING_FILE = "pretraining.json"  # in a base's folder: its corpus, recipe and leakage counts

# What the vanilla model must reach on the forget split before any gap means something (issue 4, 18):
# exact match for classification and cloze, ROUGE-L for generation.
MEMORISATION_TARGETS: dict[Task, float] = {"generation": 0.7, "classification": 0.9, "cloze": 0.9}

DEFAULT_SEED = 0
DEFAULT_IMAGE_SIZE = 224
DATASET_NAME = "medforget"

# The benchmark's paper: the dataset card's and the metric's citation.
MEDFORGET_CITATION = """\
@article{wu2025medforget,
  title = {MedForget: Hierarchy-Aware Multimodal Unlearning Testbed for Medical AI},
  author = {Wu, Fengli and Patil, Vaidehi and Yoon, Jaehong and Zhang, Yue and Bansal, Mohit},
  journal = {arXiv preprint arXiv:2512.09867},
  year = {2025}
}"""
