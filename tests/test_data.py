"""The built-in data sets of `survae_dsl.data`: shapes, dtypes, ranges, determinism, the
symmetries the abs-surjection demos rely on, the digits split, spatial digits following
intensity, the closed-form densities, and the validation helpers."""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np
import pytest
import torch

from survae_dsl import data

TOY = data.TOY_NAMES
DIGIT_SETS = ("digits", "digits_labels", "spatial_digits")
CLOSED_FORM = ("checkerboard", "corners", "eight_gaussians")


# ------------------------------------------------------------------------- shapes, dtypes, ranges


@pytest.mark.parametrize("name", data.NAMES)
def test_every_set_matches_its_description(name):
    info = data.describe(name)
    domain, _, shape = data.parse_type(info.input_type)
    for split, n in (("train", info.n_train), ("test", info.n_test)):
        x = data.load(name, split)
        assert tuple(x.shape) == (n, *shape)
        assert x.dtype == (torch.int64 if domain == "int" else torch.float32)
        data.check_data(x, info.input_type)  # passes its own type
    assert info.description and "\n" not in info.description


def test_descriptions_and_defaults():
    assert data.NAMES == (*TOY, "digits", "digits_labels", "spatial_digits")
    for name in TOY:
        info = data.describe(name)
        assert (info.input_type, info.n_train, info.n_test) == ("real[2]", 10_000, 5_000)
    assert data.describe("digits").input_type == "int<17>[1, 8, 8]"
    assert data.describe("spatial_digits").input_type == "real[50, 2]"
    assert (data.describe("digits").n_train, data.describe("digits").n_test) == (1497, 300)
    assert [n for n in data.NAMES if data.has_log_density(n)] == list(CLOSED_FORM)


@pytest.mark.parametrize(
    ("name", "low", "high"),
    [
        ("checkerboard", -4.0, 4.0),
        ("corners", -5.5, 5.5),
        ("eight_gaussians", -3.5, 3.5),
        ("four_circles", -3.8, 3.8),
        ("two_moons", -4.0, 4.0),
    ],
)
def test_toy_ranges(name, low, high):
    x = data.load(name)
    assert torch.isfinite(x).all()
    assert x.min() >= low and x.max() <= high
    assert x.std(dim=0).min() > 0.5  # spread out, not collapsed


def test_toy_geometry():
    checker = data.load("checkerboard")
    cells = torch.floor((checker + 4) / 2)
    assert ((cells.sum(dim=1) % 2) == 0).all()  # only the squares with i + j even
    assert torch.bincount((cells[:, 0] * 4 + cells[:, 1]).long(), minlength=16).count_nonzero() == 8

    rings = data.load("four_circles")
    radius = (rings - 2.0 * rings.sign()).norm(dim=1)  # distance to its quadrant's centre
    assert abs(radius.mean().item() - 1.0) < 0.01 and abs(radius.std().item() - 0.1) < 0.01

    gaussians = data.load("eight_gaussians")
    assert abs(gaussians.norm(dim=1).mean().item() - 2.0) < 0.05

    moons = data.load("two_moons")
    assert moons.mean(dim=0).abs().max() < 0.05  # centred
    assert moons[:, 1].abs().max() < 2.2 < moons[:, 0].abs().max()


def test_size_argument():
    assert data.load("corners", size=123).shape == (123, 2)
    assert data.load("four_circles", "test", size=20_000).shape == (20_000, 2)
    assert data.load("digits", "test", size=10).shape == (10, 1, 8, 8)
    assert torch.equal(data.load("digits", size=10), data.load("digits")[:10])
    points = data.load("spatial_digits", "test", seed=3)
    assert torch.equal(data.load("spatial_digits", "test", seed=3, size=7), points[:7])
    assert torch.equal(data.load_labels("digits", "test", size=5), data.load_labels("digits", "test")[:5])
    with pytest.raises(ValueError, match="larger than the test split of digits"):
        data.load("digits", "test", size=301)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="size must be a whole number"):
            data.load("corners", size=bad)


