"""Atomic outputs and the one JSON format.

A single file is written to a uniquely named temporary file beside it and renamed over it
(`os.replace`), so a reader sees the old file or the new one, never half of one. A folder is built
under a temporary name beside its target and put in place at the end, the old folder deleted only
after. `folder_lock` keeps two writers of one target apart. No torch here: the data and scoring
layers use this module.
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


def lock_file_beside(out: Path) -> Path:
    """The lock file of writers of the folder `out`: beside it, not in it, as the folder is replaced."""
    out = Path(out)
    return out.parent / f".{out.name}.lock"


def _remove_if_free(lock_file: Path) -> bool:
    """Delete a lock file no live process holds (its holder was killed), as a holder releasing it
    does: locked, then unlinked while locked. A held one (by another process, or by this one on
    another descriptor) is kept."""
    import fcntl  # POSIX only, as in folder_lock

    try:
        handle = os.open(lock_file, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if os.stat(lock_file).st_ino != os.fstat(handle).st_ino:
            return False  # replaced meanwhile: the new file is someone's live lock
        lock_file.unlink()
        return True
    except (BlockingIOError, FileNotFoundError):
        return False
    finally:
        os.close(handle)


def remove_stale_staging(out: Path) -> list[Path]:
    """Delete staging folders of `out` left by a killed process (`.NAME.PID.*` whose PID is gone),
    and its lock file if a killed process left it.

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
    if _remove_if_free(lock_file_beside(out)):
        removed.append(lock_file_beside(out))
    return removed


def _replace_contents(staging: Path, out: Path) -> None:
    """Replace what `out` holds by what `staging` holds, for a folder that cannot itself be renamed
    (a mount point: EBUSY).

    The old entries first move into a hidden folder inside `out` (same filesystem: one rename each),
    then the new ones move in (a copy when `staging` is on another filesystem), and the old ones are
    deleted last. On a failure the new entries are removed and the old ones moved back.
    """
    old = Path(tempfile.mkdtemp(prefix=".medforget-old.", dir=out))
    moved_in: list[Path] = []
    try:
        for entry in sorted(out.iterdir()):
            if entry != old:
                entry.rename(old / entry.name)
        for entry in sorted(staging.iterdir()):
            moved_in.append(out / entry.name)  # before the move: a half-copied entry is removed too
            shutil.move(entry, out / entry.name)
    except BaseException:
        for entry in moved_in:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
        for entry in old.iterdir():
            entry.rename(out / entry.name)
        old.rmdir()
        raise
    shutil.rmtree(old, ignore_errors=True)


def _replace_folder(staging: Path, out: Path) -> None:
    """Put the complete `staging` in place of `out`; the old `out` is deleted only once the new one is
    in place, and put back if it cannot be."""
    if not out.exists():
        staging.rename(out)
        return
    # A staging-like name, so a process killed between the two renames leaves it to be cleaned up.
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.{os.getpid()}.", dir=out.parent))
    try:
        os.rename(out, old)  # onto the empty folder just made: POSIX renames a folder over an empty one
    except OSError:
        old.rmdir()
        _replace_contents(staging, out)
        return
    try:
        staging.rename(out)
    except BaseException:
        os.rename(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


@contextmanager
def atomic_folder(out: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a staging folder; on success it replaces `out`, on any failure it is removed.

    An existing `out` (with `overwrite`) is kept until the new folder is complete and in place: a build
    that fails, or cannot be put in place, leaves the old folder as it was.
    """
    out = Path(out)
    if out.exists() and not overwrite:
        raise MedForgetError(f"output folder {out} already exists; pass --overwrite to replace it")
    if out.exists() and not out.is_dir():
        raise MedForgetError(f"output {out} is a file, not a folder; remove it or choose another --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(out)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.{os.getpid()}.", dir=out.parent))
    try:
        # mkdtemp makes the folder 0700; it gets the mode a plain mkdir would give it
        os.chmod(staging, 0o777 & ~current_umask())
        yield staging
        replacing = out.exists()
        try:
            _replace_folder(staging, out)
        except OSError as error:
            reason = error.strerror or str(error) or type(error).__name__
            kept = "; the old one is kept" if replacing else ""
            raise MedForgetError(f"cannot put the new {out} in place ({reason}){kept}") from None
        shutil.rmtree(staging, ignore_errors=True)  # emptied, when the contents were moved one by one
    except OSError as error:  # a full disk, a read-only mount while writing: the one line names the output
        shutil.rmtree(staging, ignore_errors=True)
        _raise_named(error, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


@contextmanager
def folder_lock(lock_file: Path, busy: str, wait: bool = False) -> Iterator[None]:
    """Hold an OS lock (`flock`) on `lock_file` for the block: one writer at a time.

    The kernel releases the lock when its holder exits or is killed, so a lock left by a killed
    process is simply free and there is no takeover to race. The file holds the holder's pid (for
    the message only) and is removed on release; a locker that finds its file was replaced meanwhile
    (removed by the previous holder) locks the new one instead. A busy lock raises `busy` (plus the
    holder's pid) as one line, or is waited for when `wait`.
    """
    import fcntl  # POSIX only: imported where used, so the module itself imports anywhere

    lock_file = Path(lock_file)
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    while True:
        handle = os.open(lock_file, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            error = _busy(handle, busy)
            os.close(handle)
            raise error from None
        try:
            if os.stat(lock_file).st_ino == os.fstat(handle).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(handle)  # locked a file its previous holder has just removed: try the current one
    try:
        os.ftruncate(handle, 0)
        os.pwrite(handle, str(os.getpid()).encode(), 0)
        yield
    finally:
        lock_file.unlink(missing_ok=True)  # while still locked: nobody can hold the removed file's lock
        os.close(handle)


def _busy(handle: int, busy: str) -> MedForgetError:
    holder = os.pread(handle, 32, 0).decode(errors="replace").strip()
    return MedForgetError(busy + (f" (pid {holder})" if holder else ""))


def check_lock_free(lock_file: Path, busy: str) -> None:
    """Raise `busy` (as `folder_lock` would) when another process holds the lock; takes nothing.

    A probe only (a shared lock taken and released at once, the file left as found): `folder_lock`
    is what excludes a second writer; this lets a command refuse before it prints or builds anything.
    """
    import fcntl

    try:
        handle = os.open(lock_file, os.O_RDONLY)
    except OSError:
        return  # no lock file (or no folder): nobody holds it
    try:
        fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)  # conflicts only with a holder's LOCK_EX
    except BlockingIOError:
        raise _busy(handle, busy) from None
    finally:
        os.close(handle)  # closing releases the probe's shared lock


def sha256_file(path: Path) -> str:
    """The sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
