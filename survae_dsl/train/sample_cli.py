"""`survae-sample`: draw from a trained model's bundle into a .npy array or a .png picture.

    survae-sample RUN_DIR [-n 64] [--temperature 1.0] [--seed 0] [--device auto]
        [--context NAME=VALUE | --context NAME=FILE.npy | --context FILE.npy ...] -o OUT.png|OUT.npy

RUN_DIR is a `survae-train` output folder or a `.zip` packed from one (docs/bundles.md). A user
error (not a bundle, a bad context, an unknown extension) is one line on stderr and exit 1;
argparse's usage errors exit 2. The output is written atomically: a failure leaves it as it was.
"""

from __future__ import annotations

import argparse
import io
import math
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from survae_dsl.trained import BundleError, load_trained, resolve_device
from survae_dsl.types import TensorType

if TYPE_CHECKING:
    from survae_dsl.nn import Model

PROG = "survae-sample"
DEFAULT_COUNT = 64
SUFFIXES = (".npy", ".png")
# Small images are drawn scaled up (nearest neighbour) to at least this many pixels a side.
MIN_CELL_PIXELS = 32
# Point clouds are drawn one plot each: at most this many.
MAX_CLOUDS = 64


class SampleError(Exception):
    """A problem the user can fix: one line, exit 1."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Draw samples from a model trained by survae-train (its output folder or a packed .zip)."
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="the bundle: a survae-train output folder or a packed .zip")
    parser.add_argument(
        "-n",
        dest="count",
        type=int,
        default=None,
        help=f"number of samples (default {DEFAULT_COUNT}, or the rows of a context array)",
    )
    parser.add_argument("--temperature", type=float, default=1.0, help="scale of the base noise (default 1.0)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the draw: the same seed gives the same samples")
    parser.add_argument(
        "--context",
        action="append",
        default=[],
        metavar="NAME=VALUE|FILE.npy",
        help="a context: NAME=3 (broadcast), NAME=0.5,1 (one vector for every sample), NAME=FILE.npy, "
        "or FILE.npy for a model with one context; an array is (n, *shape) or (*shape)",
    )
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (CUDA when available; default)")
    parser.add_argument("-o", "--output", required=True, help="OUT.npy (the samples array) or OUT.png (a picture)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        message = run(args)
    except (SampleError, BundleError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - anything else is our bug, and says so
        traceback.print_exception(exc, file=sys.stderr)
        print(f"\n{PROG}: internal error: this is a bug in survae-sample, not in your model.", file=sys.stderr)
        return 3
    print(message)
    return 0


def run(args: argparse.Namespace) -> str:
    """Load, draw and write; returns the summary line. Raises SampleError / BundleError."""
    output = Path(args.output)
    if output.suffix.lower() not in SUFFIXES:
        raise SampleError(f"-o {output}: the output must end in .npy (the array) or .png (a picture)")
    if args.count is not None and args.count < 1:
        raise SampleError(f"-n must be a positive number of samples, got {args.count}")
    if not (math.isfinite(args.temperature) and args.temperature >= 0):
        raise SampleError(f"--temperature must be a finite number ≥ 0, got {args.temperature}")
    _require("numpy")
    device = resolve_device(args.device)
    model = load_trained(args.run_dir, device=device)
    name = _name(model)
    if len(model.input_names) != 1:
        inputs = ", ".join(model.input_names)
        raise SampleError(f"`{name}` has several inputs ({inputs}); survae-sample draws models with one")
    input_type = model.input_types[model.input_names[0]]
    contexts, count = parse_contexts(args.context, model, args.count, device)
    samples = draw(model, count, contexts, args.temperature, args.seed, device)
    if output.suffix.lower() == ".npy":
        write_npy(output, samples)
    else:
        title = f"{count} samples of {name}" + (f" (T = {args.temperature:g})" if args.temperature != 1.0 else "")
        write_png(output, samples, input_type, title)
    return f"{PROG}: wrote {count} samples of `{name}` ({input_type}) to {output}"


def draw(
    model: Model, count: int, contexts: dict[str, Tensor], temperature: float, seed: int, device: torch.device
) -> Tensor:
    """``(count, *input shape)`` samples on the CPU, in the dtype the model draws (integers for int<K>).

    Every draw comes from a generator seeded with ``seed``; the global RNG is seeded too (for
    any layer that draws without one) and restored afterwards.
    """
    generator = torch.Generator(device=device).manual_seed(seed)
    devices = [device] if device.type == "cuda" else []
    with torch.no_grad(), torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        try:
            samples: Tensor = model.sample(count, **contexts, temperature=temperature, generator=generator)
        except ValueError as exc:  # the runtime's checks of contexts and arguments
            raise SampleError(f"cannot sample `{_name(model)}`: {exc}") from None
    return samples.detach().cpu()


# --------------------------------------------------------------------------------------------
# Contexts


def parse_contexts(
    specs: list[str], model: Model, count: int | None, device: torch.device
) -> tuple[dict[str, Tensor], int]:
    """The contexts as ``(n, *shape)`` tensors on ``device``, and n.

    n is ``count`` if given, else the rows of a context array that has them, else DEFAULT_COUNT;
    arrays with rows must agree with it. A value without rows (a number, a comma list, an array
    of the context's own shape) is the same for every sample.
    """
    name = _name(model)
    declared: dict[str, TensorType] = dict(model.context_types)
    if specs and not declared:
        raise SampleError(f"`{name}` has no context; drop --context")
    given: dict[str, Any] = {}
    for spec in specs:
        key, value = _split(spec, declared, name)
        if key in given:
            raise SampleError(f"--context {key} is given twice")
        given[key] = value
    missing = [c for c in declared if c not in given]
    if missing:
        hint = " ".join(f"--context {c}=VALUE" for c in missing)
        raise SampleError(f"`{name}` is conditioned on {', '.join(f'`{c}`' for c in missing)}: pass {hint}")
    arrays = {key: _as_array(key, value, declared[key]) for key, value in given.items()}
    rows = {key: a.shape[0] for key, a in arrays.items() if a.ndim == len(declared[key].shape) + 1}
    n = count if count is not None else next(iter(rows.values()), DEFAULT_COUNT)
    for key, found in rows.items():
        if found != n:
            raise SampleError(f"the context `{key}` holds {found} rows but {n} samples are asked for")
    dtype = model._anchor.dtype
    return {key: _tensor(key, array, declared[key], n, dtype, device) for key, array in arrays.items()}, n


def _split(spec: str, declared: dict[str, TensorType], name: str) -> tuple[str, str]:
    """(context name, value text) of one --context: NAME=VALUE, or FILE.npy for a one-context model."""
    key, equals, value = spec.partition("=")
    if not equals:
        if not spec.lower().endswith(".npy"):
            raise SampleError(f"--context {spec}: write NAME=VALUE or FILE.npy")
        if len(declared) != 1:
            names = ", ".join(declared)
            raise SampleError(f"--context {spec}: `{name}` has {len(declared)} contexts ({names}); use NAME={spec}")
        return next(iter(declared)), spec
    key = key.strip()
    if key not in declared:
        raise SampleError(f"`{name}` has no context `{key}` (its contexts: {', '.join(declared)})")
    return key, value.strip()


def _as_array(key: str, value: str, declared: TensorType) -> Any:
    """The context's value as a NumPy array: of its shape, with rows, or a number to broadcast."""
    import numpy as np

    if value.lower().endswith(".npy"):
        try:
            array = np.load(value, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise SampleError(f"cannot read the context `{key}` from {value}: {exc}") from None
    else:
        try:
            numbers = [float(part) for part in value.split(",")]
        except ValueError:
            raise SampleError(f"--context {key}={value}: not a number or a comma-separated list of numbers") from None
        array = np.asarray(numbers)
        size = math.prod(declared.shape)
        if array.size == 1:
            array = np.full(declared.shape, numbers[0])
        elif array.size == size:
            array = array.reshape(declared.shape)
        else:
            wanted = "one number" if size == 1 else f"1 or {size} numbers"
            raise SampleError(f"the context `{key}` is {declared}: give {wanted}, got {array.size}")
    shape = tuple(declared.shape)
    if tuple(array.shape) != shape and tuple(array.shape[1:]) != shape:
        raise SampleError(
            f"the context `{key}` is {declared}: its array must be {list(shape)} or [n, {', '.join(map(str, shape))}]"
            f", got {list(array.shape)}"
        )
    if array.dtype.kind not in "biuf":
        raise SampleError(f"the context `{key}` must hold numbers, got an array of {array.dtype}")
    return array


def _tensor(key: str, array: Any, declared: TensorType, n: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """``(n, *shape)``: integers in 0..K-1 for an int<K> context, else floats of the model's dtype."""
    import numpy as np

    values = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float64))
    if not bool(values.isfinite().all()):
        raise SampleError(f"the context `{key}` holds NaN or infinite values")
    domain = declared.domain
    if domain.is_discrete:
        if not bool((values == values.round()).all()) or bool((values < 0).any() | (values >= domain.classes).any()):
            raise SampleError(
                f"the context `{key}` is {declared}: its values must be whole numbers 0..{domain.classes - 1}"
            )
        tensor = values.to(torch.int64)
    else:
        tensor = values.to(dtype)
    if tensor.dim() == len(declared.shape):
        tensor = tensor.expand(n, *declared.shape)
    return tensor.contiguous().to(device)


# --------------------------------------------------------------------------------------------
# Outputs


def write_npy(path: Path, samples: Tensor) -> None:
    """The samples array ``(n, *shape)`` as .npy, in the dtype drawn (float32, float64, int64...)."""
    import numpy as np

    buffer = io.BytesIO()
    array = samples.float().numpy() if samples.dtype == torch.bfloat16 else samples.numpy()
    np.save(buffer, array, allow_pickle=False)
    _write(path, buffer.getvalue())


def write_png(path: Path, samples: Tensor, input_type: TensorType, title: str) -> None:
    """A picture of the samples: a scatter plot for [2], a histogram for [1], one scatter plot
    per sample for point clouds [N, 2]; an image grid for [C, H, W] (C = 1 or 3), other [H, W]
    and square vectors ([64] → 8×8)."""
    shape = tuple(input_type.shape)
    if shape == (2,):
        _write(path, _scatter(samples, title))
        return
    if shape == (1,):
        _write(path, _histogram(samples, title))
        return
    if len(shape) == 2 and shape[1] == 2:
        _write(path, _point_clouds(samples, title))
        return
    images = _as_images(samples, shape)
    if images is None:
        raise SampleError(f"samples of type {input_type} have no picture here; write them to a .npy file")
    _write(path, _grid_png(_unit_range(images, input_type)))


def _as_images(samples: Tensor, shape: tuple[int, ...]) -> Tensor | None:
    """``(n, C, H, W)`` views of samples that are pictures, else None."""
    n = samples.shape[0]
    if len(shape) == 3 and shape[0] in (1, 3):
        return samples
    if len(shape) == 2:
        return samples.reshape(n, 1, *shape)
    if len(shape) == 1 and shape[0] >= 4 and math.isqrt(shape[0]) ** 2 == shape[0]:
        side = math.isqrt(shape[0])
        return samples.reshape(n, 1, side, side)
    return None


def _unit_range(images: Tensor, input_type: TensorType) -> Tensor:
    """Values in [0, 1]: int<K> divided by K − 1, a bounded interval mapped onto [0, 1], other
    reals by the minimum and maximum of all samples (non-finite values drawn black)."""
    domain = input_type.domain
    values = images.double()
    if domain.is_discrete:
        scaled = values / max(domain.classes - 1, 1)
    elif math.isfinite(domain.lo) and math.isfinite(domain.hi):
        scaled = (values - domain.lo) / (domain.hi - domain.lo)
    else:
        finite = values[values.isfinite()]
        low, high = (finite.min(), finite.max()) if finite.numel() else (values.new_zeros(()), values.new_ones(()))
        scaled = (values - low) / (high - low).clamp_min(1e-12)
    return torch.nan_to_num(scaled, nan=0.0, posinf=0.0, neginf=0.0).clamp(0.0, 1.0)


def _grid_png(images: Tensor) -> bytes:
    """A PNG of ``images`` (``(n, C, H, W)`` in [0, 1]) in a near-square grid, one white pixel between."""
    pillow = _require("PIL.Image", "pillow")
    n, channels, height, width = images.shape
    scale = max(1, math.ceil(MIN_CELL_PIXELS / max(height, width)))
    cells = images.repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3)
    columns = math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    cell_h, cell_w = height * scale + 1, width * scale + 1
    canvas = torch.ones(channels, rows * cell_h + 1, columns * cell_w + 1, dtype=torch.float64)
    for index in range(n):
        top, left = 1 + (index // columns) * cell_h, 1 + (index % columns) * cell_w
        canvas[:, top : top + height * scale, left : left + width * scale] = cells[index]
    pixels = (canvas * 255).round().to(torch.uint8).permute(1, 2, 0)
    picture = pillow.fromarray(pixels[:, :, 0].numpy() if channels == 1 else pixels.numpy())
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def _scatter(samples: Tensor, title: str) -> bytes:
    """A scatter plot of 2-D samples (non-finite rows left out)."""
    figure_module = _require("matplotlib.figure", "matplotlib")
    points = samples.double()
    points = points[points.isfinite().all(dim=1)]
    figure = figure_module.Figure(figsize=(5, 5))
    axis = figure.subplots()
    axis.scatter(points[:, 0].numpy(), points[:, 1].numpy(), s=4, alpha=0.6)
    axis.set_aspect("equal", adjustable="datalim")
    axis.set_title(title)
    return _figure_png(figure)


def _point_clouds(samples: Tensor, title: str) -> bytes:
    """One small scatter plot per sampled point cloud ``(N, 2)``, the first MAX_CLOUDS of them, on
    shared axes (non-finite points left out)."""
    figure_module = _require("matplotlib.figure", "matplotlib")
    clouds = samples[:MAX_CLOUDS].double()
    count = clouds.shape[0]
    columns = math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    figure = figure_module.Figure(figsize=(1.6 * columns, 1.6 * rows + 0.4))
    axes = figure.subplots(rows, columns, sharex=True, sharey=True, squeeze=False)
    for index, axis in enumerate(axes.flat):
        axis.set_xticks([])
        axis.set_yticks([])
        if index >= count:
            axis.set_axis_off()
            continue
        points = clouds[index]
        points = points[points.isfinite().all(dim=1)]
        axis.scatter(points[:, 0].numpy(), points[:, 1].numpy(), s=3)
        axis.set_aspect("equal", adjustable="box")
    figure.suptitle(title + (f" (the first {count})" if samples.shape[0] > count else ""))
    return _figure_png(figure)


def _histogram(samples: Tensor, title: str) -> bytes:
    """A histogram of 1-D samples (non-finite values left out)."""
    figure_module = _require("matplotlib.figure", "matplotlib")
    values = samples.double().reshape(-1)
    values = values[values.isfinite()]
    figure = figure_module.Figure(figsize=(6, 4))
    axis = figure.subplots()
    axis.hist(values.numpy(), bins=min(100, max(10, values.numel() // 10)))
    axis.set_title(title)
    return _figure_png(figure)


def _figure_png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def _write(path: Path, data: bytes) -> None:
    from survae_dsl.compiler.core.files import write_atomic

    try:
        write_atomic(path, data)
    except OSError as exc:
        raise SampleError(f"cannot write {path}: {exc.strerror or exc}") from None


def _name(model: Model) -> str:
    """The model's name in its .survae file (the generated class records it)."""
    return str(getattr(type(model), "model_name", type(model).__name__))


def _require(module: str, package: str | None = None) -> Any:
    """Import an optional dependency of the `train` extra, or say how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise SampleError(f"survae-sample needs {package or module}: pip install 'survae-dsl[train]'") from None


if __name__ == "__main__":
    sys.exit(main())
