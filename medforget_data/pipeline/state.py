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
