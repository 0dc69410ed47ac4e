"""The manifest of a built dataset folder (what was built, how, the hash of every file) and its file names."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from medforget_data.errors import MedForgetError

MANIFEST_FILE = "manifest.json"
HIERARCHY_FILE = "hierarchy.json"
# The cache keys builds by it. 2: the train_questions column; 3: wordings from shared frames (issue 18);
# 4: the unlearner's halves, unlearn_retain and unlearn_sibling (issue 31)
FORMAT_VERSION = 4


def parquet_name(config: str, split: str) -> str:
    """Shard path inside the folder; the card's data_files globs match it."""
    return f"{config}/{split}-00000-of-00001.parquet"


class BuildConfig(BaseModel):
    """Everything a build depends on; two builds with equal configs are byte-identical."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str = "openi"
    size: str = "full"
    seed: int = 0
    image_size: int = 224
    mimic_root: str | None = None
    max_patients: int | None = None


class Manifest(BaseModel):
    model_config = ConfigDict(frozen=True)

    format_version: int = FORMAT_VERSION
    build: BuildConfig
    licence: str
    public_push_allowed: bool
    counts: dict[str, dict[str, int]]  # config -> split -> rows
    targets: dict[str, list[list[str]]]  # level -> target node paths
    skipped_reports: dict[str, int]
    files: dict[str, str]  # relative path -> sha256
    dataset_hash: str
    # sha256 of every other field (canonical JSON): an edited count, licence or push flag is caught
    content_hash: str | None = None

    def compute_content_hash(self) -> str:
        payload = self.model_dump(mode="json", exclude={"content_hash"})
        canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def sealed(self) -> Manifest:
        return self.model_copy(update={"content_hash": self.compute_content_hash()})

    @staticmethod
    def hash_files(files: dict[str, str]) -> str:
        digest = hashlib.sha256()
        for path in sorted(files):
            digest.update(f"{path}\0{files[path]}\n".encode())
        return digest.hexdigest()


def read_manifest(dataset_dir: Path) -> Manifest:
    path = Path(dataset_dir) / MANIFEST_FILE
    if not path.is_file():
        raise MedForgetError(f"{dataset_dir} is not a MedForget dataset folder: {MANIFEST_FILE} is missing")
    try:
        return Manifest.model_validate_json(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        first = str(error).splitlines()[0]
        raise MedForgetError(f"{path}: not a valid manifest ({first})") from None
