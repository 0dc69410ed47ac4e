"""Apply a registered method to a loaded model at one level: validated config, data check, timing, record.

`medforget unlearn` saves what this returns; `medforget run` scores it in memory.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from medforget_data.dataset.manifest import read_manifest
from medforget_data.errors import MedForgetError
from medforget_data.methods import get_method
from medforget_data.methods.base import MethodConfig, load_unlearn_splits
from medforget_data.methods.simple import oracle_config_from_record
from medforget_data.models.build import ModelRecord


@dataclass
class Unlearned:
    model: object
    record: ModelRecord
    wall_seconds: float


def apply_method(
    name: str,
    model,
    processor,
    record: ModelRecord,
    dataset_dir: Path,
    level: str,
    config: MethodConfig | None = None,
    progress: bool = True,
) -> Unlearned:
    method = get_method(name)
    config = config or method.config_class()
    if name == "oracle":  # the vanilla model's own recipe and architecture
        config = oracle_config_from_record(config, record)
    manifest = read_manifest(dataset_dir)
    if record.dataset_hash != manifest.dataset_hash:
        raise MedForgetError(f"the model was trained on another dataset than {dataset_dir}")
    splits = load_unlearn_splits(dataset_dir, level)
    began = time.perf_counter()
    model = method.unlearn(model, processor, splits, config, progress=progress)
    wall = time.perf_counter() - began
    unlearned = ModelRecord(
        config_name=record.config_name,
        dataset_hash=manifest.dataset_hash,
        parameters=sum(p.numel() for p in model.parameters()),
        recipe={**record.recipe, "unlearn": {"method": name, "level": level}},
        history=record.history,
    )
    return Unlearned(model=model, record=unlearned, wall_seconds=wall)
