"""Atomic outputs and the one JSON format.

A single file is written to a uniquely named temporary file beside it and renamed over it
(`os.replace`), so a reader sees the old file or the new one, never half of one. A folder is built
under a temporary name beside its target and renamed at the end. No torch here: the data and
scoring layers use this module.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn, TypeVar

from pydantic import BaseModel, ValidationError

from medforget_data.errors import MedForgetError

Model = TypeVar("Model", bound=BaseModel)


def current_umask() -> int:
    """The process's umask, read without changing it where Linux says it (/proc), else by setting it
    and back (not thread-safe, hence only the fallback)."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def plain_file_mode(path: Path) -> None:
    """Give `path` the mode a plain write gives a new file (0666 less the umask): writers that make
    their files 0600 (mkstemp, safetensors) would leave them unreadable to the group."""
    os.chmod(path, 0o666 & ~current_umask())


def _raise_named(error: OSError, path: Path) -> NoReturn:
    """Raise `error`, naming `path` when it names no file (a failed write on an open handle names
    none), so the CLI's one line can say which output failed."""
    if error.filename is None and error.errno is not None:
        raise OSError(error.errno, error.strerror, str(path)) from error  # picks the errno's subclass
    raise error


_WRAPPED_OS_ERROR = re.compile(r"\(os error (\d+)\)")  # how Rust writers (safetensors) report one


@contextmanager
def os_errors_named(path: Path) -> Iterator[None]:
    """OS errors inside the block name `path` when they name no file; a library's wrapped one
    (safetensors: `… (os error 28) …`) becomes the OSError it is, so the CLI prints it in one line."""
    try:
        yield
    except OSError as error:
        _raise_named(error, path)
    except Exception as error:
        match = _WRAPPED_OS_ERROR.search(str(error))
        if match is None:
            raise
        code = int(match[1])
        raise OSError(code, os.strerror(code), str(path)) from error


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` whole or not at all; the temporary file never outlives a failure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A unique temporary name: two writers of the same file never interleave.
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            # mkstemp makes the file 0600; it gets the mode a plain write would give it
            os.fchmod(stream.fileno(), 0o666 & ~current_umask())
            stream.write(text)
        os.replace(temporary, path)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        _raise_named(error, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def dump_json(payload: object) -> str:
    """Deterministic JSON (sorted keys, fixed indentation) so equal payloads give equal bytes."""
    return json.dumps(payload, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def write_json(path: Path, payload: object) -> None:
    atomic_write_text(path, dump_json(payload))


def read_json(path: Path, what: str = "JSON file") -> object:
    path = Path(path)
    if not path.is_file():
        raise MedForgetError(f"{what} {path} does not exist")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise MedForgetError(f"{path}: not valid JSON ({str(error).splitlines()[0]})") from None
    except RecursionError:  # thousands of nested brackets: refused like any other bad file
        raise MedForgetError(f"{path}: not valid JSON (nested too deeply)") from None


def write_model(path: Path, model: BaseModel) -> None:
    """A pydantic model as deterministic JSON, atomically."""
    write_json(path, model.model_dump(mode="json"))


def first_error(error: ValidationError) -> str:
    """A validation error as one line: where and what."""
    detail = error.errors()[0]
    where = ".".join(str(part) for part in detail["loc"])
    return f"{where}: {detail['msg']}" if where else detail["msg"]


def read_model(path: Path, model_class: type[Model], what: str) -> Model:
    """A pydantic model from a JSON file; missing, invalid or of another schema version: one-line error."""
    payload = read_json(path, what)
    expected = model_class.model_fields.get("schema_version")
    if expected is not None and isinstance(payload, dict):
        found = payload.get("schema_version")
        if found != expected.default:
            raise MedForgetError(
                f"{path}: {what} of schema version {found}; this medforget reads version "
                f"{expected.default} (write it again with this version)"
            )
    try:
        return model_class.model_validate(payload)
    except ValidationError as error:
        raise MedForgetError(f"{path}: not a valid {what} ({first_error(error)})") from None


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
        # mkdtemp makes the folder 0700; it gets the mode a plain mkdir would give it
        os.chmod(staging, 0o777 & ~current_umask())
        yield staging
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    except OSError as error:  # a full disk, a read-only mount: the one line names the output
        shutil.rmtree(staging, ignore_errors=True)
        _raise_named(error, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def sha256_file(path: Path) -> str:
    """The sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
