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


class _Bar(tqdm):
    """A bar an error leaves by clearing its line: the error's one line is then all that stays."""

    def __exit__(self, exc_type, exc_value, traceback) -> None:
        if exc_type is not None:
            self.leave = False
        return super().__exit__(exc_type, exc_value, traceback)

    def __iter__(self) -> Iterator:
        # An error in the loop's body closes this generator (GeneratorExit) as it unwinds, before the
        # CLI prints anything: the bar is cleared then, or its last state would precede the error.
        inner = super().__iter__()
        try:
            # not `yield from`, which would close `inner` (so leave the bar) before the except runs
            for item in inner:  # noqa: UP028
                yield item
        except GeneratorExit:  # left early (an error, or a break): cleared rather than left
            self.leave = False
            inner.close()
            raise


def bar(iterable: Iterable | None = None, **kwargs: Any) -> tqdm:
    """A tqdm bar (same arguments), hidden while progress is off."""
    return _Bar(iterable, disable=not _enabled, **kwargs)


def clear() -> None:
    """Close every bar still open (ours, and libraries' such as transformers'), clearing its line:
    called before an error is printed, so a bar of the failed step does not precede it."""
    for open_bar in list(getattr(tqdm, "_instances", ())):
        open_bar.leave = False
        open_bar.close()


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
