"""Plots of a trained model for its input's kind, drawn with matplotlib (imported only when plotting).

A conditional model samples given contexts: one row per class for a class label ``int<K>[1]``
(`ModelIO.class_context`), else the contexts of held-out examples, one sample for each. Plots
run on ``device`` with the unwrapped model (rank 0 alone), and draw their noise from streams
seeded by the run's seed.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from .data_loading import Data
from .evaluation import EVAL_BATCH, float_dtype_of, seeded
from .examples import move
from .model_input import ModelIO

if TYPE_CHECKING:
    from survae_dsl.nn import Model

# Images per row of a sample grid; an unconditional grid is GRID_COLUMNS × GRID_COLUMNS.
GRID_COLUMNS = 8


def plot(model: Model, data: Data, io: ModelIO, out: Path, seed: int, device: torch.device | str) -> list[str]:
    """The plots for the input's kind (2-D points, images, point clouds); the names of the files
    written in ``out`` (what metrics.json lists under ``plots``).

    A failure to plot is a warning, not an error: the metrics are still written.
    """
    shape = io.input_type.shape
    try:
        with torch.no_grad(), seeded(seed + 5, device):
            generator = torch.Generator(device=device).manual_seed(seed + 6)
            if shape == (2,):
                return _plot_2d(model, data, io, out, generator, device)
            if len(shape) == 3:
                return _plot_images(model, data, io, out, generator, device)
            if len(shape) == 2 and shape[-1] == 2:
                return _plot_point_clouds(model, data, io, out, generator, device)
    except Exception as exc:  # noqa: BLE001 - plots are a bonus; the run's numbers stand
        print(f"survae-train: warning: no plots: {type(exc).__name__}: {exc}", file=sys.stderr)
    return []


@torch.no_grad()
def sample_grid(model: Model, io: ModelIO, data: Data, seed: int, device: torch.device | str) -> Tensor | None:
    """Sampled images tiled in a grid, float ``(3, H, W)`` in [0, 1] on the CPU (for TensorBoard):
    one row per class for a class-conditional model, else 8 × 8 samples (given the contexts of
    the first 64 held-out examples for another conditional model). None unless the input is an
    image ``[C, H, W]``."""
    if len(io.input_type.shape) != 3:
        return None
    with seeded(seed + 7, device):
        generator = torch.Generator(device=device).manual_seed(seed + 8)
        images, rows, _ = _sample_images(model, data, io, generator, device)
    grid = _tile(_to_unit(images, io), rows)
    return grid.expand(3, -1, -1).contiguous() if grid.shape[0] == 1 else grid


def sample_contexts(
    io: ModelIO, data: Data, count: int, device: torch.device | str, dtype: torch.dtype
) -> dict[str, Tensor]:
    """Contexts to sample with: ``count`` rows of held-out contexts (repeated when the held-out
    set is smaller), on ``device``, real ones in ``dtype``; empty for an unconditional model."""
    if not io.contexts:
        return {}
    given = io.context_of(data.test.head(count))
    rows = next(iter(given.values())).shape[0]
    repeat = torch.arange(count) % rows
    return move({name: value[repeat] for name, value in given.items()}, device, dtype)


def draw(model: Model, io: ModelIO, count: int, contexts: dict[str, Tensor], generator: torch.Generator) -> Tensor:
    """``count`` samples (one per row of ``contexts`` for a conditional model), on the model's device."""
    sample: Any = model.sample  # a compiled class's keywords are its context names
    samples: Tensor = sample(generator=generator, **contexts) if contexts else sample(count, generator=generator)
    return samples


def _sample_images(
    model: Model, data: Data, io: ModelIO, generator: torch.Generator, device: torch.device | str
) -> tuple[Tensor, int, str]:
    """Sampled images ``(rows · GRID_COLUMNS, C, H, W)`` on the CPU, the number of rows and a title."""
    classes = io.class_context
    if classes is not None:
        name, k = classes
        label = torch.arange(k, device=device).repeat_interleave(GRID_COLUMNS)[:, None]
        images = draw(model, io, label.shape[0], {name: label}, generator)
        return images.cpu(), k, f"samples given `{name}`: one row per class, 0 to {k - 1} from the top"
    count = GRID_COLUMNS * GRID_COLUMNS
    contexts = sample_contexts(io, data, count, device, float_dtype_of(model))
    images = draw(model, io, count, contexts, generator)
    what = f"given the contexts of {count} held-out examples" if contexts else ""
    return images.cpu(), GRID_COLUMNS, f"{count} samples {what}".strip()


def _to_unit(samples: Tensor, io: ModelIO) -> Tensor:
    """Images ``(B, C, H, W)`` scaled to [0, 1] (int<K> by K − 1, reals min-max per image), keeping
    3 channels of colour images and 1 of the others."""
    samples = samples.float().nan_to_num(0.0)
    if io.input_type.domain.is_discrete:
        samples = samples / (io.input_type.domain.classes - 1)
    else:
        flat = samples.flatten(1)
        low, high = flat.min(dim=1).values, flat.max(dim=1).values
        samples = (samples - low[:, None, None, None]) / (high - low).clamp_min(1e-8)[:, None, None, None]
    return samples.clamp(0, 1)[:, :3] if samples.shape[1] >= 3 else samples.clamp(0, 1)[:, :1]


def _tile(images: Tensor, rows: int) -> Tensor:
    """Images ``(rows · cols, C, H, W)`` as one ``(C, rows · (H + 1), cols · (W + 1))`` image, a
    white line after each image."""
    padded = torch.nn.functional.pad(images, (0, 1, 0, 1), value=1.0)
    count, channels, height, width = padded.shape
    cols = count // rows
    grid = padded.reshape(rows, cols, channels, height, width).permute(2, 0, 3, 1, 4)
    return grid.reshape(channels, rows * height, cols * width)


