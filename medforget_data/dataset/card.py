"""The dataset card: YAML (configs, splits, features, licence); prose from hub_card/dataset_card.md.

The template is read as a data file of the `medforget_data.hub_card` package, never imported.
"""

from __future__ import annotations

from importlib.resources import files

from datasets.info import DatasetInfo, DatasetInfosDict
from datasets.splits import SplitDict, SplitInfo
from huggingface_hub import DatasetCardData

from medforget_data.constants import CONFIGS, MEDFORGET_CITATION, TRAIN_CONFIG
from medforget_data.dataset.features import item_features
from medforget_data.dataset.manifest import parquet_name

# What each source licence means for a user of the build (the card's "Uses" section).
LICENCE_TERMS = {
    "cc-by-nc-nd-4.0": (
        "The report text and finding tags come from Open-i and are under **CC BY-NC-ND 4.0**: "
        "non-commercial use only, with attribution (cite the collection, below), and no distribution of "
        "adapted material: a build is one, so it stays where it was built unless the licence holder "
        "permits otherwise."
    ),
    "PhysioNet Credentialed Health Data License 1.5.0": (
        "The source data is under the **PhysioNet Credentialed Health Data License 1.5.0**: only for "
        "credentialed users bound by its data use agreement; a build must never be shared."
    ),
    "cc0-1.0": "The source data is **CC0 1.0**: no restriction.",
}


def card_metadata(
    counts: dict[str, dict[str, int]],
    num_bytes: dict[str, dict[str, int]],
    download_sizes: dict[str, int],
    source: str,
    licence: str,
) -> DatasetCardData:
    """The card's YAML: licence, tags, the configs' data files, and each config's features and splits."""
    features = item_features()
    infos = DatasetInfosDict(
        {
            config: DatasetInfo(
                config_name=config,
                features=features,
                splits=SplitDict(
                    {
                        split: SplitInfo(name=split, num_examples=n, num_bytes=num_bytes[config][split])
                        for split, n in counts[config].items()
                    }
                ),
                download_size=download_sizes[config],
                dataset_size=sum(num_bytes[config].values()),
            )
            for config in CONFIGS
        }
    )
    card_data = DatasetCardData(
        license=licence if licence in ("cc-by-nc-nd-4.0", "cc0-1.0") else "other",
        license_name=None if licence in ("cc-by-nc-nd-4.0", "cc0-1.0") else licence,
        language=["en"],
        pretty_name="MedForget-Open" if source != "mimic-cxr" else "MedForget (MIMIC-CXR)",
        task_categories=["visual-question-answering", "image-to-text"],
        tags=["medical", "machine-unlearning", "chest-x-ray", "radiology", "benchmark"],
        size_categories=["1K<n<10K"] if sum(counts["train"].values()) >= 1000 else ["n<1K"],
        configs=[
            {
                "config_name": config,
                "data_files": [
                    {"split": split, "path": parquet_name(config, split)} for split in counts[config]
                ],
                # datasets.load_dataset(folder) without a config name loads the fine-tuning set.
                **({"default": True} if config == TRAIN_CONFIG else {}),
            }
            for config in CONFIGS
        ],
    )
    infos.to_dataset_card_data(card_data)
    return card_data


def render_card(
    *,
    counts: dict[str, dict[str, int]],
    num_bytes: dict[str, dict[str, int]],
    download_sizes: dict[str, int],
    citation: str,
    source: str,
    size: str,
    seed: int,
    image_size: int,
    licence: str,
    provenance: str,
    public_push_allowed: bool,
    real_images: bool,
    skipped: dict[str, int],
) -> str:
    """The whole README.md: the YAML header, then the template's prose filled in for this build."""
    card_data = card_metadata(counts, num_bytes, download_sizes, source, licence)
    template = files("medforget_data.hub_card").joinpath("dataset_card.md").read_text(encoding="utf-8")
    push_policy = (
        "It may be shared."
        if public_push_allowed
        else "The built dataset is **not pushed to a public repository by default**: `medforget build "
        "--push` refuses unless the licence permits it and it is explicitly allowed."
    )
    body = template.format(
        pretty_name=card_data.pretty_name,
        source=source,
        size=size,
        seed=seed,
        image_size=image_size,
        licence=licence,
        provenance=provenance,
        push_policy=push_policy,
        row_counts="; ".join(
            f"`{c}`: " + ", ".join(f"{s} {n}" for s, n in counts[c].items()) for c in CONFIGS
        ),
        image_note=(
            "the source's own radiographs, centre-cropped and resized."
            if real_images
            else "rendered deterministically: a patient-specific anatomy that stays recognisable across "
            "their studies, with each study's findings drawn where the report places them."
        ),
        skipped=", ".join(f"{reason}: {n}" for reason, n in skipped.items()) or "none",
        licence_terms=LICENCE_TERMS.get(licence, f"The source data is under {licence}."),
        citations="\n\n".join(c for c in (MEDFORGET_CITATION, citation) if c),
    )
    return f"---\n{card_data.to_yaml()}\n---\n\n{body}"
