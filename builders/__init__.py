"""The Hub dataset builder: materialise → dataset repo folder (+ push). Thin over medforget_data."""

from medforget_data.builders.hub_folder import build_dataset_folder
from medforget_data.builders.push import check_push_allowed, push_dataset_folder

__all__ = ["build_dataset_folder", "check_push_allowed", "push_dataset_folder"]
