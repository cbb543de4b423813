"""Issue 18's coupling additions, tested as maths: the reference code's scale functions,
checkerboard masks (RealNVP) and the Flow++ logistic-mixture coupling."""

import math

import pytest
import torch

import survae_dsl.nn as snn
from survae_dsl.nn.couplings import (
    _SCALES,
    BISECTION_STEPS,
    checkerboard,
    mixture_logit_cdf,
    mixture_logit_cdf_inverse,
)

from .helpers import jacobian_log_det, random_mlp

REFERENCE_SCALES = ["sigmoid_ref", "softplus_plain"]


# ---------------------------------------------------------------------------- reference scales


def test_reference_scales_follow_their_formulas():
    raw = torch.linspace(-30, 30, 121, dtype=torch.float64)
    value, log_value = _SCALES["sigmoid_ref"](raw)
    torch.testing.assert_close(value, torch.sigmoid(raw + 2.0) + 1e-3)
    torch.testing.assert_close(log_value, torch.log(value))
    value, log_value = _SCALES["softplus_plain"](raw)
    torch.testing.assert_close(value, torch.nn.functional.softplus(raw, threshold=100.0))
    torch.testing.assert_close(log_value, torch.log(value))
    # Not the identity at 0, unlike the defaults: σ(2) + 1e-3 and log 2.
    zero = torch.zeros((), dtype=torch.float64)
    torch.testing.assert_close(_SCALES["sigmoid_ref"](zero)[0], torch.sigmoid(zero + 2.0) + 1e-3)
    torch.testing.assert_close(_SCALES["softplus_plain"](zero)[0], torch.tensor(math.log(2.0), dtype=torch.float64))


@pytest.mark.parametrize("scale", REFERENCE_SCALES)
def test_reference_log_scales_stay_finite_in_the_tails(scale):
    raw = torch.tensor([-800.0, -50.0, 50.0, 800.0], dtype=torch.float64, requires_grad=True)
    _, log_value = _SCALES[scale](raw)
    assert torch.isfinite(log_value).all()
    log_value.sum().backward()
    assert torch.isfinite(raw.grad).all()
    if scale == "sigmoid_ref":  # bounded below by the floor
        assert log_value.min() >= math.log(1e-3) - 1e-12


@pytest.mark.parametrize("scale", REFERENCE_SCALES)
def test_reference_scales_in_an_affine_coupling(scale):
    layer = snn.AffineCoupling((4,), random_mlp(2, 4), scale=scale).double()
    x = torch.randn(3, 4, dtype=torch.float64)
    z, ldj = layer(x)
    torch.testing.assert_close(layer.inverse(z), x)
    torch.testing.assert_close(ldj, jacobian_log_det(lambda v: layer(v)[0], x))


# --------------------------------------------------------------------------------- checkerboard


def test_checkerboard_pattern():
    mask = checkerboard((2, 2, 3), 0)
    expected = torch.tensor([[True, False, True], [False, True, False]])
    assert torch.equal(mask, expected.expand(2, 2, 3))
    assert torch.equal(checkerboard((2, 2, 3), 1), ~mask)
    assert torch.equal(checkerboard((1, 4), 1)[0], torch.tensor([False, True, False, True]))
    with pytest.raises(ValueError, match="checkerboard"):
        checkerboard((4,), 0)


def _checker_layer(kind: str, shape: tuple[int, ...], parity: int) -> snn.Transform:
    n = math.prod(shape)
    per_entry = {"affine": 2, "additive": 1, "spline": 3 * 4 - 1, "mixture": 3 * 3 + 2}[kind]
    net = random_mlp(n, per_entry * n, scale=1.0)
    common = {"mask": "checkerboard", "parity": parity}
    layer = {
        "affine": lambda: snn.AffineCoupling(shape, net, **common),
        "additive": lambda: snn.AdditiveCoupling(shape, net, **common),
        "spline": lambda: snn.SplineCoupling(shape, net, bins=4, **common),
        "mixture": lambda: snn.LogisticMixtureCoupling(shape, net, components=3, **common),
    }[kind]()
    return layer.double()


KINDS = ["affine", "additive", "spline", "mixture"]


