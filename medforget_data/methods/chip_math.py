"""CHIP's math (design §8, steps 2–5) as pure functions over activation tensors.

No hooks and no model here: the caller collects pooled activations per sample (step 1) and
applies the returned weights. Shapes: activations are [samples, neurons]; a weight is
[neurons, inputs] (a torch Linear's weight, whose rows are its output neurons).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

# A target whose mean activation is this close to its siblings' has no direction of its own.
DIRECTION_EPS = 1e-8


def pool_modalities(vision_outputs: torch.Tensor, text_outputs: torch.Tensor, alpha: float) -> torch.Tensor:
    """Step 1: a = α·mean(vision-token outputs) + (1−α)·mean(text-token outputs); inputs [tokens, n]."""
    if vision_outputs.shape[0] == 0:
        return text_outputs.mean(0)
    return alpha * vision_outputs.mean(0) + (1 - alpha) * text_outputs.mean(0)


def select_neurons(forget: torch.Tensor, retain: torch.Tensor, top_fraction: float) -> torch.Tensor:
    """Step 2: indices (ascending) of the top-k% neurons by mean|a| over forget − mean|a| over retain."""
    score = forget.abs().mean(0) - retain.abs().mean(0)
    count = max(1, round(top_fraction * score.numel()))
    # Stable order: ties broken by index, so the selection is deterministic.
    order = torch.argsort(-score, stable=True)
    return torch.sort(order[:count]).values


def sibling_directions(target_means: torch.Tensor, sibling_means: torch.Tensor) -> torch.Tensor:
    """Step 3: rows normalise(μ_target − μ_siblings) on S; targets equal to their siblings give no row."""
    differences = target_means - sibling_means
    norms = differences.norm(dim=1)
    keep = norms > DIRECTION_EPS
    return differences[keep] / norms[keep, None]


def energy_rank(singular_values: torch.Tensor, tau: float) -> int:
    """Smallest r whose top-r singular values hold at least τ of the energy Σσ²."""
    energy = singular_values.double() ** 2
    if energy.sum() <= 0:
        return 0
    cumulative = torch.cumsum(energy, 0) / energy.sum()
    threshold = torch.tensor(tau - 1e-12, dtype=cumulative.dtype, device=cumulative.device)
    return int(torch.searchsorted(cumulative, threshold).item()) + 1


def direction_basis(directions: torch.Tensor, tau: float) -> torch.Tensor:
    """Step 4: an orthonormal basis Q [|S|, r] of the directions' span, r chosen by the τ energy rule."""
    if directions.shape[0] == 0:
        return directions.new_zeros((directions.shape[1], 0))
    _, singular_values, right = torch.linalg.svd(directions.double(), full_matrices=False)
    rank = energy_rank(singular_values, tau)
    return right[:rank].T.to(directions.dtype)


def project_rows(weight: torch.Tensor, rows: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """Step 5: W_S ← (I − QQᵀ)W_S on the rows S; every other row is returned bit-identical."""
    projected = weight.clone()
    if basis.shape[1] == 0:
        return projected
    block = weight[rows].double()
    q = basis.double()
    projected[rows] = (block - q @ (q.T @ block)).to(weight.dtype)
    return projected


@dataclass(frozen=True)
class ChipUpdate:
    weight: torch.Tensor
    neurons: torch.Tensor  # S
    basis: torch.Tensor  # Q, [|S|, r]


def chip_update(
    weight: torch.Tensor,
    forget: torch.Tensor,
    retain: torch.Tensor,
    targets: list[tuple[torch.Tensor, torch.Tensor]],
    top_fraction: float,
    tau: float,
) -> ChipUpdate:
    """Steps 2–5 for one projection. `targets` holds (target activations, sibling activations) pairs."""
    neurons = select_neurons(forget, retain, top_fraction)
    usable = [(t, s) for t, s in targets if t.shape[0] and s.shape[0]]
    if not usable:
        return ChipUpdate(weight.clone(), neurons, weight.new_zeros((neurons.numel(), 0)))
    target_means = torch.stack([t[:, neurons].mean(0) for t, _ in usable])
    sibling_means = torch.stack([s[:, neurons].mean(0) for _, s in usable])
    basis = direction_basis(sibling_directions(target_means, sibling_means), tau)
    return ChipUpdate(project_rows(weight, neurons, basis), neurons, basis)
