"""2-D toy data sets symmetric about both axes (the setting of the paper's abs-surjection demo).

Each generator draws from a mixture of isotropic Gaussian blobs whose centres form a set that
is closed under x -> -x and y -> -y, with equal weights, so the density is symmetric about
both axes. Sampling is seeded through a `torch.Generator`: the same seed gives the same
points on every machine.

    from toy_data import make_splits
    train, test = make_splits("corners", n_train=20_000, n_test=5_000, seed=0)
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["DATASETS", "blob_centres", "log_density", "make_splits", "sample"]


def _corner_centres() -> Tensor:
    """16 blobs on the grid {±1, ±3}²: four in each quadrant."""
    coords = torch.tensor([-3.0, -1.0, 1.0, 3.0])
    xs, ys = torch.meshgrid(coords, coords, indexing="ij")
    return torch.stack([xs.flatten(), ys.flatten()], dim=1)


def _eight_gaussian_centres() -> Tensor:
    """The classic 'eight gaussians': equally spaced on a circle of radius 2, one on each
    half-axis and one on each diagonal."""
    angles = torch.arange(8, dtype=torch.float64) * (math.pi / 4)
    return (2.0 * torch.stack([angles.cos(), angles.sin()], dim=1)).float()


# name -> (centres, blob standard deviation)
DATASETS: dict[str, tuple[Callable[[], Tensor], float]] = {
    "corners": (_corner_centres, 0.3),
    "eight_gaussians": (_eight_gaussian_centres, 0.2),
}


def blob_centres(name: str) -> tuple[Tensor, float]:
    """The data set's blob centres ``(M, 2)`` and the blobs' standard deviation."""
    if name not in DATASETS:
        raise ValueError(f"unknown toy data set {name!r}; expected one of {', '.join(DATASETS)}")
    make_centres, std = DATASETS[name]
    return make_centres(), std


def sample(name: str, n: int, generator: torch.Generator) -> Tensor:
    """``n`` points ``(n, 2)`` float32: a uniformly chosen blob plus isotropic Gaussian noise."""
    centres, std = blob_centres(name)
    which = torch.randint(0, centres.shape[0], (n,), generator=generator)
    noise = torch.randn(n, 2, generator=generator)
    return centres[which] + std * noise


def log_density(name: str, x: Tensor) -> Tensor:
    """The true log-density ``(B,)`` of points ``x`` ``(B, 2)`` (a reference for the demo)."""
    centres, std = blob_centres(name)
    centres = centres.to(x.dtype)
    sq = ((x[:, None, :] - centres[None, :, :]) ** 2).sum(dim=-1)
    log_blob = -0.5 * sq / std**2 - math.log(2 * math.pi * std**2)
    return torch.logsumexp(log_blob, dim=1) - math.log(centres.shape[0])


def make_splits(name: str, n_train: int, n_test: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Independent train and test sets ``(n_train, 2)``, ``(n_test, 2)`` from one seed."""
    generator = torch.Generator().manual_seed(seed)
    return sample(name, n_train, generator), sample(name, n_test, generator)
