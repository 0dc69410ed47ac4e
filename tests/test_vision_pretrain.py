"""Vision pretraining on the `tiny` config: labels from the hierarchy, separation, freezing, oracles."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from medforget_data.dataset.examples import read_examples
from medforget_data.dataset.load import read_split_items
from medforget_data.models.batches import Encoder
from medforget_data.models.build import load_model, new_model
from medforget_data.models.finetune import finetune, training_examples
from medforget_data.models.recipe import RecipeOptions, resolve_recipe
from medforget_data.models.vision_pretrain import (
    IMAGE_LEVELS,
    image_labels,
    mean_cosine_between_images,
    pretrain_vision,
    training_images,
)


@pytest.fixture(scope="module")
def examples(synthetic_mini_dir: Path):
    return read_examples(synthetic_mini_dir, "train", "train")


def test_one_image_per_study_and_labels_follow_the_hierarchy_ids(examples) -> None:
    images = training_images(examples)
    assert [image.item.study_id for image in images] == list(dict.fromkeys(e.item.study_id for e in examples))
    assert IMAGE_LEVELS == ("institution", "patient", "study")
    for level, labels in zip(IMAGE_LEVELS, image_labels(images), strict=True):
        ids = [getattr(image.item, f"{level}_id") for image in images]
        assert int(labels.max()) + 1 == len(set(ids))
        for a in range(len(images)):
            for b in range(len(images)):
                assert (labels[a] == labels[b]) == (ids[a] == ids[b])


def test_pretraining_separates_the_images_and_touches_only_the_vision_tower(
    synthetic_mini_dir: Path, examples
) -> None:
    model, processor = new_model("tiny", synthetic_mini_dir, seed=0)
    images = training_images(examples)
    language_before = {k: v.clone() for k, v in model.state_dict().items() if ".visual." not in k}
    visual_before = {k: v.clone() for k, v in model.model.visual.state_dict().items()}
    encoder = Encoder(processor)
    alike_before = mean_cosine_between_images(model, encoder, images)
    accuracy = pretrain_vision(model, encoder, examples, epochs=60, lr=3e-3, seed=0)
    assert accuracy >= 0.9  # each study told apart from every other
    # the images' visual tokens are less alike than at initialisation: the opposite of the collapse
    assert mean_cosine_between_images(model, encoder, images) < alike_before
    after = model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in language_before.items())
    visual_after = model.model.visual.state_dict()
    assert any(not torch.equal(visual_after[k], v) for k, v in visual_before.items())


def test_finetune_keeps_the_pretrained_tower_frozen(
    synthetic_mini_dir: Path, examples, tmp_path: Path
) -> None:
    options = RecipeOptions(epochs=1, batch_size=16, lr=3e-3, vision_pretrain_epochs=3, seed=0)
    record = finetune(synthetic_mini_dir, tmp_path / "model", resolve_recipe("tiny", options))
    trained, _, _ = load_model(tmp_path / "model")
    # the same pretraining done by hand on a fresh model of the same seed
    reference, processor = new_model("tiny", synthetic_mini_dir, seed=0)
    pretrain_vision(reference, Encoder(processor), examples, epochs=3, lr=3e-3, seed=0)
    for key, value in reference.model.visual.state_dict().items():
        assert torch.equal(trained.model.visual.state_dict()[key], value), key
    language = reference.model.language_model.state_dict()
    assert any(not torch.equal(trained.model.language_model.state_dict()[k], v) for k, v in language.items())
    assert record.recipe.finetune.train.vision_pretrain_epochs == 3
    assert 0.0 <= record.recipe.vision_pretrain_study_accuracy <= 1.0


def test_an_oracle_pretrains_on_none_of_the_forgotten_patients_images(synthetic_mini_dir: Path) -> None:
    forget = read_split_items(synthetic_mini_dir, "patient", "forget")
    forgotten_patients = {item.patient_id for item in forget}
    assert forgotten_patients
    images = training_images(training_examples(synthetic_mini_dir, oracle_level="patient"))
    assert not {image.item.patient_id for image in images} & forgotten_patients
    every_study = {item.study_id for item in read_split_items(synthetic_mini_dir, "train", "train")}
    kept = every_study - {item.study_id for item in forget}
    assert {image.item.study_id for image in images} == kept != every_study
