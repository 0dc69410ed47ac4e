"""Done-markers: a stage is finished when its marker holds the stage's key (written last, atomically)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from medforget_data.errors import MedForgetError


class RunState:
    """`<run>/state/<stage>.json` per stage: its key, whether it finished, and its stage times."""

    def __init__(self, run_dir: Path) -> None:
        self.folder = Path(run_dir) / "state"

    def _path(self, stage: str) -> Path:
        return self.folder / f"{stage}.json"

    def read(self, stage: str) -> dict | None:
        path = self._path(stage)
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    def is_done(self, stage: str, key: str) -> bool:
        record = self.read(stage)
        return record is not None and record.get("key") == key and record.get("done", False)

    def started_with(self, stage: str, key: str) -> bool:
        """An unfinished attempt of this same stage exists (its checkpoints may be resumed)."""
        record = self.read(stage)
        return record is not None and record.get("key") == key and not record.get("done", False)

    def mark(self, stage: str, key: str, done: bool, seconds: dict[str, float] | None = None) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.folder, prefix=f".{stage}.", suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump({"key": key, "done": done, "seconds": seconds or {}}, stream, indent=1)
        os.replace(temporary, self._path(stage))  # a marker is whole or absent

    def all_seconds(self) -> dict[str, dict[str, float]]:
        if not self.folder.is_dir():
            return {}
        return {
            path.stem: json.loads(path.read_text(encoding="utf-8")).get("seconds", {})
            for path in sorted(self.folder.glob("*.json"))
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