def test_unknown_names_and_splits():
    with pytest.raises(ValueError, match="unknown data set 'mnist'; expected one of checkerboard"):
        data.load("mnist")
    with pytest.raises(ValueError, match="unknown data set"):
        data.describe("mnist")
    with pytest.raises(ValueError, match="unknown split 'valid'"):
        data.load("corners", "valid")
    with pytest.raises(ValueError, match="has no labels"):
        data.load_labels("corners")


# ------------------------------------------------------------------------------------ determinism


@pytest.mark.parametrize("name", [*TOY, "spatial_digits"])
def test_seeded_sets_are_deterministic(name):
    size = 300 if name == "spatial_digits" else 2000
    a = data.load(name, seed=1, size=size)
    assert torch.equal(a, data.load(name, seed=1, size=size))
    assert not torch.equal(a, data.load(name, seed=2, size=size))
    assert not torch.equal(a, data.load(name, "test", seed=1, size=size))
    # seed s's test set is not seed s + 1's training set (seeds are hashed with the split)
    assert not torch.equal(data.load(name, "test", seed=0, size=size), data.load(name, "train", seed=1, size=size))


def test_sets_use_independent_streams():
    """Different sets drawn with the same seed do not share random numbers."""
    corners = data.load("corners", size=1000)
    moons = data.load("two_moons", size=1000)
    assert not torch.allclose(corners - corners.round(), moons - moons.round())


def test_digits_do_not_depend_on_seed():
    assert torch.equal(data.load("digits", seed=0), data.load("digits", seed=5))
    assert not torch.equal(data.load("digits", "train", size=300), data.load("digits", "test"))


# -------------------------------------------------------------------------------------- symmetry


def _reflection_distance(x: torch.Tensor, flip: tuple[float, float]) -> float:
    """Total variation between the 2-D histograms of ``x`` and of ``x`` reflected by ``flip``."""
    edges = torch.linspace(-4.5, 4.5, 7)  # 6 × 6 bins: sampling noise about 0.03

    def hist(points: torch.Tensor) -> np.ndarray:
        counts, _, _ = np.histogram2d(points[:, 0].numpy(), points[:, 1].numpy(), bins=[edges.numpy()] * 2)
        return counts / len(points)

    return 0.5 * float(np.abs(hist(x) - hist(x * torch.tensor(flip))).sum())


@pytest.mark.parametrize("name", ["corners", "four_circles"])
def test_symmetric_about_both_axes(name):
    x = data.load(name)
    assert (x.mean(dim=0).abs() < 4 * x.std(dim=0) / len(x) ** 0.5).all()  # within 4 standard errors of 0
    quadrant = (x[:, 0] > 0).long() * 2 + (x[:, 1] > 0).long()
    fractions = torch.bincount(quadrant, minlength=4).float() / len(x)
    assert (fractions - 0.25).abs().max() < 0.02
    t = torch.linspace(-5, 5, 201)
    for axis in (0, 1):  # the distribution of x equals that of -x: their CDFs agree (KS distance)
        cdf = (x[:, axis, None] <= t).float().mean(dim=0)
        cdf_mirror = (-x[:, axis, None] <= t).float().mean(dim=0)
        assert (cdf - cdf_mirror).abs().max() < 0.035
    for flip in ((-1.0, 1.0), (1.0, -1.0)):
        assert _reflection_distance(x, flip) < 0.06


def test_reflection_check_detects_asymmetry():
    """The control: two moons is symmetric through the origin only, not about an axis."""
    moons = data.load("two_moons")
    assert _reflection_distance(moons, (-1.0, 1.0)) > 0.3
    assert _reflection_distance(moons, (1.0, -1.0)) > 0.3
    assert _reflection_distance(moons, (-1.0, -1.0)) < 0.06


# ------------------------------------------------------------------------------------------ digits


