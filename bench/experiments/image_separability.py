"""Is a patient's identity in the pixels? Nearest neighbours between the train config's study images.

    .venv/bin/python bench/experiments/image_separability.py --dataset DATASET_DIR

Every identity question has the same text for every patient, so the target model must read who it
is from the image. This prints, at the model's input resolution, how often a study's nearest other
image (L2 on grey pixels) belongs to the same patient, and the typical distances within and
between patients: if identity were not visible, the memorisation gap would be the data's fault,
not the model's.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np

from medforget_data.dataset.examples import read_examples
from medforget_data.models.configs import IMAGE_SIDE


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", type=Path, required=True)
    args = parser.parse_args()
    images = {}
    for example in read_examples(args.dataset, "train", "train"):
        images.setdefault((example.item.patient_id, example.item.study_id), example.image)
    keys = sorted(images)
    pixels = np.stack(
        [
            np.asarray(images[k].convert("L").resize((IMAGE_SIDE, IMAGE_SIDE)), dtype=np.float64).ravel()
            / 255
            for k in keys
        ]
    )
    patients = np.array([patient for patient, _ in keys])
    studies_per_patient = Counter(patients.tolist())
    squared = (pixels**2).sum(1)
    distances = squared[:, None] + squared[None, :] - 2 * pixels @ pixels.T
    np.fill_diagonal(distances, np.inf)
    same = patients[:, None] == patients[None, :]
    several = np.array([studies_per_patient[p] > 1 for p in patients])
    nearest_same = (patients[distances.argmin(1)] == patients)[several].mean()
    finite = np.isfinite(distances)
    print(f"{len(keys)} study images of {len(studies_per_patient)} patients at {IMAGE_SIDE}×{IMAGE_SIDE}")
    print(f"nearest other image is the same patient's: {nearest_same:.3f} (patients with ≥ 2 studies)")
    print(
        f"median squared L2: same patient {np.median(distances[same & finite]):.1f}, "
        f"different patients {np.median(distances[~same]):.1f}; closest pair of any two {distances.min():.1f}"
    )


if __name__ == "__main__":
    main()
