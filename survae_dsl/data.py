"""Built-in data sets for training and checking `.survae` models: generated, or shipped with a
dependency (scikit-learn's digits). Nothing is downloaded.

    from survae_dsl import data
    x = data.load("corners")                  # (10000, 2) float32, for `input x: real[2]`
    data.describe("digits").input_type        # 'int<17>[1, 8, 8]'
    data.check_data(x, "real[2]")             # ValueError with a one-line reason if x does not fit

The sets (``NAMES``):

=================  =====================  ============  ==========================================
name               `.survae` input type   train / test  what
=================  =====================  ============  ==========================================
checkerboard       ``real[2]``            10000 / 5000  uniform on 8 squares of side 2 in [-4, 4]²
corners            ``real[2]``            10000 / 5000  16 Gaussian blobs (std 0.3) on {±1, ±3}²
eight_gaussians    ``real[2]``            10000 / 5000  8 blobs (std 0.2) on the circle of radius 2
four_circles       ``real[2]``            10000 / 5000  4 rings of radius 1 centred at (±2, ±2)
two_moons          ``real[2]``            10000 / 5000  two half circles, about [-3,3]×[-1.5,1.5]
digits             ``int<17>[1, 8, 8]``    1497 / 300   scikit-learn's 8×8 digits, values 0..16
digits_labels      ``int<17>[1, 8, 8]``    1497 / 300   the same digits with their class as a context
spatial_digits     ``real[50, 2]``         1497 / 300   50 points per digit image, in [-1, 1]²
=================  =====================  ============  ==========================================

Toy sets are drawn with a `torch.Generator` seeded from ``(name, split, seed)`` through SHA-256,
so train and test (and different names) use independent streams, and the same arguments give the
same points on every machine. ``size`` sets the number of points (the whole draw changes with it).
``corners`` and ``eight_gaussians`` are the definitions of ``examples/toy_data.py``; the density of
these two and of ``checkerboard`` is known in closed form (`log_density`).

The digits split is fixed and does not depend on ``seed``: a permutation of the 1,797 images by
NumPy's legacy ``RandomState(0)`` (a stream NumPy keeps stable), whose first 1,497 entries are the
training set and last 300 the test set, in that permuted order; ``size`` takes a prefix of a
split. Labels: `load_labels`. ``digits_labels`` holds the same images and adds their class as
the context ``label: int<10>[1]`` (`load_contexts`, int64 ``(N, 1)``), for class-conditional
models; the other sets have no contexts. ``spatial_digits`` uses the same images and split; for each image it
draws 50 pixels with replacement, with probability proportional to intensity, and a uniform
position inside each drawn pixel. Pixel (row r, column c) covers x ∈ [c/4 − 1, (c+1)/4 − 1] and
y ∈ [1 − (r+1)/4, 1 − r/4] (y points up, so a scatter plot shows the digit upright). The points
depend on ``seed`` (and split); ``size`` takes a prefix of the full draw.

The digits need scikit-learn (and NumPy), `load_array` needs NumPy: the ``train`` extra.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from . import types

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "NAMES",
    "DataInfo",
    "array_to_tensor",
    "check_array_dtype",
    "check_data",
    "describe",
    "has_log_density",
    "load",
    "load_array",
    "load_contexts",
    "load_labels",
    "log_density",
    "parse_type",
]

SPLITS: tuple[str, ...] = ("train", "test")

TOY_NAMES: tuple[str, ...] = ("checkerboard", "corners", "eight_gaussians", "four_circles", "two_moons")
NAMES: tuple[str, ...] = (*TOY_NAMES, "digits", "digits_labels", "spatial_digits")
# The sets whose examples come from the 8×8 digit images (same split, same labels).
DIGIT_NAMES: tuple[str, ...] = ("digits", "digits_labels", "spatial_digits")

TOY_TRAIN, TOY_TEST = 10_000, 5_000
DIGITS_TOTAL, DIGITS_TEST = 1_797, 300
DIGITS_TRAIN = DIGITS_TOTAL - DIGITS_TEST
DIGITS_SPLIT_SEED = 0
POINTS_PER_DIGIT = 50


@dataclass(frozen=True)
class DataInfo:
    """What `describe` says about a built-in set.

    ``input_type`` is the `.survae` type of one example (``"real[2]"``; `tensor_type` is the
    same as a `survae_dsl.types.TensorType`), ``n_train`` and ``n_test`` the default sizes,
    ``closed_form_density`` whether `log_density` knows its density, ``contexts`` the
    ``(name, type)`` of each context the set gives with its examples (`load_contexts`).
    """

    name: str
    input_type: str
    n_train: int
    n_test: int
    description: str
    closed_form_density: bool = False
    contexts: tuple[tuple[str, str], ...] = ()

    @property
    def tensor_type(self) -> types.TensorType:
        return types.parse_type(self.input_type)

    @property
    def context_types(self) -> dict[str, types.TensorType]:
        """Each context's type by name, in order (empty for a set without contexts)."""
        return {name: types.parse_type(text) for name, text in self.contexts}


