"""Checks every command makes before any work: a bad path or device fails in a second, not after it."""

from __future__ import annotations

import tempfile
from pathlib import Path

from medforget_data.errors import MedForgetError


def _writable_dir(folder: Path, what: Path) -> None:
    if not folder.is_dir():
        raise MedForgetError(f"cannot write {what}: {folder} is not a folder")
    try:  # really try: os.access says yes to root even on /proc or a read-only mount
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise MedForgetError(f"cannot write {what}: {folder} is not writable ({error.strerror})") from None


def check_output_file(path: Path, overwrite: bool = False) -> None:
    """A file to be written: its folder exists and is writable; an existing file needs `overwrite`."""
    path = Path(path)
    if path.is_dir():
        raise MedForgetError(f"output {path} is a folder; give a file name")
    if path.exists() and not overwrite:
        raise MedForgetError(f"output file {path} already exists; pass --overwrite to replace it")
    _writable_dir(path.parent if str(path.parent) else Path("."), path)


def check_output_folder(path: Path, overwrite: bool = False) -> None:
    """A folder to be created: absent (or `overwrite`), and its nearest existing ancestor writable."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise MedForgetError(f"output folder {path} already exists; pass --overwrite to replace it")
    ancestor = path.absolute().parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    _writable_dir(ancestor, path)


def check_input_file(path: Path, what: str) -> None:
    path = Path(path)
    if path.is_dir():
        raise MedForgetError(f"{what} {path} is a folder, not a file")
    if not path.is_file():
        raise MedForgetError(f"{what} {path} does not exist")


def check_at_least(option: str, value: int | float | None, minimum: int) -> None:
    """A numeric option's floor, checked before the (slow) imports its config model needs."""
    if value is not None and not value >= minimum:  # `not >=` also refuses NaN
        raise MedForgetError(f"{option} must be at least {minimum}, got {value}")


def check_not_inside(output: Path, inputs: dict[str, Path | None]) -> None:
    """Refuse an output that is, contains or lies inside one of the command's inputs.

    `inputs` maps what each input is ("dataset folder", "model folder", …) to its path (None: not
    given). Paths are compared resolved (symlinks, `..`), both ways: replacing an output that holds an
    input, or writing into an input, would destroy or change what the command reads — with
    `--overwrite` too, so this check comes before any existence check.
    """
    target = Path(output).resolve()
    for what, path in inputs.items():
        if path is None:
            continue
        source = Path(path).resolve()
        if target == source:
            relation = "is"
        elif source in target.parents:
            relation = "lies inside"
        elif target in source.parents:
            relation = "contains"
        else:
            continue
        raise MedForgetError(f"output {output} {relation} the {what} {path}; choose another output path")
