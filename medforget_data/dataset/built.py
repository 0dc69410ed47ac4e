"""A built dataset folder, opened once: its manifest, hierarchy and splits, each read at most once.

`medforget run` opens one and hands it to every stage (fine-tuning, unlearning, generation, scoring,
attacks), so a split's parquet is read once per run, not once per stage and method.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from medforget_data.constants import LEVELS, REPHRASED_SPLITS, REPORTED_SPLITS
from medforget_data.dataset.examples import Example, read_examples
from medforget_data.dataset.load import read_split_items
from medforget_data.dataset.manifest import Manifest, read_manifest
from medforget_data.dataset.schema import Hierarchy, QAItem
from medforget_data.errors import check_choice

T = TypeVar("T")


class BuiltDataset:
    """A read-only view of one built folder; what it reads is kept (the folder must not change under it)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.manifest: Manifest = read_manifest(self.folder)
        self._cache: dict[tuple, object] = {}

    @classmethod
    def of(cls, dataset: BuiltDataset | Path | str) -> BuiltDataset:
        """`dataset` itself, or the folder opened (for callers holding a path: the CLI, one-off uses)."""
        return dataset if isinstance(dataset, BuiltDataset) else cls(Path(dataset))

    @property
    def dataset_hash(self) -> str:
        return self.manifest.dataset_hash

    def _once(self, key: tuple, read: Callable[[], T]) -> T:
        if key not in self._cache:
            self._cache[key] = read()
        return self._cache[key]  # type: ignore[return-value]

    def items(self, config: str, split: str) -> list[QAItem]:
        """One split's items (no images)."""
        return self._once(("items", config, split), lambda: read_split_items(self.folder, config, split))

    def examples(self, config: str, split: str) -> list[Example]:
        """One split's items with their decoded images."""
        size = self.manifest.build.image_size
        return self._once(
            ("examples", config, split), lambda: read_examples(self.folder, config, split, size)
        )

    def level_items(self, level: str) -> dict[str, list[QAItem]]:
        """Every reported split of a level's config (what a submission answers), by split name."""
        check_choice("level", level, LEVELS)
        return {split: self.items(level, split) for split in REPORTED_SPLITS}

    def rephrased_items(self) -> list[QAItem]:
        """Every rephrased item of any level, once each (first by level, then split order): the train
        items asked in held-out wordings, as far as the levels report them (the tokenizer's corpus)."""
        return self._rephrased(self.items, lambda item: item.id)

    def rephrased_examples(self) -> list[Example]:
        """`rephrased_items` with their images (a pretraining corpus trains on them)."""
        return self._rephrased(self.examples, lambda example: example.item.id)

    def _rephrased(self, read: Callable[[str, str], list[T]], item_id: Callable[[T], str]) -> list[T]:
        found: dict[str, T] = {}
        for level in LEVELS:
            for split in REPHRASED_SPLITS:
                for row in read(level, split):
                    found.setdefault(item_id(row), row)
        return list(found.values())

    def hierarchy(self) -> Hierarchy:
        return self._once(("hierarchy",), lambda: Hierarchy.read(self.folder))