_INFO: dict[str, DataInfo] = {
    info.name: info
    for info in (
        DataInfo(
            "checkerboard",
            "real[2]",
            TOY_TRAIN,
            TOY_TEST,
            "uniform on the 8 dark squares (side 2) of a 4×4 checkerboard on [-4, 4]²",
            True,
        ),
        DataInfo(
            "corners",
            "real[2]",
            TOY_TRAIN,
            TOY_TEST,
            "16 Gaussian blobs (std 0.3) on the grid {±1, ±3}², symmetric about both axes",
            True,
        ),
        DataInfo(
            "eight_gaussians",
            "real[2]",
            TOY_TRAIN,
            TOY_TEST,
            "8 Gaussian blobs (std 0.2) equally spaced on the circle of radius 2",
            True,
        ),
        DataInfo(
            "four_circles",
            "real[2]",
            TOY_TRAIN,
            TOY_TEST,
            "4 rings (radius 1, radial noise std 0.1) centred at (±2, ±2), symmetric about both axes",
        ),
        DataInfo(
            "two_moons",
            "real[2]",
            TOY_TRAIN,
            TOY_TEST,
            "two interleaved half circles (noise std 0.2), centred, within about [-3, 3] × [-1.5, 1.5]",
        ),
        DataInfo(
            "digits",
            "int<17>[1, 8, 8]",
            DIGITS_TRAIN,
            DIGITS_TEST,
            "scikit-learn's 8×8 handwritten digits, intensities 0..16 (fixed split)",
        ),
        DataInfo(
            "digits_labels",
            "int<17>[1, 8, 8]",
            DIGITS_TRAIN,
            DIGITS_TEST,
            "the digits with their class 0..9 as the context `label: int<10>[1]`",
            contexts=(("label", "int<10>[1]"),),
        ),
        DataInfo(
            "spatial_digits",
            f"real[{POINTS_PER_DIGIT}, 2]",
            DIGITS_TRAIN,
            DIGITS_TEST,
            "50 points per 8×8 digit drawn in proportion to pixel intensity, coordinates in [-1, 1]²",
        ),
    )
}


def describe(name: str) -> DataInfo:
    """The `.survae` input type, default sizes and a one-line description of set ``name``."""
    _check_name(name)
    return _INFO[name]


# --------------------------------------------------------------------------------------- loading


