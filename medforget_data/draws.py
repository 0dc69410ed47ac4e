"""Seeded draws keyed on stable values: the same keys give the same choice in any order, process or run."""

from __future__ import annotations

import hashlib


def keyed_index(count: int, *keys: object) -> int:
    """An index in range(count) drawn from `keys` joined by ':' (sha256 — never Python's salted hash())."""
    digest = hashlib.sha256(":".join(str(key) for key in keys).encode()).digest()
    return int.from_bytes(digest[:8], "big") % count