def test_digits_values_labels_and_split():
    from sklearn.datasets import load_digits

    train, test = data.load("digits", "train"), data.load("digits", "test")
    assert train.dtype == test.dtype == torch.int64
    for images in (train, test):
        assert images.min() == 0 and images.max() == 16
    train_labels, test_labels = data.load_labels("digits", "train"), data.load_labels("digits", "test")
    assert train_labels.shape == (1497,) and test_labels.shape == (300,) and train_labels.dtype == torch.int64
    assert set(test_labels.tolist()) == set(range(10))
    # train + test is exactly scikit-learn's set of (image, label) pairs: a partition, aligned labels
    bunch = load_digits()
    expected = Counter(
        (tuple(img.astype(int).flatten()), int(y)) for img, y in zip(bunch.images, bunch.target, strict=True)
    )
    ours = Counter(
        (tuple(img.flatten().tolist()), int(y))
        for img, y in zip(torch.cat([train, test]), torch.cat([train_labels, test_labels]), strict=True)
    )
    assert ours == expected
    assert torch.equal(data.load_labels("spatial_digits", "test"), test_labels)


def test_digits_labels_give_the_label_context():
    info = data.describe("digits_labels")
    assert info.contexts == (("label", "int<10>[1]"),) and str(info.context_types["label"]) == "int<10>[1]"
    assert all(not data.describe(n).contexts for n in data.NAMES if n != "digits_labels")
    for split in ("train", "test"):
        assert torch.equal(data.load("digits_labels", split), data.load("digits", split))
        contexts = data.load_contexts("digits_labels", split)
        assert list(contexts) == ["label"] and contexts["label"].dtype == torch.int64
        assert torch.equal(contexts["label"][:, 0], data.load_labels("digits", split))
        data.check_data(contexts["label"], info.context_types["label"])
    assert data.load_contexts("digits_labels", "test", size=4)["label"].shape == (4, 1)
    assert data.load_contexts("digits") == {}


def test_spatial_digits_follow_intensity():
    points = data.load("spatial_digits", "test", seed=4)
    images = data.load("digits", "test").reshape(300, 64).double()
    assert points.abs().max() <= 1.0
    row, column = data.pixel_of_points(points)
    counts = torch.zeros(300, 64, dtype=torch.float64)
    counts.scatter_add_(1, row * 8 + column, torch.ones(300, 50, dtype=torch.float64))
    assert counts[images == 0].sum() == 0  # never in a blank pixel
    expected = 50 * images / images.sum(dim=1, keepdim=True)
    assert torch.corrcoef(torch.stack([counts.flatten(), expected.flatten()]))[0, 1] > 0.65
    # brighter pixels get more points: on average a point's pixel has the size-biased intensity
    hit_intensity = (counts * images).sum(dim=1) / 50
    size_biased = (images**2).sum(dim=1) / images.sum(dim=1)
    assert abs(hit_intensity.mean().item() / size_biased.mean().item() - 1) < 0.02
    # the jitter fills the pixels: positions within a pixel are uniform, not at its corner
    offset = (points[..., 0] + 1) * 4 - column
    assert abs(offset.mean().item() - 0.5) < 0.01 and offset.min() < 0.01 and offset.max() > 0.99


def test_spatial_digit_looks_like_its_image():
    """The points of one image, binned back onto the 8×8 grid, put most mass on its bright pixels."""
    images = data.load("digits", "test", size=1).reshape(64).double()
    many = torch.stack([data.load("spatial_digits", "test", seed=s, size=1)[0] for s in range(40)])  # 2,000 points
    row, column = data.pixel_of_points(many.reshape(-1, 2))
    freq = torch.bincount(row * 8 + column, minlength=64).double() / (40 * 50)
    assert (freq - images / images.sum()).abs().max() < 0.03


# -------------------------------------------------------------------------------------- densities


def _grid(half_width: float = 6.0, n: int = 600) -> tuple[torch.Tensor, float]:
    step = 2 * half_width / n
    centres = -half_width + step * (torch.arange(n, dtype=torch.float64) + 0.5)
    xs, ys = torch.meshgrid(centres, centres, indexing="ij")
    return torch.stack([xs.flatten(), ys.flatten()], dim=1), step


@pytest.mark.parametrize("name", CLOSED_FORM)
@pytest.mark.slow
def test_log_density_integrates_to_one(name):
    grid, step = _grid()
    log_p = data.log_density(name, grid)
    assert log_p.shape == (grid.shape[0],) and log_p.dtype == torch.float64
    assert abs(log_p.exp().sum().item() * step**2 - 1) < 1e-3


