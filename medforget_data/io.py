"""Atomic outputs: a folder is built under a temporary name beside its target and renamed at the end."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from medforget_data.errors import MedForgetError

_STAGING = re.compile(r"^(?:(\d+)\.)?[a-z0-9_]{8}$")  # tempfile.mkdtemp's 8-character suffix


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_staging(out: Path) -> list[Path]:
    """Delete staging folders of `out` left by a killed process (`.NAME.PID.*` whose PID is gone).

    A staging folder of a process still running (another build of the same target) is kept; one
    without a pid in its name comes from an older version and is removed.
    """
    removed = []
    for candidate in Path(out).parent.glob(f".{Path(out).name}.*"):
        # exactly `.NAME.PID.xxxxxxxx` (or `.NAME.xxxxxxxx`): never another target's `.NAME.v2.…`
        match = _STAGING.match(candidate.name[len(Path(out).name) + 2 :])
        if not candidate.is_dir() or not match or (match[1] and _alive(int(match[1]))):
            continue
        shutil.rmtree(candidate, ignore_errors=True)
        removed.append(candidate)
    return removed


@contextmanager
def atomic_folder(out: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a staging folder; on success it replaces `out`, on any failure it is removed."""
    out = Path(out)
    if out.exists() and not overwrite:
        raise MedForgetError(f"output folder {out} already exists; pass --overwrite to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(out)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.{os.getpid()}.", dir=out.parent))
    try:
        yield staging
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
