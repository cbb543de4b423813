import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import survae_dsl.nn as snn
from survae_dsl.nn.couplings import _SCALES

from .helpers import jacobian_log_det, random_mlp

SCALES = ["tanh_exp", "exp", "softplus", "sigmoid"]

# (shape, dim, split): vectors, odd sizes with the default split, and [C, L] on both axes.
LAYOUTS = [
    ((4,), 0, None),
    ((5,), 0, None),
    ((5,), 0, 1),
    ((2, 3), 0, None),
    ((2, 3), 1, None),
    ((2, 3), 1, 2),
]


def _sizes(shape, dim, split):
    """(entries of x_a, entries of x_b) for a coupling layout."""
    n = shape[dim]
    split = math.ceil(n / 2) if split is None else split
    per_slice = math.prod(shape) // n
    return per_slice * split, per_slice * (n - split)


def _affine(shape, dim, split, scale, context_features=0):
    a, b = _sizes(shape, dim, split)
    net = random_mlp(a + context_features, 2 * b)
    return snn.AffineCoupling(shape, net, dim=dim, split=split, scale=scale).double()


def _additive(shape, dim, split):
    a, b = _sizes(shape, dim, split)
    return snn.AdditiveCoupling(shape, random_mlp(a, b), dim=dim, split=split).double()


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("shape,dim,split", LAYOUTS)
def test_affine_round_trip_and_ldj(shape, dim, split, scale):
    layer = _affine(shape, dim, split, scale)
    x = torch.randn(3, *shape, dtype=torch.float64)
    z, ldj = layer(x)
    assert z.shape == x.shape and ldj.shape == (3,)
    assert not torch.allclose(z, x)  # the random net makes this a real test
    torch.testing.assert_close(layer.inverse(z), x)
    torch.testing.assert_close(ldj, jacobian_log_det(lambda v: layer(v)[0], x))


@pytest.mark.parametrize("shape,dim,split", LAYOUTS)
def test_additive_round_trip_and_ldj(shape, dim, split):
    layer = _additive(shape, dim, split)
    x = torch.randn(3, *shape, dtype=torch.float64)
    z, ldj = layer(x)
    assert not torch.allclose(z, x)
    torch.testing.assert_close(layer.inverse(z), x)
    torch.testing.assert_close(ldj, jacobian_log_det(lambda v: layer(v)[0], x))
    assert torch.equal(ldj, torch.zeros(3, dtype=torch.float64))


@pytest.mark.parametrize("shape,dim,split", LAYOUTS)
def test_the_conditioning_part_passes_unchanged(shape, dim, split):
    layer = _affine(shape, dim, split, "exp")
    x = torch.randn(2, *shape, dtype=torch.float64)
    z, _ = layer(x)
    keep = layer.split
    assert keep == (math.ceil(shape[dim] / 2) if split is None else split)
    assert torch.equal(z.narrow(dim + 1, 0, keep), x.narrow(dim + 1, 0, keep))


@pytest.mark.parametrize("scale", SCALES)
def test_a_fresh_affine_coupling_is_the_identity(scale):
    layer = snn.AffineCoupling((2, 3), snn.MLP(3, 6, hidden=(5,)), dim=0, scale=scale).double()
    x = torch.randn(4, 2, 3, dtype=torch.float64)
    z, ldj = layer(x)
    torch.testing.assert_close(z, x, rtol=0, atol=1e-15)
    torch.testing.assert_close(ldj, torch.zeros(4, dtype=torch.float64), rtol=0, atol=1e-15)


def test_a_fresh_additive_coupling_is_the_identity():
    layer = snn.AdditiveCoupling((4,), snn.MLP(2, 2)).double()
    x = torch.randn(4, 4, dtype=torch.float64)
    z, ldj = layer(x)
    assert torch.equal(z, x) and torch.equal(ldj, torch.zeros(4, dtype=torch.float64))


@pytest.mark.parametrize("scale", SCALES)
def test_scale_functions_log_scale_is_the_log_of_the_scale(scale):
    raw = torch.linspace(-30, 30, 121, dtype=torch.float64)
    value, log_value = _SCALES[scale](raw)
    torch.testing.assert_close(log_value, torch.log(value))
    one, zero = _SCALES[scale](torch.zeros((), dtype=torch.float64))
    torch.testing.assert_close(one, torch.tensor(1.0, dtype=torch.float64))
    torch.testing.assert_close(zero, torch.tensor(0.0, dtype=torch.float64))


@pytest.mark.parametrize("scale", ["softplus", "sigmoid"])
def test_log_scale_stays_finite_where_the_scale_underflows(scale):
    raw = torch.tensor([-800.0, -50.0], dtype=torch.float64, requires_grad=True)
    _, log_value = _SCALES[scale](raw)
    assert torch.isfinite(log_value).all()
    log_value.sum().backward()
    assert torch.isfinite(raw.grad).all()


@pytest.mark.parametrize("scale", SCALES)
def test_affine_with_context(scale):
    # x_a has 2 entries, the context 3: the net sees 5 features.
    layer = _affine((4,), 0, None, scale, context_features=3)
    x = torch.randn(3, 4, dtype=torch.float64)
    context = torch.randn(3, 3, dtype=torch.float64)
    z, ldj = layer(x, context)
    z_other, _ = layer(x, context + 1.0)
    assert not torch.allclose(z, z_other)
    torch.testing.assert_close(layer.inverse(z, context), x)
    torch.testing.assert_close(ldj, jacobian_log_det(lambda v, c: layer(v, c)[0], x, context))


def test_additive_with_image_context():
    layer = snn.AdditiveCoupling((4,), random_mlp(2 + 6, 2))
    x = torch.randn(3, 4, dtype=torch.float64)
    context = torch.randn(3, 2, 3, dtype=torch.float64)  # flattened to 6 features
    z, _ = layer(x, context)
    torch.testing.assert_close(layer.inverse(z, context), x)


@pytest.mark.parametrize(
    "shape,dim,split,message",
    [
        ((1,), 0, None, "at least 2"),
        ((4,), 0, 4, "split"),
        ((4,), 0, 0, "split"),
        ((4,), 1, None, "dim"),
    ],
)
def test_invalid_layouts_are_rejected(shape, dim, split, message):
    with pytest.raises(ValueError, match=message):
        snn.AffineCoupling(shape, snn.MLP(1, 2), dim=dim, split=split)


def test_unknown_scale_is_rejected():
    with pytest.raises(ValueError, match="scale"):
        snn.AffineCoupling((4,), snn.MLP(2, 4), scale="cube")


@settings(max_examples=20, deadline=None)
@given(
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple),
    data=st.data(),
)
def test_affine_round_trip_on_any_layout(shape, data):
    dims = [d for d, size in enumerate(shape) if size >= 2]
    if not dims:
        shape, dims = (2, *shape), [0]
    dim = data.draw(st.sampled_from(dims))
    split = data.draw(st.one_of(st.none(), st.integers(1, shape[dim] - 1)))
    scale = data.draw(st.sampled_from(SCALES))
    layer = _affine(shape, dim, split, scale)
    x = torch.randn(2, *shape, dtype=torch.float64)
    z, ldj = layer(x)
    assert z.shape == x.shape and ldj.shape == (2,)
    torch.testing.assert_close(layer.inverse(z), x)
