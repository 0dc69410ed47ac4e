"""Writing a build as a Hub dataset folder, as the builder's public names; the library owns it
(the loader builds a missing local dataset on first use, and the library never imports builders/)."""

from medforget_data.dataset.folder import ROW_GROUP_SIZE, build_dataset_folder, write_folder

__all__ = ["ROW_GROUP_SIZE", "build_dataset_folder", "write_folder"]