def _save_figure(figure: Any, path: Path) -> None:
    """Render a matplotlib Figure to PNG and write it atomically."""
    from survae_dsl.compiler.core.files import write_atomic

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    write_atomic(path, buffer.getvalue())


def _finite_rows(x: Tensor) -> Tensor:
    """The rows of ``x`` (``(B, ...)``) with only finite entries, as float on the CPU."""
    x = x.float().cpu()
    return x[x.flatten(1).isfinite().all(dim=1)]


def _plot_2d(
    model: Model, data: Data, io: ModelIO, out: Path, generator: torch.Generator, device: torch.device | str
) -> list[str]:
    """density.png (data histogram | model density on a grid; unconditional models) and
    samples.png (data | samples, given the held-out contexts for a conditional model)."""
    from matplotlib.figure import Figure

    train = data.train.head(20_000)
    points = train[io.input_name].float()
    low, high = points.min(dim=0).values, points.max(dim=0).values
    margin = 0.1 * (high - low).clamp_min(1e-3)
    low, high = low - margin, high + margin
    extent = (low[0].item(), high[0].item(), low[1].item(), high[1].item())
    written: list[str] = []
    if not io.contexts:
        steps = 200
        xs, ys = torch.linspace(low[0], high[0], steps), torch.linspace(low[1], high[1], steps)
        grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1).reshape(-1, 2)
        grid = grid.to(device=device, dtype=float_dtype_of(model))
        log_p = torch.cat([model.log_prob(chunk).cpu() for chunk in torch.split(grid, EVAL_BATCH)])
        density = torch.nan_to_num(log_p.exp().float(), nan=0.0, posinf=0.0).reshape(steps, steps)
        bound = " (exp of the one-sample bound)" if model.likelihood == "lower_bound" else ""
        figure = Figure(figsize=(10, 4.6))
        left, right = figure.subplots(1, 2)
        left.hist2d(
            points[:, 0].numpy(), points[:, 1].numpy(), bins=steps // 2, range=[extent[:2], extent[2:]], cmap="viridis"
        )
        left.set_title(f"data ({points.shape[0]} points)")
        right.imshow(density.numpy(), origin="lower", extent=extent, aspect="auto", cmap="viridis")
        right.set_title(f"model density{bound}")
        _save_figure(figure, out / "density.png")
        written.append("density.png")

    count = min(5_000, points.shape[0])
    contexts = sample_contexts(io, data, count, device, float_dtype_of(model))
    samples = _finite_rows(draw(model, io, count, contexts, generator))
    given = " given held-out contexts" if contexts else ""
    figure = Figure(figsize=(10, 4.6))
    left, right = figure.subplots(1, 2, sharex=True, sharey=True)
    for axis, shown, title in ((left, points[:count], "data"), (right, samples, f"samples{given}")):
        axis.scatter(shown[:, 0].numpy(), shown[:, 1].numpy(), s=1, alpha=0.4)
        axis.set_title(f"{title} ({shown.shape[0]} points)")
        axis.set_xlim(extent[:2])
        axis.set_ylim(extent[2:])
    _save_figure(figure, out / "samples.png")
    written.append("samples.png")
    return written


def _plot_images(
    model: Model, data: Data, io: ModelIO, out: Path, generator: torch.Generator, device: torch.device | str
) -> list[str]:
    """samples.png: a grid of sampled images (one row per class for a class-conditional model)."""
    from matplotlib.figure import Figure

    images, rows, title = _sample_images(model, data, io, generator, device)
    tiled = _tile(_to_unit(images, io), rows).permute(1, 2, 0)
    figure = Figure(figsize=(6, 6 * rows / GRID_COLUMNS))
    axis = figure.subplots()
    axis.imshow(tiled.squeeze(-1).numpy() if tiled.shape[-1] == 1 else tiled.numpy(), cmap="gray", vmin=0, vmax=1)
    axis.set_xticks([])
    if io.class_context is not None:
        height = io.input_type.shape[1] + 1
        axis.set_yticks([height * (r + 0.5) for r in range(rows)], [str(r) for r in range(rows)])
    else:
        axis.set_yticks([])
    axis.set_title(title, fontsize=9)
    _save_figure(figure, out / "samples.png")
    return ["samples.png"]


def _plot_point_clouds(
    model: Model, data: Data, io: ModelIO, out: Path, generator: torch.Generator, device: torch.device | str
) -> list[str]:
    """samples.png: four held-out sets (top row) and four sampled sets (bottom row; given the
    same four examples' contexts for a conditional model)."""
    from matplotlib.figure import Figure

    test = data.test.head(4)
    contexts = move(io.context_of(test), device, float_dtype_of(model))
    sets = test[io.input_name].float()
    samples = draw(model, io, sets.shape[0], contexts, generator).float().cpu()
    seen = data.train.head(1_000)[io.input_name].float().reshape(-1, 2)
    lowest, highest = seen.min(dim=0).values, seen.max(dim=0).values
    margin = 0.1 * (highest - lowest).clamp_min(1e-3)
    low, high = (lowest - margin).tolist(), (highest + margin).tolist()
    figure = Figure(figsize=(10, 5))
    axes = figure.subplots(2, 4)
    for column in range(4):
        for row, shown, title in ((0, sets, "data"), (1, samples, "sample")):
            points = shown[column % shown.shape[0]]
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
