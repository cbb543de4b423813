import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from survae_dsl.nn.nets import MLP
from survae_dsl.nn.splines import SplineCoupling, rational_quadratic_spline

from .helpers import jacobian_log_det, random_mlp

# (shape, dim, split): vectors, odd sizes, a non-default split, and [C, L] on both axes.
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


def _spline(shape, dim=0, split=None, bins=4, bound=2.0, context_features=0, scale=0.5):
    a, b = _sizes(shape, dim, split)
    net = random_mlp(a + context_features, (3 * bins - 1) * b, scale=scale)
    return SplineCoupling(shape, net, bins=bins, bound=bound, dim=dim, split=split).double()


def _params(batch, bins, scale=1.0):
    """Random unnormalised (widths, heights, derivatives) for ``batch`` entries."""
    widths = scale * torch.randn(batch, bins, dtype=torch.float64)
    heights = scale * torch.randn(batch, bins, dtype=torch.float64)
    derivatives = scale * torch.randn(batch, bins - 1, dtype=torch.float64)
    return widths, heights, derivatives


@pytest.mark.parametrize("bins,bound", [(2, 1.0), (5, 2.0), (8, 3.0)])
@pytest.mark.parametrize("shape,dim,split", LAYOUTS)
def test_round_trip_and_ldj(shape, dim, split, bins, bound):
    layer = _spline(shape, dim, split, bins=bins, bound=bound)
    # Wide enough that some entries fall in the identity tails.
    x = 1.5 * bound * torch.randn(3, *shape, dtype=torch.float64)
    z, ldj = layer(x)
    assert z.shape == x.shape and ldj.shape == (3,)
    assert not torch.allclose(z, x)  # the random net makes this a real test
    torch.testing.assert_close(layer.inverse(z), x)
    torch.testing.assert_close(ldj, jacobian_log_det(lambda v: layer(v)[0], x))


@pytest.mark.parametrize("shape,dim,split", LAYOUTS)
def test_the_conditioning_part_passes_unchanged(shape, dim, split):
    layer = _spline(shape, dim, split)
    x = torch.randn(2, *shape, dtype=torch.float64)
    z, _ = layer(x)
    keep = layer.split
    assert torch.equal(z.narrow(dim + 1, 0, keep), x.narrow(dim + 1, 0, keep))


@pytest.mark.parametrize("bins", [2, 8, 1024])
def test_a_fresh_spline_coupling_is_the_identity(bins):
    # A fresh MLP's last layer is zero: equal bins, unit derivatives.
    layer = SplineCoupling((2, 3), MLP(3, (3 * bins - 1) * 3, hidden=(5,)), bins=bins, bound=2.0).double()
    x = 2.0 * torch.randn(4, 2, 3, dtype=torch.float64)
    x[0, 1] = torch.tensor([-2.0, 0.0, 2.0], dtype=torch.float64)  # knots and the bounds themselves
    z, ldj = layer(x)
    torch.testing.assert_close(z, x, rtol=0, atol=1e-12)
    torch.testing.assert_close(ldj, torch.zeros(4, dtype=torch.float64), rtol=0, atol=1e-12)
    torch.testing.assert_close(layer.inverse(x), x, rtol=0, atol=1e-12)


def test_zero_parameters_give_the_identity_map():
    widths, heights, derivatives = (torch.zeros(50, n, dtype=torch.float64) for n in (6, 6, 5))
    x = torch.linspace(-4.0, 4.0, 50, dtype=torch.float64)
    y, log_derivative = rational_quadratic_spline(x, widths, heights, derivatives, 3.0)
    torch.testing.assert_close(y, x, rtol=0, atol=1e-14)
    torch.testing.assert_close(log_derivative, torch.zeros_like(x), rtol=0, atol=1e-14)


@pytest.mark.parametrize("bins", [2, 7])
def test_the_spline_is_strictly_increasing(bins):
    bound = 2.0
    x = torch.linspace(-1.2 * bound, 1.2 * bound, 2001, dtype=torch.float64)
    params = [p[:1].expand(x.shape[0], -1) for p in _params(1, bins, scale=2.0)]
    y, log_derivative = rational_quadratic_spline(x, *params, bound)
    assert (torch.diff(y) > 0).all()
    assert torch.isfinite(log_derivative).all()
    # The image of [−bound, bound] is [−bound, bound].
    inside = x.abs() <= bound
    assert y[inside].min() >= -bound and y[inside].max() <= bound