@pytest.mark.parametrize("name", CLOSED_FORM)
@pytest.mark.slow
def test_log_density_matches_the_samples(name):
    """The sampled points' histogram agrees with the density integrated over the same bins."""
    x = data.load(name)
    assert torch.isfinite(data.log_density(name, x)).all()
    grid, step = _grid(n=480)
    mass = (data.log_density(name, grid).exp() * step**2).reshape(12, 40, 12, 40).sum(dim=(1, 3))
    counts, _, _ = np.histogram2d(x[:, 0].numpy(), x[:, 1].numpy(), bins=[np.linspace(-6, 6, 13)] * 2)
    assert 0.5 * np.abs(counts / len(x) - mass.numpy()).sum() < 0.04


def test_log_density_values_and_errors():
    assert torch.allclose(
        data.log_density("checkerboard", torch.tensor([[-3.0, -3.0], [-1.0, -3.0], [9.0, 0.0]])),
        torch.tensor([-math.log(32), -math.inf, -math.inf]),
    )
    centre = data.log_density("eight_gaussians", torch.tensor([[2.0, 0.0]]))
    assert abs(centre.item() - (-math.log(2 * math.pi * 0.04) - math.log(8))) < 1e-4
    assert data.log_density("corners", torch.zeros(3, 2, dtype=torch.int64)).dtype == torch.float32
    with pytest.raises(ValueError, match="not known in closed form; it is for checkerboard, corners, eight_gaussians"):
        data.log_density("four_circles", torch.zeros(1, 2))
    with pytest.raises(ValueError, match=r"shape \(B, 2\)"):
        data.log_density("corners", torch.zeros(4, 3))