def load(name: str, split: str = "train", seed: int = 0, size: int | None = None) -> Tensor:
    """The examples of built-in set ``name``: ``(N, *shape)`` of `describe(name)`.

    Toy sets: float32 ``(N, 2)``, N = ``size`` or 10,000 (train) / 5,000 (test), drawn from
    ``seed``. ``digits``: int64 ``(N, 1, 8, 8)`` with values 0..16 (``seed`` is not used).
    ``spatial_digits``: float32 ``(N, 50, 2)`` in [-1, 1]², drawn from ``seed``. For the digit
    sets N = ``size`` or 1,497 (train) / 300 (test), and ``size`` may not exceed the split.
    """
    _check_name(name)
    _check_split(split)
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise ValueError(f"size must be a whole number >= 1, not {size!r}")
    if name in TOY_NAMES:
        n = size if size is not None else (TOY_TRAIN if split == "train" else TOY_TEST)
        return _TOY_SAMPLERS[name](n, _generator(name, split, seed))
    if name in ("digits", "digits_labels"):
        return _prefix(_digit_images(split), size, name, split).clone()
    points = _spatial_digits(split, seed)
    return _prefix(points, size, name, split).clone()


def load_labels(name: str, split: str = "train", size: int | None = None) -> Tensor:
    """The class labels int64 ``(N,)`` (0..9) of a digit set (``digits``, ``digits_labels``,
    ``spatial_digits``), aligned with `load`."""
    _check_name(name)
    _check_split(split)
    if name not in DIGIT_NAMES:
        raise ValueError(f"data set {name!r} has no labels; only {', '.join(DIGIT_NAMES)} do")
    return _prefix(_digit_split(split)[1], size, name, split).clone()


def load_contexts(name: str, split: str = "train", size: int | None = None) -> dict[str, Tensor]:
    """The contexts that set ``name`` gives with its examples, by name, each ``(N, *shape)`` and
    aligned with `load` (same ``split`` and ``size``): ``digits_labels`` gives ``label``, int64
    ``(N, 1)`` in 0..9; the other sets give none (an empty dict)."""
    _check_name(name)
    _check_split(split)
    if not _INFO[name].contexts:
        return {}
    return {"label": load_labels(name, split, size)[:, None]}


def _check_name(name: str) -> None:
    if name not in _INFO:
        raise ValueError(f"unknown data set {name!r}; expected one of {', '.join(NAMES)}")


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected 'train' or 'test'")


def _prefix(x: Tensor, size: int | None, name: str, split: str) -> Tensor:
    if size is None:
        return x
    if size > x.shape[0]:
        raise ValueError(f"size {size} is larger than the {split} split of {name} ({x.shape[0]} examples)")
    return x[:size]


def _generator(name: str, split: str, seed: int) -> torch.Generator:
    """A generator seeded from ``(name, split, seed)``: independent streams per set and split."""
    digest = hashlib.sha256(f"survae_dsl.data:{name}:{split}:{int(seed)}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") >> 1)


# -------------------------------------------------------------------------------------- toy sets


def corner_centres() -> Tensor:
    """The 16 blob centres ``(16, 2)`` of ``corners``: the grid {±1, ±3}² (as examples/toy_data.py)."""
    coords = torch.tensor([-3.0, -1.0, 1.0, 3.0])
    xs, ys = torch.meshgrid(coords, coords, indexing="ij")
    return torch.stack([xs.flatten(), ys.flatten()], dim=1)


def eight_gaussian_centres() -> Tensor:
    """The 8 blob centres ``(8, 2)`` of ``eight_gaussians``: angles k·π/4 on the circle of radius 2."""
    angles = torch.arange(8, dtype=torch.float64) * (math.pi / 4)
    return (2.0 * torch.stack([angles.cos(), angles.sin()], dim=1)).float()


# name -> (centres, blob standard deviation)
_MIXTURES = {"corners": (corner_centres, 0.3), "eight_gaussians": (eight_gaussian_centres, 0.2)}

CHECKER_HALF_WIDTH = 4.0  # the board is [-4, 4]², cells of side 2
FOUR_CIRCLES_CENTRE, FOUR_CIRCLES_RADIUS, FOUR_CIRCLES_NOISE = 2.0, 1.0, 0.1
MOONS_SCALE, MOONS_NOISE = 2.0, 0.1  # noise std in the unit-radius coordinates, before the scale


