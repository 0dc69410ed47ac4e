"""The dataset card and shard names, as the builder's public names; the library owns them."""

from medforget_data.dataset.card import LICENCE_TERMS, render_card
from medforget_data.dataset.manifest import parquet_name

__all__ = ["LICENCE_TERMS", "parquet_name", "render_card"]
