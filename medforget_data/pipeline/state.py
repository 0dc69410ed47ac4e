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
    """One `medforget run` per run folder: two would train into the same checkpoints.

    An OS lock (`flock`) on `run.lock`: the kernel releases it when its holder exits or is killed,
    so a lock left by a killed run is simply free and there is no takeover to race. The file holds
    the holder's pid (for the message only) and is removed on release; a locker that finds its
    file was replaced meanwhile (removed by the previous holder) locks the new one instead.
    """
    import fcntl

    path = Path(run_dir) / "run.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        handle = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(handle, 32, 0).decode(errors="replace").strip()
            os.close(handle)
            raise MedForgetError(
                f"{run_dir} is in use by another medforget run" + (f" (pid {holder})" if holder else "")
            ) from None
        try:
            if os.stat(path).st_ino == os.fstat(handle).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(handle)  # locked a file its previous holder has just removed: try the current one
    try:
        os.ftruncate(handle, 0)
        os.pwrite(handle, str(os.getpid()).encode(), 0)
        yield
    finally:
        path.unlink(missing_ok=True)  # while still locked: nobody can hold the removed file's lock
        os.close(handle)