def _sample_mixture(name: str, n: int, generator: torch.Generator) -> Tensor:
    """``n`` points float32 ``(n, 2)``: a uniformly chosen blob plus isotropic Gaussian noise."""
    make_centres, std = _MIXTURES[name]
    centres = make_centres()
    which = torch.randint(0, centres.shape[0], (n,), generator=generator)
    return centres[which] + std * torch.randn(n, 2, generator=generator)


def _sample_corners(n: int, generator: torch.Generator) -> Tensor:
    return _sample_mixture("corners", n, generator)


def _sample_eight_gaussians(n: int, generator: torch.Generator) -> Tensor:
    return _sample_mixture("eight_gaussians", n, generator)


def _sample_checkerboard(n: int, generator: torch.Generator) -> Tensor:
    """``n`` points float32 ``(n, 2)`` uniform on the cells (i, j) of side 2 with i + j even.

    Cell (i, j), i, j ∈ {0, 1, 2, 3}, is [2i − 4, 2i − 2) × [2j − 4, 2j − 2) (the FFJORD board).
    """
    column = torch.randint(0, 4, (n,), generator=generator)
    row = 2 * torch.randint(0, 2, (n,), generator=generator) + column % 2  # same parity as the column
    cell = torch.stack([column, row], dim=1).float()
    return 2.0 * (cell + torch.rand(n, 2, generator=generator)) - CHECKER_HALF_WIDTH


def _sample_four_circles(n: int, generator: torch.Generator) -> Tensor:
    """``n`` points float32 ``(n, 2)``: a uniformly chosen ring centred at (±2, ±2), a uniform
    angle, and radius 1 plus Gaussian noise (std 0.1). Symmetric about both axes."""
    signs = 2.0 * torch.randint(0, 2, (n, 2), generator=generator).float() - 1.0
    angle = 2 * math.pi * torch.rand(n, generator=generator)
    radius = FOUR_CIRCLES_RADIUS + FOUR_CIRCLES_NOISE * torch.randn(n, generator=generator)
    ring = radius[:, None] * torch.stack([angle.cos(), angle.sin()], dim=1)
    return FOUR_CIRCLES_CENTRE * signs + ring


def _sample_two_moons(n: int, generator: torch.Generator) -> Tensor:
    """``n`` points float32 ``(n, 2)``: the upper half circle (cos t, sin t) or the lower one
    (1 − cos t, 1/2 − sin t), t uniform on [0, π], each with probability 1/2, plus Gaussian
    noise (std 0.1), centred at the origin and scaled by 2."""
    lower = torch.randint(0, 2, (n,), generator=generator).bool()
    t = math.pi * torch.rand(n, generator=generator)
    upper_moon = torch.stack([t.cos(), t.sin()], dim=1)
    lower_moon = torch.stack([1.0 - t.cos(), 0.5 - t.sin()], dim=1)
    points = torch.where(lower[:, None], lower_moon, upper_moon) - torch.tensor([0.5, 0.25])
    points = points + MOONS_NOISE * torch.randn(n, 2, generator=generator)
    return MOONS_SCALE * points


_TOY_SAMPLERS = {
    "checkerboard": _sample_checkerboard,
    "corners": _sample_corners,
    "eight_gaussians": _sample_eight_gaussians,
    "four_circles": _sample_four_circles,
    "two_moons": _sample_two_moons,
}


def has_log_density(name: str) -> bool:
    """Whether `log_density` knows the density of set ``name`` in closed form."""
    return describe(name).closed_form_density


