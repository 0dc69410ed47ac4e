"""Epoch checkpoints that a kill can never leave unusable.

Each save writes a complete new slot `<checkpoint>/epoch-NNNNNN/` (weights, trainer state and a
`meta.json` holding both files' sha256, each fsynced) under a staging name, renames it in, and only
then deletes older slots: at every instant the folder holds at least one complete checkpoint, or
the previous one. Loading takes the newest slot whose hashes match and whose files load; a damaged
slot is reported on stderr and deleted, and with none left training starts again from epoch 0.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import load_model as load_weights
from safetensors.torch import save_model as save_weights
from tqdm.auto import tqdm

from medforget_data.io import os_errors_named, plain_file_mode, sha256_file

WEIGHTS_FILE = "model.safetensors"
STATE_FILE = "trainer_state.pt"
META_FILE = "meta.json"
SLOT_PREFIX = "epoch-"
STAGING_PREFIX = ".staging-"


def _fsync(path: Path) -> None:
    handle = os.open(path, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def _warn(message: str) -> None:
    tqdm.write(f"warning: {message}", file=sys.stderr)  # beside any progress bar, not through it


def _slots(folder: Path) -> list[Path]:
    """Complete-looking slots, newest epoch first."""
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.is_dir() and p.name.startswith(SLOT_PREFIX)]
    return sorted(found, key=lambda p: p.name, reverse=True)


def _write_slot(staging: Path, model, optimizer, scheduler, epoch: int, history: list[dict]) -> None:
    """The slot's three files, each fsynced, and the folder itself."""
    save_weights(model, str(staging / WEIGHTS_FILE))  # handles the tied embedding
    plain_file_mode(staging / WEIGHTS_FILE)  # safetensors writes it 0600
    state = {
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "epoch": epoch,
        "history": history,
    }
    with (staging / STATE_FILE).open("wb") as handle:  # a file object: a full disk raises OSError,
        torch.save(state, handle)  # where torch.save(path) raises a RuntimeError naming nothing
    hashes = {name: sha256_file(staging / name) for name in (WEIGHTS_FILE, STATE_FILE)}
    meta = {"epoch": epoch, "sha256": hashes}
    (staging / META_FILE).write_text(json.dumps(meta) + "\n", encoding="utf-8")
    for name in (WEIGHTS_FILE, STATE_FILE, META_FILE):
        _fsync(staging / name)
    _fsync(staging)


def save_checkpoint(folder: Path, model, optimizer, scheduler, epoch: int, history: list[dict]) -> None:
    """Write epoch `epoch` as a new slot; older slots are removed only once it is complete on disk."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(f"{STAGING_PREFIX}*"):  # a save that a kill interrupted
        shutil.rmtree(stale, ignore_errors=True)
    slot = folder / f"{SLOT_PREFIX}{epoch:06d}"
    staging = folder / f"{STAGING_PREFIX}{epoch:06d}"
    staging.mkdir()
    try:
        with os_errors_named(folder):
            _write_slot(staging, model, optimizer, scheduler, epoch, history)
    except BaseException:  # a full disk, an error, Ctrl-C: no half-written slot is left behind
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if slot.exists():  # the same epoch saved again (a rerun): replace it, the older slots still stand
        shutil.rmtree(slot)
    staging.rename(slot)
    _fsync(folder)
    for older in _slots(folder):
        if older.name < slot.name:
            shutil.rmtree(older, ignore_errors=True)


def _valid(slot: Path) -> str | None:
    """None when the slot's files are whole, else what is wrong with it."""
    try:
        meta = json.loads((slot / META_FILE).read_text(encoding="utf-8"))
        hashes = meta["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return f"{META_FILE} missing or unreadable"
    for name in (WEIGHTS_FILE, STATE_FILE):
        path = slot / name
        if not path.is_file():
            return f"{name} missing"
        if sha256_file(path) != hashes.get(name):
            return f"{name} does not match its recorded hash (truncated or changed)"
    return None


def discard_damaged(folder: Path) -> Path | None:
    """The newest whole slot; damaged ones are reported and deleted. None when no whole slot is left."""
    folder = Path(folder)
    for legacy in (folder / WEIGHTS_FILE, folder / STATE_FILE):  # the old single-folder layout
        if legacy.exists():
            _warn(f"checkpoint {folder} has an old layout without hashes; discarded, training restarts")
            shutil.rmtree(folder, ignore_errors=True)
            return None
    for slot in _slots(folder):
        problem = _valid(slot)
        if problem is None:
            return slot
        _warn(f"checkpoint {slot} is damaged ({problem}); discarded")
        shutil.rmtree(slot, ignore_errors=True)
    return None


def has_checkpoint(folder: Path) -> bool:
    return discard_damaged(folder) is not None


def load_checkpoint(folder: Path, model, optimizer, scheduler) -> tuple[int, list[dict]] | None:
    """Restore the newest whole checkpoint into model, optimizer and scheduler: (next epoch, history).

    None (and nothing restored) when there is none or every slot was damaged: training starts anew.
    """
    while (slot := discard_damaged(folder)) is not None:
        try:
            state = torch.load(slot / STATE_FILE, weights_only=True)  # before anything is changed
            load_weights(model, str(slot / WEIGHTS_FILE))
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            return state["epoch"] + 1, state["history"]
        except Exception as error:  # whole files that still do not fit this model: same as damaged
            _warn(f"checkpoint {slot} cannot be loaded ({type(error).__name__}); discarded")
            shutil.rmtree(slot, ignore_errors=True)
    return None