@pytest.mark.parametrize("parity", [0, 1])
@pytest.mark.parametrize("shape", [(2, 3), (2, 2, 3), (1, 2, 2)])
@pytest.mark.parametrize("kind", KINDS)
def test_checkerboard_round_trip_and_ldj(kind, shape, parity):
    layer = _checker_layer(kind, shape, parity)
    x = 2.0 * torch.randn(3, *shape, dtype=torch.float64)
    z, ldj = layer(x)
    assert z.shape == x.shape and ldj.shape == (3,)
    keep = checkerboard(shape, parity)
    assert torch.equal(z[:, keep], x[:, keep])  # b = 1 passes unchanged
    assert not torch.allclose(z[:, ~keep], x[:, ~keep])  # the random net makes this a real test
    torch.testing.assert_close(layer.inverse(z), x)
    torch.testing.assert_close(ldj, jacobian_log_det(lambda v: layer(v)[0], x))


@pytest.mark.parametrize("kind", KINDS)
def test_checkerboard_transformed_entries_do_not_see_each_other(kind):
    # ∂z/∂x restricted to the b = 0 entries is diagonal: the net reads x ⊙ b only.
    shape = (2, 2, 2)
    layer = _checker_layer(kind, shape, 0)
    free = (~checkerboard(shape, 0)).reshape(-1)
    x = torch.randn(math.prod(shape), dtype=torch.float64)
    jacobian = torch.autograd.functional.jacobian(lambda v: layer(v.reshape(1, *shape))[0].reshape(-1), x)
    block = jacobian[free][:, free]
    torch.testing.assert_close(block, torch.diag(torch.diagonal(block)))


def test_checkerboard_with_a_convolutional_net_keeps_space():
    net = snn.ConvNet(in_channels=3, out_channels=6, hidden=4, layers=2, kernel=3, spatial_dims=2).double()
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.normal_(0.0, 0.3)
    layer = snn.AffineCoupling((3, 4, 4), net, mask="checkerboard", parity=1).double()
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    z, ldj = layer(x)
    torch.testing.assert_close(layer.inverse(z), x)
    torch.testing.assert_close(ldj, jacobian_log_det(lambda v: layer(v)[0], x))


def test_a_fresh_checkerboard_coupling_is_the_identity_and_keeps_state_dict_names():
    layer = snn.AffineCoupling((2, 2, 2), snn.MLP(8, 16, hidden=(4,)), mask="checkerboard").double()
    x = torch.randn(3, 2, 2, 2, dtype=torch.float64)
    z, ldj = layer(x)
    torch.testing.assert_close(z, x, rtol=0, atol=1e-15)
    torch.testing.assert_close(ldj, torch.zeros(3, dtype=torch.float64), rtol=0, atol=1e-15)
    assert all(name.startswith("net.") for name in layer.state_dict())  # the mask is not state
    assert layer.keep is not None and layer.keep.dtype == torch.bool


def test_unknown_mask_is_rejected():
    with pytest.raises(ValueError, match="mask"):
        snn.AffineCoupling((2, 2), snn.MLP(4, 8), mask="stripes")


# ------------------------------------------------------------------------------ logistic mixture


def _mixture_params(shape, k, spread=1.0, seed=0):
    generator = torch.Generator().manual_seed(seed)

    def draw(scale):
        return scale * torch.randn(*shape, k, generator=generator, dtype=torch.float64)

    return draw(1.0), draw(2.0 * spread), torch.clamp(draw(0.8), min=-7.0)


def test_mixture_logit_cdf_matches_its_definition_and_derivative():
    logits, means, log_scales = _mixture_params((50,), 4)
    x = torch.linspace(-6, 6, 50, dtype=torch.float64)
    weights = torch.softmax(logits, dim=-1)
    cdf = (weights * torch.sigmoid((x.unsqueeze(-1) - means) / log_scales.exp())).sum(-1)
    y, log_derivative = mixture_logit_cdf(x, logits, means, log_scales)
    torch.testing.assert_close(y, torch.logit(cdf))
    derivative = torch.autograd.functional.jacobian(lambda v: mixture_logit_cdf(v, logits, means, log_scales)[0], x)
    torch.testing.assert_close(log_derivative, torch.log(torch.diagonal(derivative)))


