"""CHIP's math on hand-built tensors (design §8 steps 2–5)."""

from __future__ import annotations

import math

import pytest
import torch

from medforget_data.methods.chip_math import (
    chip_update,
    direction_basis,
    energy_rank,
    pool_modalities,
    project_rows,
    select_neurons,
    sibling_directions,
)


def test_pooling_weights_vision_by_alpha() -> None:
    vision = torch.tensor([[1.0, 0.0], [3.0, 0.0]])  # mean (2, 0)
    text = torch.tensor([[0.0, 10.0]])  # mean (0, 10)
    assert torch.allclose(pool_modalities(vision, text, 0.3), torch.tensor([0.6, 7.0]))
    assert torch.allclose(pool_modalities(torch.zeros(0, 2), text, 0.3), torch.tensor([0.0, 10.0]))


def test_neuron_selection_by_forget_minus_retain_magnitude() -> None:
    forget = torch.tensor([[3.0, 0.0, 1.0, -5.0], [1.0, 0.0, 1.0, -3.0]])  # mean|a| = 2, 0, 1, 4
    retain = torch.tensor([[0.0, 0.0, 1.0, 0.0], [0.0, 2.0, 1.0, 0.0]])  # mean|a| = 0, 1, 1, 0
    # scores 2, -1, 0, 4 → top 50% are neurons 3 and 0, returned ascending
    assert select_neurons(forget, retain, 0.5).tolist() == [0, 3]
    assert select_neurons(forget, retain, 0.25).tolist() == [3]


@pytest.mark.parametrize(("tau", "rank"), [(0.6, 1), (0.9, 2), (0.95, 3), (1.0, 3)])
def test_tau_energy_rule_picks_the_documented_rank(tau: float, rank: int) -> None:
    # energies 9, 4, 1 of 14: cumulative 0.643, 0.929, 1.0
    assert energy_rank(torch.tensor([3.0, 2.0, 1.0]), tau) == rank


def test_identical_target_and_siblings_yield_no_direction() -> None:
    means = torch.tensor([[1.0, 2.0, 3.0]])
    assert sibling_directions(means, means.clone()).shape == (0, 3)
    weight = torch.arange(12.0).reshape(4, 3)
    acts = torch.tensor([[1.0, 5.0, 1.0, 0.0]])
    update = chip_update(weight, acts, torch.zeros(1, 4), [(acts, acts.clone())], top_fraction=0.5, tau=0.95)
    assert update.basis.shape[1] == 0
    assert torch.equal(update.weight, weight)


def test_hand_computed_projection() -> None:
    weight = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]])
    basis = torch.tensor([[1.0], [1.0]]) / math.sqrt(2.0)
    projected = project_rows(weight, torch.tensor([0, 1]), basis)
    # (I − qqᵀ) = [[.5, −.5], [−.5, .5]] applied to [[1, 2], [3, 4]] gives [[−1, −1], [1, 1]]
    assert torch.allclose(projected[:2], torch.tensor([[-1.0, -1.0], [1.0, 1.0]]))
    assert torch.equal(projected[2:], weight[2:])


def test_update_removes_every_kept_direction_and_leaves_other_rows_bit_identical() -> None:
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(40, 16, generator=generator)
    forget = torch.randn(12, 40, generator=generator) * 3
    retain = torch.randn(30, 40, generator=generator)
    targets = [(forget[i * 4 : (i + 1) * 4], retain[i * 10 : (i + 1) * 10]) for i in range(3)]
    update = chip_update(weight, forget, retain, targets, top_fraction=0.25, tau=0.95)
    rows = update.neurons
    assert rows.numel() == 10 and 1 <= update.basis.shape[1] <= 3
    assert torch.allclose(update.basis.T @ update.basis, torch.eye(update.basis.shape[1]), atol=1e-6)
    assert torch.allclose(
        update.basis.T @ update.weight[rows], torch.zeros(update.basis.shape[1], 16), atol=1e-5
    )
    outside = torch.ones(40, dtype=torch.bool)
    outside[rows] = False
    assert torch.equal(update.weight[outside], weight[outside])


def test_basis_spans_the_directions() -> None:
    directions = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    basis = direction_basis(directions, 0.95)  # equal energies: both kept
    assert basis.shape == (3, 2)
    assert torch.allclose(basis @ basis.T @ directions.T, directions.T, atol=1e-6)
