"""Done-markers: a stage is finished when its marker holds the stage's key (written last, atomically)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from medforget_data.errors import MedForgetError
from medforget_data.io import read_model, write_model

STATE_SCHEMA_VERSION = 1


class StageRecord(BaseModel):
    """`<run>/state/<stage>.json`: the stage's key, whether it finished, and its stage times."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = STATE_SCHEMA_VERSION
    key: str
    done: bool
    seconds: dict[str, float] = {}


class RunTimings(BaseModel):
    """`<run>/timings.json`: seconds per stage, and per kind of stage summed over the run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = STATE_SCHEMA_VERSION
    stages: dict[str, dict[str, float]]
    totals: dict[str, float]


class RunState:
    """One `StageRecord` per stage under `<run>/state/`."""

    def __init__(self, run_dir: Path) -> None:
        self.folder = Path(run_dir) / "state"

    def _path(self, stage: str) -> Path:
        return self.folder / f"{stage}.json"

    def read(self, stage: str) -> StageRecord | None:
        path = self._path(stage)
        if not path.is_file():
            return None
        try:
            return read_model(path, StageRecord, "stage record")
        except MedForgetError:
            return None  # another version's or a damaged marker: the stage is redone

    def is_done(self, stage: str, key: str) -> bool:
        record = self.read(stage)
        return record is not None and record.key == key and record.done

    def started_with(self, stage: str, key: str) -> bool:
        """An unfinished attempt of this same stage exists (its checkpoints may be resumed)."""
        record = self.read(stage)
        return record is not None and record.key == key and not record.done

    def mark(self, stage: str, key: str, done: bool, seconds: dict[str, float] | None = None) -> None:
        # Atomic: a marker is whole or absent.
        write_model(self._path(stage), StageRecord(key=key, done=done, seconds=seconds or {}))

    def all_seconds(self) -> dict[str, dict[str, float]]:
        if not self.folder.is_dir():
            return {}
        return {
            path.stem: record.seconds
            for path in sorted(self.folder.glob("*.json"))
            if (record := self.read(path.stem)) is not None
        }


@contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """One `medforget run` per run folder: two would train into the same checkpoints."""
    path = Path(run_dir) / "run.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            handle = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError:
            holder = path.read_text(encoding="utf-8").strip()
            if holder.isdigit() and _alive(int(holder)):
                raise MedForgetError(f"{run_dir} is in use by another medforget run (pid {holder})") from None
            path.unlink(missing_ok=True)  # left by a run that was killed
    else:
        raise MedForgetError(f"could not lock {run_dir}")  # lost a race for it twice
    os.write(handle, str(os.getpid()).encode())
    os.close(handle)
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