def test_mixture_inverse_is_within_its_bisection_tolerance():
    logits, means, log_scales = _mixture_params((200,), 5, spread=3.0)
    y = torch.linspace(-40, 40, 200, dtype=torch.float64)  # far into both tails
    x = mixture_logit_cdf_inverse(y, logits, means, log_scales)
    quantiles = means + log_scales.exp() * y.unsqueeze(-1)
    width = quantiles.max(-1).values - quantiles.min(-1).values
    assert (x >= quantiles.min(-1).values).all() and (x <= quantiles.max(-1).values).all()
    # Back through the forward map: the x found is within width·2⁻⁶⁴ (plus rounding) of the root,
    # so y is recovered to that times the slope.
    y_back, log_derivative = mixture_logit_cdf(x, logits, means, log_scales)
    tolerance = (width * 2.0**-BISECTION_STEPS + 1e-12 * (1 + x.abs())) * log_derivative.exp()
    assert ((y_back - y).abs() <= tolerance + 1e-9).all()


@pytest.mark.parametrize("shape,dim", [((4,), 0), ((2, 3), 1), ((3, 2), 0)])
def test_mixture_coupling_round_trip_and_ldj(shape, dim):
    n = shape[dim]
    first = math.ceil(n / 2)
    per_slice = math.prod(shape) // n
    net = random_mlp(per_slice * first, (3 * 4 + 2) * per_slice * (n - first), scale=1.0)
    layer = snn.LogisticMixtureCoupling(shape, net, components=4, dim=dim).double()
    x = 3.0 * torch.randn(5, *shape, dtype=torch.float64)
    z, ldj = layer(x)
    assert not torch.allclose(z, x)
    torch.testing.assert_close(layer.inverse(z), x)
    torch.testing.assert_close(ldj, jacobian_log_det(lambda v: layer(v)[0], x))


def test_mixture_coupling_with_context():
    layer = snn.LogisticMixtureCoupling((2,), random_mlp(1 + 2, 3 * 2 + 2, scale=1.0), components=2).double()
    x = torch.randn(4, 2, dtype=torch.float64)
    context = torch.randn(4, 2, dtype=torch.float64)
    z, ldj = layer(x, context)
    torch.testing.assert_close(layer.inverse(z, context), x)
    torch.testing.assert_close(ldj, jacobian_log_det(lambda v, c: layer(v, c)[0], x, context))


def test_a_fresh_mixture_coupling_is_the_identity():
    layer = snn.LogisticMixtureCoupling((4,), snn.MLP(2, 2 * (3 * 5 + 2), hidden=(4,)), components=5).double()
    x = 10.0 * torch.randn(6, 4, dtype=torch.float64)
    z, ldj = layer(x)
    torch.testing.assert_close(z, x, rtol=0, atol=1e-12)
    torch.testing.assert_close(ldj, torch.zeros(6, dtype=torch.float64), rtol=0, atol=1e-12)
    torch.testing.assert_close(layer.inverse(z), x, rtol=0, atol=1e-12)


def test_mixture_coupling_tails_stay_finite_in_float32():
    layer = snn.LogisticMixtureCoupling((2,), random_mlp(1, 3 * 3 + 2).float(), components=3)
    x = torch.tensor([[0.0, -80.0], [0.0, 80.0], [1.0, 1e3]])
    z, ldj = layer(x)
    assert torch.isfinite(z).all() and torch.isfinite(ldj).all()
    torch.testing.assert_close(layer.inverse(z), x, rtol=1e-4, atol=1e-4)


def test_mixture_density_integrates_to_one():
    # One transformed entry (x_a fixed): ∫ N(z(x)) |dz/dx| dx = 1 on a wide grid.
    layer = snn.LogisticMixtureCoupling((2,), random_mlp(1, 3 * 3 + 2, scale=1.0), components=3).double()
    grid = torch.linspace(-60, 60, 200_001, dtype=torch.float64)
    x = torch.stack([torch.full_like(grid, 0.7), grid], dim=1)
    z, ldj = layer(x)
    density = torch.exp(torch.distributions.Normal(0.0, 1.0).log_prob(z[:, 1]) + ldj)
    torch.testing.assert_close(
        torch.trapezoid(density, grid), torch.tensor(1.0, dtype=torch.float64), atol=1e-6, rtol=0
    )


def test_mixture_rejects_zero_components():
    with pytest.raises(ValueError, match="component"):
        snn.LogisticMixtureCoupling((2,), snn.MLP(1, 2), components=0)