def test_the_log_derivative_is_the_derivative_entrywise():
    x = 3.0 * torch.randn(200, dtype=torch.float64, requires_grad=True)
    params = _params(200, 6)
    y, log_derivative = rational_quadratic_spline(x, *params, 2.0)
    (gradient,) = torch.autograd.grad(y.sum(), x)
    torch.testing.assert_close(log_derivative, torch.log(gradient))


def test_identity_outside_the_bound():
    bound = 1.5
    x = torch.tensor([-100.0, -1.5 - 1e-9, 1.5 + 1e-9, 7.0], dtype=torch.float64)
    params = _params(4, 5, scale=2.0)
    y, log_derivative = rational_quadratic_spline(x, *params, bound)
    assert torch.equal(y, x)
    assert torch.equal(log_derivative, torch.zeros_like(x))
    x_back, _ = rational_quadratic_spline(x, *params, bound, inverse=True)
    assert torch.equal(x_back, x)


def test_continuous_with_unit_slope_at_the_bounds():
    bound = 2.0
    params = [p.expand(3, -1) for p in _params(1, 5, scale=2.0)]
    for edge in (-bound, bound):
        delta = 1e-7
        x = torch.tensor([edge - delta, edge, edge + delta], dtype=torch.float64)
        y, log_derivative = rational_quadratic_spline(x, *params, bound)
        # The end knots are fixed at ±bound, so the spline meets the identity tails there...
        torch.testing.assert_close(y[1], torch.tensor(edge, dtype=torch.float64), rtol=0, atol=1e-15)
        # ...with slope 1 (the boundary derivative), like the tails: near the edge only a
        # curvature term is left, O(δ²) = 1e-14 times a constant.
        torch.testing.assert_close(log_derivative[1], torch.tensor(0.0, dtype=torch.float64), rtol=0, atol=1e-12)
        torch.testing.assert_close(y[0], x[0], rtol=0, atol=1e-10)
        torch.testing.assert_close(y[2], x[2], rtol=0, atol=1e-10)


@pytest.mark.parametrize("bins", [3, 8])
def test_inverse_on_a_grid_of_the_image(bins):
    y = torch.linspace(-2.5, 2.5, 501, dtype=torch.float64)
    params = [p.expand(y.shape[0], -1) for p in _params(1, bins)]
    x, _ = rational_quadratic_spline(y, *params, 2.0, inverse=True)
    y_again, _ = rational_quadratic_spline(x, *params, 2.0)
    torch.testing.assert_close(y_again, y)


def test_spline_with_context():
    layer = _spline((4,), context_features=3)
    x = torch.randn(3, 4, dtype=torch.float64)
    context = torch.randn(3, 3, dtype=torch.float64)
    z, ldj = layer(x, context)
    z_other, _ = layer(x, context + 1.0)
    assert not torch.allclose(z, z_other)
    torch.testing.assert_close(layer.inverse(z, context), x)
    torch.testing.assert_close(ldj, jacobian_log_det(lambda v, c: layer(v, c)[0], x, context))


def test_extreme_net_outputs_stay_finite_and_invertible():
    # Very large raw parameters saturate the softmax and softplus: the floors keep the bins open.
    layer = _spline((4,), scale=50.0)
    x = 2.0 * torch.randn(8, 4, dtype=torch.float64)
    z, ldj = layer(x)
    assert torch.isfinite(z).all() and torch.isfinite(ldj).all()
    torch.testing.assert_close(layer.inverse(z), x, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"bins": 1}, "bins"),
        ({"bound": 0.0}, "bound"),
        ({"dim": 1}, "dim"),
        ({"split": 4}, "split"),
    ],
)
def test_invalid_arguments_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SplineCoupling((4,), MLP(2, 2), **kwargs)


@settings(max_examples=20, deadline=None)
@given(
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple),
    bins=st.integers(2, 10),
    bound=st.floats(0.5, 5.0),
    data=st.data(),
)
def test_round_trip_on_any_layout(shape, bins, bound, data):
    dims = [d for d, size in enumerate(shape) if size >= 2]
    if not dims:
        shape, dims = (2, *shape), [0]
    dim = data.draw(st.sampled_from(dims))
    split = data.draw(st.one_of(st.none(), st.integers(1, shape[dim] - 1)))
    layer = _spline(shape, dim, split, bins=bins, bound=bound)
    x = bound * torch.randn(2, *shape, dtype=torch.float64)
    z, ldj = layer(x)
    assert z.shape == x.shape and ldj.shape == (2,)
    torch.testing.assert_close(layer.inverse(z), x)