def log_density(name: str, x: Tensor) -> Tensor:
    """The true log-density ``(B,)`` (nats, dtype of ``x``) of points ``x`` ``(B, 2)`` under set
    ``name``: ``corners`` and ``eight_gaussians`` (Gaussian mixtures) or ``checkerboard``
    (log 1/32 on its squares, -inf elsewhere). Other sets raise `ValueError`."""
    if not has_log_density(name):
        known = ", ".join(n for n in NAMES if _INFO[n].closed_form_density)
        raise ValueError(f"the density of {name!r} is not known in closed form; it is for {known}")
    if x.dim() != 2 or x.shape[1] != 2:
        raise ValueError(f"log_density expects points of shape (B, 2), got {tuple(x.shape)}")
    if not x.is_floating_point():
        x = x.float()
    if name == "checkerboard":
        return _checkerboard_log_density(x)
    make_centres, std = _MIXTURES[name]
    centres = make_centres().to(dtype=x.dtype, device=x.device)
    sq = ((x[:, None, :] - centres[None, :, :]) ** 2).sum(dim=-1)
    log_blob = -0.5 * sq / std**2 - math.log(2 * math.pi * std**2)
    return torch.logsumexp(log_blob, dim=1) - math.log(centres.shape[0])


def _checkerboard_log_density(x: Tensor) -> Tensor:
    cell = torch.floor((x + CHECKER_HALF_WIDTH) / 2.0)
    inside = ((cell >= 0) & (cell <= 3)).all(dim=1) & (cell.sum(dim=1) % 2 == 0)
    area = 8 * 2.0 * 2.0
    value = torch.full_like(x[:, 0], -math.log(area))
    return torch.where(inside, value, torch.full_like(value, -math.inf))


# ---------------------------------------------------------------------------------------- digits


