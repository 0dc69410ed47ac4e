"""Done-markers: a stage is finished when its marker holds the stage's key (written last, atomically)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict

from medforget_data.errors import MedForgetError
from medforget_data.io import check_lock_free, folder_lock, read_model, write_model
from medforget_data.pipeline.layout import RunLayout, Stage

STATE_SCHEMA_VERSION = 2  # 2: the stage and what its key hashes are kept beside the key


class StageRecord(BaseModel):
    """`<run>/state/<stage>.json`: the stage, its key and what the key hashes, whether it finished,
    and its stage times."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = STATE_SCHEMA_VERSION
    stage: Stage
    key: str
    payload: dict = {}  # what `key` is the hash of: a changed key can say what changed
    done: bool
    seconds: dict[str, float] = {}


class RunTimings(BaseModel):
    """`<run>/timings.json`: seconds per stage, and per kind of stage summed over the run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = STATE_SCHEMA_VERSION
    stages: dict[str, dict[str, float]]
    totals: dict[str, float]


class StageKey(NamedTuple):
    """A stage's identity: the sha256 of `payload`, everything that determines the stage's output."""

    key: str
    payload: dict


def stage_key(payload: dict) -> StageKey:
    canonical = json.dumps(payload, sort_keys=True, default=str)
    return StageKey(hashlib.sha256(canonical.encode()).hexdigest(), json.loads(canonical))


def changed_fields(old: object, new: object, path: str = "") -> list[str]:
    """`a.b: old → new` for each leaf that differs between two payloads."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [
            change
            for name in sorted(set(old) | set(new))
            for change in changed_fields(old.get(name), new.get(name), f"{path}.{name}" if path else name)
        ]
    return [] if old == new else [f"{path}: {old} → {new}"]


class RunState:
    """One `StageRecord` per stage under `<run>/state/`."""

    def __init__(self, layout: RunLayout) -> None:
        self.layout = layout

    def read(self, stage: Stage) -> StageRecord | None:
        path = self.layout.marker(stage)
        return read_marker(path) if path.is_file() else None

    def is_done(self, stage: Stage, key: StageKey) -> bool:
        record = self.read(stage)
        return record is not None and record.key == key.key and record.done

    def started_with(self, stage: Stage, key: StageKey) -> bool:
        """An unfinished attempt of this same stage exists (its checkpoints may be resumed)."""
        record = self.read(stage)
        return record is not None and record.key == key.key and not record.done

    def why_redone(self, stage: Stage, key: StageKey) -> str | None:
        """One line on why a stage that ran before under another key runs again; None if it did not."""
        if not self.layout.marker(stage).is_file():
            return None
        record = self.read(stage)
        if record is None:
            return f"{stage.name}: redone (its marker is from an older version of medforget)"
        if record.key == key.key:
            return None
        changes = changed_fields(record.payload, key.payload)
        return f"{stage.name}: redone ({'; '.join(changes[:3]) or 'its key changed'})"

    def mark(self, stage: Stage, key: StageKey, done: bool, seconds: dict[str, float] | None = None) -> None:
        # Atomic: a marker is whole or absent.
        record = StageRecord(stage=stage, key=key.key, payload=key.payload, done=done, seconds=seconds or {})
        write_model(self.layout.marker(stage), record)

    def finished(self) -> list[StageRecord]:
        """Every readable marker, in file-name order."""
        folder = self.layout.state_dir
        if not folder.is_dir():
            return []
        records = (read_marker(path) for path in sorted(folder.glob("*.json")))
        return [record for record in records if record is not None]


def read_marker(path: Path) -> StageRecord | None:
    try:
        return read_model(path, StageRecord, "stage record")
    except MedForgetError:
        return None  # another version's or a damaged marker: the stage is redone


def _busy_message(run_dir: Path) -> str:
    return f"{run_dir} is in use by another medforget run"


def check_run_free(run_dir: Path) -> None:
    """Refuse a run folder another run holds, before anything is built or printed (`run_lock` is
    what excludes a second run; this makes its refusal come first, before the dataset summary)."""
    check_lock_free(RunLayout(run_dir).lock, _busy_message(run_dir))


@contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """One `medforget run` per run folder: two would train into the same checkpoints."""
    with folder_lock(RunLayout(run_dir).lock, _busy_message(run_dir)):
        yield
