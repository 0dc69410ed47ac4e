"""Progress bars: one switch for the process, read where a bar is made (no `progress=` parameters).

with progress.quiet():   # tests, worker processes, callers that print their own summary
    ...
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from tqdm.auto import tqdm

_enabled = True


def enabled() -> bool:
    return _enabled


def bar(iterable: Iterable | None = None, **kwargs: Any) -> tqdm:
    """A tqdm bar (same arguments), hidden while progress is off."""
    return tqdm(iterable, disable=not _enabled, **kwargs)


@contextmanager
def quiet() -> Iterator[None]:
    """No bars inside the block (nested blocks restore what was before)."""
    global _enabled
    before, _enabled = _enabled, False
    try:
        yield
    finally:
        _enabled = before


def note(message: str) -> None:
    """One line on stderr, printed above any open bar instead of through it."""
    tqdm.write(message, file=sys.stderr)