@lru_cache(maxsize=1)
def _digits_raw() -> tuple[Tensor, Tensor]:
    """All 1,797 images int64 ``(1797, 1, 8, 8)`` and labels int64 ``(1797,)``, in sklearn's order."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the digits data sets need scikit-learn (bundled data, nothing is downloaded): "
            "pip install 'survae-dsl[train]'"
        ) from exc
    bunch = load_digits()
    images = torch.as_tensor(bunch.images.round().astype("int64")).reshape(-1, 1, 8, 8)
    labels = torch.as_tensor(bunch.target.astype("int64"))
    return images, labels


@lru_cache(maxsize=1)
def _digits_permutation() -> Tensor:
    """The fixed split permutation int64 ``(1797,)``: train = first 1,497, test = last 300."""
    import numpy as np

    return torch.as_tensor(np.random.RandomState(DIGITS_SPLIT_SEED).permutation(DIGITS_TOTAL).astype("int64"))


def _digit_split(split: str) -> tuple[Tensor, Tensor]:
    """Images int64 ``(N, 1, 8, 8)`` and labels int64 ``(N,)`` of a split (cached; do not modify)."""
    images, labels = _digits_raw()
    if images.shape[0] != DIGITS_TOTAL:  # pragma: no cover - a changed scikit-learn
        raise RuntimeError(f"scikit-learn's digits have {images.shape[0]} images, expected {DIGITS_TOTAL}")
    order = _digits_permutation()
    index = order[:DIGITS_TRAIN] if split == "train" else order[DIGITS_TRAIN:]
    return images[index], labels[index]


def _digit_images(split: str) -> Tensor:
    return _digit_split(split)[0]


def _spatial_digits(split: str, seed: int) -> Tensor:
    """Float32 ``(N, 50, 2)``: per image, 50 pixels drawn ∝ intensity with uniform jitter, in [-1, 1]²."""
    images = _digit_images(split).reshape(-1, 64).double()
    weights = images + (images.sum(dim=1, keepdim=True) == 0).double()  # a blank image: uniform
    generator = _generator("spatial_digits", split, seed)
    pixel = torch.multinomial(weights, POINTS_PER_DIGIT, replacement=True, generator=generator)
    jitter = torch.rand(pixel.shape[0], POINTS_PER_DIGIT, 2, generator=generator, dtype=torch.float64)
    row, column = (pixel // 8).double(), (pixel % 8).double()
    x = (column + jitter[..., 0]) / 4.0 - 1.0
    y = 1.0 - (row + jitter[..., 1]) / 4.0
    return torch.stack([x, y], dim=-1).float()


def pixel_of_points(points: Tensor) -> tuple[Tensor, Tensor]:
    """The (row, column) int64 of the pixel holding each ``spatial_digits`` point ``(..., 2)``."""
    column = torch.floor((points[..., 0] + 1.0) * 4.0).long().clamp(0, 7)
    row = torch.floor((1.0 - points[..., 1]) * 4.0).long().clamp(0, 7)
    return row, column


# ----------------------------------------------------------------------------------- file arrays


def load_array(path: str | Path) -> Tensor:
    """A ``.npy`` file as a tensor: integer and boolean arrays become int64, floating ones
    float32 (same shape). Raises `ValueError` for other dtypes (complex, object, strings, ...)
    or a file that is not a single array (``.npz``)."""
    import numpy as np

    try:
        array = np.load(Path(path), allow_pickle=False)
    except ValueError as exc:
        raise ValueError(f"{path}: cannot read a plain numeric array ({exc})") from exc
    if not isinstance(array, np.ndarray):
        array.close()
        raise ValueError(f"{path}: expected one array (.npy), got an archive of several (.npz)")
    return array_to_tensor(array, str(path))


def check_array_dtype(dtype: np.dtype[Any], where: str) -> None:
    """Raise `ValueError` (one line naming ``where``) unless ``dtype`` holds booleans, integers or floats."""
    if dtype.kind not in "biuf":
        raise ValueError(f"{where}: unsupported array dtype {dtype}; expected integers or floats")


def array_to_tensor(array: np.ndarray, where: str, float_dtype: torch.dtype = torch.float32) -> Tensor:
    """``array`` as a tensor of the same shape: booleans and integers as int64, floats as
    ``float_dtype``; `ValueError` for other dtypes or unsigned values beyond int64."""
    import numpy as np

    check_array_dtype(array.dtype, where)
    kind = array.dtype.kind
    if kind == "u" and array.size and array.max() > np.iinfo(np.int64).max:
        raise ValueError(f"{where}: unsigned values up to {array.max()} do not fit in int64")
    if not array.flags.writeable:  # a slice of a read-only memory map: torch wants its own copy
        array = np.array(array)
    if kind == "f":
        return torch.from_numpy(np.ascontiguousarray(array)).to(float_dtype)
    return torch.from_numpy(np.ascontiguousarray(array.astype(np.int64)))


# ---------------------------------------------------------------------------------- type checking


def parse_type(input_type: str) -> tuple[str, int | tuple[float, float] | None, tuple[int, ...]]:
    """``"int<17>[1, 8, 8]"`` → ``("int", 17, (1, 8, 8))``; ``"interval(-1, 1)[2]"`` →
    ``("interval", (-1.0, 1.0), (2,))``; ``"real[50, 2]"`` → ``("real", None, (50, 2))``.

    The tuple form of `survae_dsl.types.parse_type` (which reads the text and raises its
    `ValueError`s): the domain is one of real, positive, unit, interval, int; the middle item
    is K for int<K> (K ≥ 2), the bounds (a, b) with a < b for interval, else None; the shape
    excludes the batch axis."""
    return _as_tuple(types.parse_type(input_type))


def _as_tuple(value: types.TensorType) -> tuple[str, int | tuple[float, float] | None, tuple[int, ...]]:
    domain = value.domain
    if domain.is_discrete:
        return "int", domain.classes, value.shape
    name = str(domain)
    if name in types.NAMED_DOMAINS:
        return name, None, value.shape
    return "interval", (domain.lo, domain.hi), value.shape


def check_data(x: Tensor, input_type: str | types.TensorType, *, first_example: int = 0) -> None:
    """Raise `ValueError` (one line) unless ``x`` ``(N, *shape)`` is data of ``input_type`` (its
    text, or a `survae_dsl.types.TensorType` such as a compiled model's ``input_types`` entry).

    Checks, in order: a tensor with at least one example and the shape after the batch axis;
    a real (not complex) dtype; no NaN or inf; for ``int<K>``, whole numbers in 0..K−1; for
    ``positive``, ``unit`` and ``interval(a, b)``, values strictly inside the (open) domain.
    Messages name the offending values and the first example holding one, counting from
    ``first_example`` (the index of ``x[0]`` when ``x`` is a chunk of a larger array)."""
    if isinstance(input_type, types.TensorType):
        domain, params, shape = _as_tuple(input_type)
        input_type = str(input_type)
    else:
        domain, params, shape = parse_type(input_type)
    if not isinstance(x, Tensor):
        raise ValueError(f"data must be a torch.Tensor, not {type(x).__name__}")
    expected = "(N, " + ", ".join(str(d) for d in shape) + ")"
    if x.dim() != len(shape) + 1 or tuple(x.shape[1:]) != shape:
        raise ValueError(f"data of shape {tuple(x.shape)} does not fit {input_type}: expected {expected}")
    if x.shape[0] == 0:
        raise ValueError(f"the data holds no examples (shape {tuple(x.shape)})")
    if x.is_complex():
        raise ValueError(f"data of dtype {x.dtype} is complex; {input_type} needs real numbers")
    if x.dtype == torch.bool:
        x = x.long()
    if x.is_floating_point():
        _check_finite(x, first_example)
    if domain == "int":
        assert isinstance(params, int)
        _check_integers(x, params, input_type, first_example)
    elif domain == "positive":
        _check_open(x, 0.0, math.inf, input_type, first_example)
    elif domain == "unit":
        _check_open(x, 0.0, 1.0, input_type, first_example)
    elif domain == "interval":
        assert isinstance(params, tuple)
        _check_open(x, params[0], params[1], input_type, first_example)


def _first_example(bad: Tensor, first_example: int = 0) -> int:
    """The index of the first example (row of the batch axis) with a True entry, counted from ``first_example``."""
    return first_example + int(bad.reshape(bad.shape[0], -1).any(dim=1).nonzero()[0, 0])


def _check_finite(x: Tensor, first: int) -> None:
    nan, inf = torch.isnan(x), torch.isinf(x)
    if nan.any():
        raise ValueError(
            f"the data contains {int(nan.sum())} NaN value(s), first in example {_first_example(nan, first)}"
        )
    if inf.any():
        raise ValueError(
            f"the data contains {int(inf.sum())} inf value(s), first in example {_first_example(inf, first)}"
        )


def _check_integers(x: Tensor, classes: int, input_type: str, first: int) -> None:
    if x.is_floating_point():
        fractional = x != torch.round(x)
        if fractional.any():
            example = _first_example(fractional, first)
            value = x[fractional][0].item()
            raise ValueError(
                f"{input_type} needs whole numbers, but the data has {int(fractional.sum())} non-integer value(s) "
                f"(first {value:g} in example {example})"
            )
    low, high = _min_max(x)
    if low < 0 or high > classes - 1:
        outside = (x < 0) | (x > classes - 1)
        raise ValueError(
            f"values of {input_type} data must lie in 0..{classes - 1} (K = {classes}), "
            f"but the data has min {low:g} and max {high:g} (first outside in example {_first_example(outside, first)})"
        )


def _check_open(x: Tensor, low: float, high: float, input_type: str, first: int) -> None:
    outside = (x <= low) | (x >= high)
    if outside.any():
        data_low, data_high = _min_max(x)
        bounds = f"> {low:g}" if math.isinf(high) else f"in the open interval ({low:g}, {high:g})"
        raise ValueError(
            f"values of {input_type} data must be {bounds}, but the data has min {data_low:g} and max {data_high:g} "
            f"({int(outside.sum())} value(s) outside, first in example {_first_example(outside, first)})"
        )


def _min_max(x: Tensor) -> tuple[Any, Any]:
    return x.min().item(), x.max().item()