# ------------------------------------------------------------------------------------- parse_type


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("real[2]", ("real", None, (2,))),
        ("int<17>[1, 8, 8]", ("int", 17, (1, 8, 8))),
        ("real[50, 2]", ("real", None, (50, 2))),
        ("positive[3]", ("positive", None, (3,))),
        ("unit[ 4 ,5 ]", ("unit", None, (4, 5))),
        ("interval(-4, 4)[2]", ("interval", (-4.0, 4.0), (2,))),
        ("interval(-1.5e0, .5)[1]", ("interval", (-1.5, 0.5), (1,))),
    ],
)
def test_parse_type(text, parsed):
    assert data.parse_type(text) == parsed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("real", "cannot read the type"),
        ("real[0]", "dimensions must be whole numbers >= 1"),
        ("real[D]", "dimensions must be whole numbers >= 1"),
        ("int[3]", "`int` needs its number of classes K >= 2"),
        ("int<1>[3]", "`int` needs its number of classes K >= 2"),
        ("interval(2, 1)[3]", "interval bounds need a < b"),
        ("interval(1)[3]", "`interval` needs two numbers"),
        ("real<3>[2]", "`real` takes no arguments"),
        ("ordered[2]", "unknown domain `ordered`"),
    ],
)
def test_parse_type_rejects(text, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        data.parse_type(text)


# ------------------------------------------------------------------------------------- check_data


def test_check_data_accepts_good_data():
    data.check_data(torch.randn(5, 2), "real[2]")
    data.check_data(torch.randint(0, 17, (4, 1, 8, 8)), "int<17>[1, 8, 8]")
    data.check_data(torch.tensor([[0.0, 16.0]]), "int<17>[2]")  # whole numbers held as floats
    data.check_data(torch.tensor([[True, False]]), "int<2>[2]")
    data.check_data(torch.rand(3, 2) + 1e-3, "positive[2]")
    data.check_data(torch.full((3, 2), 0.5, dtype=torch.float64), "unit[2]")
    data.check_data(torch.tensor([[-3.9, 3.9]]), "interval(-4, 4)[2]")


@pytest.mark.parametrize(
    ("x", "input_type", "message"),
    [
        (torch.zeros(5, 3), "real[2]", "data of shape (5, 3) does not fit real[2]: expected (N, 2)"),
        (torch.zeros(2), "real[2]", "data of shape (2,) does not fit real[2]: expected (N, 2)"),
        (torch.zeros(4, 8, 8), "int<17>[1, 8, 8]", "expected (N, 1, 8, 8)"),
        (torch.zeros(0, 2), "real[2]", "holds no examples"),
        (torch.zeros(2, 2, dtype=torch.complex64), "real[2]", "is complex"),
        (
            torch.tensor([[0, 3], [20, 1]]),
            "int<17>[2]",
            "values of int<17>[2] data must lie in 0..16 (K = 17), but the data has min 0 and max 20 "
            "(first outside in example 1)",
        ),
        (torch.tensor([[-1, 3]]), "int<4>[2]", "must lie in 0..3 (K = 4), but the data has min -1 and max 3"),
        (
            torch.tensor([[0.0, 2.5]]),
            "int<4>[2]",
            "needs whole numbers, but the data has 1 non-integer value(s) (first 2.5 in",
        ),
        (torch.tensor([[0.0, math.nan], [1.0, 2.0]]), "real[2]", "1 NaN value(s), first in example 0"),
        (torch.tensor([[0.0, 1.0], [math.inf, 2.0]]), "real[2]", "1 inf value(s), first in example 1"),
        (torch.tensor([[1.0, math.nan]]), "int<4>[2]", "NaN value(s)"),
        (torch.tensor([[1.0, 0.0]]), "positive[2]", "values of positive[2] data must be > 0, but the data has min 0"),
        (
            torch.tensor([[0.5, 1.0]]),
            "unit[2]",
            "must be in the open interval (0, 1), but the data has min 0.5 and max 1",
        ),
        (
            torch.tensor([[0.0, 0.0], [-5.0, 4.5]]),
            "interval(-4, 4)[2]",
            "must be in the open interval (-4, 4), but the data has min -5 and max 4.5 (2 value(s) outside, "
            "first in example 1)",
        ),
        ([[0.0, 1.0]], "real[2]", "must be a torch.Tensor, not list"),
    ],
)
def test_check_data_rejects(x, input_type, message):
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        data.check_data(x, input_type)
    assert "\n" not in str(info.value)


def test_check_data_rejects_a_bad_type():
    with pytest.raises(ValueError, match="unknown domain `reals`"):
        data.check_data(torch.zeros(1, 2), "reals[2]")


# ------------------------------------------------------------------------------------- load_array


@pytest.mark.parametrize(
    ("array", "dtype"),
    [
        (np.arange(6, dtype=np.int32).reshape(3, 2), torch.int64),
        (np.arange(6, dtype=np.uint8).reshape(3, 2), torch.int64),
        (np.array([[True, False]]), torch.int64),
        (np.linspace(0, 1, 6).reshape(3, 2), torch.float32),
        (np.ones((2, 2), dtype=np.float16), torch.float32),
    ],
)
def test_load_array_converts_dtypes(tmp_path, array, dtype):
    path = tmp_path / "x.npy"
    np.save(path, array)
    x = data.load_array(path)
    assert x.dtype == dtype and tuple(x.shape) == array.shape
    assert np.allclose(x.numpy(), array.astype(np.float64))
    assert isinstance(data.load_array(str(path)), torch.Tensor)


def test_load_array_rejects(tmp_path):
    np.save(tmp_path / "c.npy", np.ones((2, 2), dtype=np.complex64))
    with pytest.raises(ValueError, match="unsupported array dtype complex64"):
        data.load_array(tmp_path / "c.npy")
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="cannot read a plain numeric array"):
        data.load_array(tmp_path / "o.npy")
    np.savez(tmp_path / "z.npz", a=np.ones(2), b=np.zeros(2))
    with pytest.raises(ValueError, match=r"an archive of several \(.npz\)"):
        data.load_array(tmp_path / "z.npz")
    np.save(tmp_path / "big.npy", np.array([2**64 - 1], dtype=np.uint64))
    with pytest.raises(ValueError, match="do not fit in int64"):
        data.load_array(tmp_path / "big.npy")
