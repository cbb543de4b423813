"""Plots of a trained model for its input's kind, drawn with matplotlib (imported only when plotting)."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from .evaluation import EVAL_BATCH
from .model_input import InputType

if TYPE_CHECKING:
    from survae_dsl.nn import Model


def plot(model: Model, train: Tensor, input_type: InputType, out: Path, seed: int) -> list[str]:
    """The plots for the input's kind (2-D points, images, point clouds); file names written.

    A failure to plot is a warning, not an error: the metrics are still written.
    """
    shape = input_type.shape
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + 5)
            generator = torch.Generator().manual_seed(seed + 6)
            if shape == (2,):
                return _plot_2d(model, train, input_type, out, generator)
            if len(shape) == 3:
                return _plot_images(model, input_type, out, generator)
            if len(shape) == 2 and shape[-1] == 2:
                return _plot_point_clouds(model, train, out, generator)
    except Exception as exc:  # noqa: BLE001 - plots are a bonus; the run's numbers stand
        print(f"survae-train: warning: no plots: {type(exc).__name__}: {exc}", file=sys.stderr)
    return []


def _save_figure(figure: Any, path: Path) -> None:
    """Render a matplotlib Figure to PNG and write it atomically."""
    from survae_dsl.compiler.core.files import write_atomic

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    write_atomic(path, buffer.getvalue())


def _finite_rows(x: Tensor) -> Tensor:
    """The rows of ``x`` (``(B, ...)``) with only finite entries, as float."""
    x = x.float()
    return x[x.flatten(1).isfinite().all(dim=1)]


def _plot_2d(model: Model, train: Tensor, input_type: InputType, out: Path, generator: torch.Generator) -> list[str]:
    """density.png (data histogram | model density on a grid) and samples.png (data | samples)."""
    from matplotlib.figure import Figure

    data = train[:20_000].float()
    low, high = data.min(dim=0).values, data.max(dim=0).values
    margin = 0.1 * (high - low).clamp_min(1e-3)
    low, high = low - margin, high + margin
    steps = 200
    xs, ys = torch.linspace(low[0], high[0], steps), torch.linspace(low[1], high[1], steps)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1).reshape(-1, 2)
    density = torch.cat([model.log_prob(chunk) for chunk in torch.split(grid, EVAL_BATCH)]).exp().reshape(steps, steps)
    density = torch.nan_to_num(density, nan=0.0, posinf=0.0)
    extent = (low[0].item(), high[0].item(), low[1].item(), high[1].item())
    bound = " (exp of the one-sample bound)" if model.likelihood == "lower_bound" else ""

    figure = Figure(figsize=(10, 4.6))
    left, right = figure.subplots(1, 2)
    left.hist2d(data[:, 0].numpy(), data[:, 1].numpy(), bins=steps // 2, range=[extent[:2], extent[2:]], cmap="viridis")
    left.set_title(f"data ({data.shape[0]} points)")
    right.imshow(density.numpy(), origin="lower", extent=extent, aspect="auto", cmap="viridis")
    right.set_title(f"model density{bound}")
    _save_figure(figure, out / "density.png")

    count = min(5_000, data.shape[0])
    samples = _finite_rows(model.sample(count, generator=generator))
    figure = Figure(figsize=(10, 4.6))
    left, right = figure.subplots(1, 2, sharex=True, sharey=True)
    for axis, points, title in ((left, data[:count], "data"), (right, samples, "samples")):
        axis.scatter(points[:, 0].numpy(), points[:, 1].numpy(), s=1, alpha=0.4)
        axis.set_title(f"{title} ({points.shape[0]} points)")
        axis.set_xlim(extent[:2])
        axis.set_ylim(extent[2:])
    _save_figure(figure, out / "samples.png")
    return ["density.png", "samples.png"]


def _plot_images(model: Model, input_type: InputType, out: Path, generator: torch.Generator) -> list[str]:
    """samples.png: an 8×8 grid of sampled images (int<K> scaled by K − 1, reals min-max)."""
    from matplotlib.figure import Figure

    samples = model.sample(64, generator=generator).float().nan_to_num(0.0)
    channels, height, width = input_type.shape
    if input_type.domain.is_discrete:
        samples = samples / (input_type.domain.classes - 1)
    else:
        flat = samples.flatten(1)
        low, high = flat.min(dim=1).values, flat.max(dim=1).values
        samples = (samples - low[:, None, None, None]) / (high - low).clamp_min(1e-8)[:, None, None, None]
    images = samples.clamp(0, 1)[:, :3] if channels >= 3 else samples.clamp(0, 1)[:, :1]
    images = torch.nn.functional.pad(images, (0, 1, 0, 1), value=1.0)  # a white line between images
    height, width = height + 1, width + 1
    rows = images.reshape(8, 8, images.shape[1], height, width).permute(0, 3, 1, 4, 2)
    tiled = rows.reshape(8 * height, 8 * width, images.shape[1])
    figure = Figure(figsize=(6, 6))
    axis = figure.subplots()
    axis.imshow(tiled.squeeze(-1).numpy() if images.shape[1] == 1 else tiled.numpy(), cmap="gray", vmin=0, vmax=1)
    axis.set_axis_off()
    axis.set_title("64 samples")
    _save_figure(figure, out / "samples.png")
    return ["samples.png"]


def _plot_point_clouds(model: Model, train: Tensor, out: Path, generator: torch.Generator) -> list[str]:
    """samples.png: four training sets (top row) and four sampled sets (bottom row)."""
    from matplotlib.figure import Figure

    samples = model.sample(4, generator=generator).float()
    seen = train[:1_000].float().reshape(-1, 2)
    lowest, highest = seen.min(dim=0).values, seen.max(dim=0).values
    margin = 0.1 * (highest - lowest).clamp_min(1e-3)
    low, high = (lowest - margin).tolist(), (highest + margin).tolist()
    figure = Figure(figsize=(10, 5))
    axes = figure.subplots(2, 4)
    for column in range(4):
        for row, sets, title in ((0, train, "data"), (1, samples, "sample")):
            points = sets[column % sets.shape[0]].float()
            points = points[points.isfinite().all(dim=1)]
            axis = axes[row, column]
            axis.scatter(points[:, 0].numpy(), points[:, 1].numpy(), s=6)
            axis.set_xlim(low[0], high[0])
            axis.set_ylim(low[1], high[1])
            axis.set_aspect("equal")
            axis.set_title(f"{title} {column + 1}", fontsize=9)
            axis.set_xticks([])
            axis.set_yticks([])
    _save_figure(figure, out / "samples.png")
    return ["samples.png"]
