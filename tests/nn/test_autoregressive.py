import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from survae_dsl.nn.autoregressive import AffineAutoregressive, SplineAutoregressive
from survae_dsl.nn.made import MADE

from .helpers import jacobian_log_det

SCALES = ["tanh_exp", "exp", "softplus", "sigmoid"]


def _made(features, hidden=(8, 8), params=2, context_features=0, scale=0.5):
    """A float64 MADE whose last layer is random (masked), so its output is not zero."""
    net = MADE(features, hidden=hidden, params_per_feature=params, context_features=context_features, activation="tanh")
    with torch.no_grad():
        net.layers[-1].weight.normal_(0.0, scale)
        net.layers[-1].bias.normal_(0.0, scale)
    return net.double()


def _output_jacobian(net, x, context=None):
    """∂ net(x)[p·D + d] / ∂ x[e] for one example: ``(P·D, D)``."""
    extra = () if context is None else (context,)
    return torch.autograd.functional.jacobian(lambda v: net(v.unsqueeze(0), *extra)[0], x)


# ----------------------------------------------------------------------------------------------
# MADE


@pytest.mark.parametrize("hidden", [(), (3,), (8, 8), (5, 7, 6)])
@pytest.mark.parametrize("features,params", [(1, 2), (3, 1), (4, 2), (5, 3)])
def test_made_output_d_sees_exactly_the_inputs_before_d(features, params, hidden):
    net = _made(features, hidden=hidden, params=params)
    jacobian = _output_jacobian(net, torch.randn(features, dtype=torch.float64))
    assert jacobian.shape == (params * features, features)
    strictly_lower = torch.tril(torch.ones(features, features, dtype=torch.bool), diagonal=-1)
    for p in range(params):
        block = jacobian[p * features : (p + 1) * features]
        # Output p·D + d has zero gradient with respect to x[d:]...
        assert torch.equal(block[~strictly_lower], torch.zeros_like(block[~strictly_lower]))
        if hidden == () or min(hidden) >= features - 1:
            # ...and, with a unit of every degree in each layer, depends on all of x[:d].
            assert (block[strictly_lower] != 0).all()


def test_made_property_holds_for_random_inputs_and_weights():
    # Randomise every layer, not only the last: the masks alone must carry the property.
    net = _made(6, hidden=(10, 4))
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.normal_()
    for _ in range(3):
        jacobian = _output_jacobian(net, torch.randn(6, dtype=torch.float64))
        for p in range(2):
            block = jacobian[p * 6 : (p + 1) * 6]
            assert torch.equal(torch.triu(block), torch.zeros_like(block))


def test_made_context_reaches_every_output():
    net = _made(3, hidden=(6,), context_features=2)
    x = torch.randn(1, 3, dtype=torch.float64)
    context = torch.randn(1, 2, dtype=torch.float64)
    jacobian = torch.autograd.functional.jacobian(lambda c: net(x, c)[0], context)[:, 0]
    # Degree-0 hidden units carry the context, so even feature 0's parameters depend on it.
    assert (jacobian.abs().sum(dim=1) > 0).all()
    inputs = _output_jacobian(net, x[0], context)
    assert torch.equal(torch.triu(inputs[:3]), torch.zeros(3, 3, dtype=torch.float64))


def test_a_fresh_made_outputs_zero():
    net = MADE(4, hidden=(16,), params_per_feature=3, context_features=2).double()
    out = net(torch.randn(5, 4, dtype=torch.float64), torch.randn(5, 2, dtype=torch.float64))
    assert out.shape == (5, 12)
    assert torch.equal(out, torch.zeros(5, 12, dtype=torch.float64))


def test_made_masks_are_buffers_and_names_are_deterministic():
    net = MADE(3, hidden=(4, 4))
    names = list(net.state_dict())
    assert names == list(MADE(3, hidden=(4, 4)).state_dict())
    assert "layers.0.mask" in names and "layers.0.weight" in names
    assert all("mask" not in name for name, _ in net.named_parameters())
    assert net.double().layers[0].mask.dtype == torch.float64


def test_made_context_is_required_exactly_when_declared():
    with pytest.raises(ValueError, match="context"):
        MADE(3, context_features=2)(torch.randn(2, 3))
    with pytest.raises(ValueError, match="context"):
        MADE(3)(torch.randn(2, 3), torch.randn(2, 2))


@pytest.mark.parametrize(
    "kwargs",
    [{"features": 0}, {"features": 3, "params_per_feature": 0}, {"features": 3, "hidden": (0,)}],
)
def test_made_rejects_bad_sizes(kwargs):
    with pytest.raises(ValueError, match="made"):
        MADE(**kwargs)


def test_made_rejects_an_unknown_activation():
    with pytest.raises(ValueError, match="activation"):
        MADE(3, activation="bogus")


# ----------------------------------------------------------------------------------------------
# AffineAutoregressive


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("features", [1, 3, 5])
def test_round_trip_and_ldj(features, scale):
    layer = AffineAutoregressive((features,), _made(features), scale=scale).double()
    x = torch.randn(4, features, dtype=torch.float64)
    z, ldj = layer(x)
    assert z.shape == x.shape and ldj.shape == (4,)
    assert not torch.allclose(z, x)
    torch.testing.assert_close(layer.inverse(z), x)
    torch.testing.assert_close(ldj, jacobian_log_det(lambda v: layer(v)[0], x))


def test_the_jacobian_is_lower_triangular():
    layer = AffineAutoregressive((5,), _made(5)).double()
    x = torch.randn(5, dtype=torch.float64)
    jacobian = torch.autograd.functional.jacobian(lambda v: layer(v.unsqueeze(0))[0][0], x)
    assert torch.equal(torch.triu(jacobian, diagonal=1), torch.zeros(5, 5, dtype=torch.float64))
    # z_0 = x_0 · scale(bias) + shift(bias): an affine map of x_0 alone.
    assert (torch.tril(jacobian, diagonal=-1)[1:].abs().sum(dim=1) > 0).all()


@pytest.mark.parametrize("scale", SCALES)
def test_with_context(scale):
    layer = AffineAutoregressive((3,), _made(3, context_features=2), scale=scale).double()
    x = torch.randn(4, 3, dtype=torch.float64)
    context = torch.randn(4, 2, dtype=torch.float64)
    z, ldj = layer(x, context)
    z_other, _ = layer(x, context + 1.0)
    assert not torch.allclose(z[:, 0], z_other[:, 0])
    torch.testing.assert_close(layer.inverse(z, context), x)
    torch.testing.assert_close(ldj, jacobian_log_det(lambda v, c: layer(v, c)[0], x, context))


@pytest.mark.parametrize("scale", SCALES)
def test_a_fresh_layer_is_the_identity(scale):
    layer = AffineAutoregressive((4,), MADE(4, hidden=(8,)), scale=scale).double()
    x = torch.randn(3, 4, dtype=torch.float64)
    z, ldj = layer(x)
    torch.testing.assert_close(z, x, rtol=0, atol=1e-15)
    torch.testing.assert_close(ldj, torch.zeros(3, dtype=torch.float64), rtol=0, atol=1e-15)
    torch.testing.assert_close(layer.inverse(x), x, rtol=0, atol=1e-15)


def test_rejects_non_vectors_and_unknown_scales():
    with pytest.raises(ValueError, match="vector"):
        AffineAutoregressive((2, 3), MADE(6))
    with pytest.raises(ValueError, match="scale"):
        AffineAutoregressive((3,), MADE(3), scale="cube")


@settings(max_examples=20, deadline=None, derandomize=True)
@given(
    features=st.integers(1, 6),
    hidden=st.lists(st.integers(1, 8), min_size=0, max_size=2).map(tuple),
    scale=st.sampled_from(SCALES),
)
def test_round_trip_for_any_made(features, hidden, scale):
    torch.manual_seed(1000 * features + 10 * len(hidden) + SCALES.index(scale))  # the weights and x: repeatable
    layer = AffineAutoregressive((features,), _made(features, hidden=hidden), scale=scale).double()
    x = torch.randn(3, features, dtype=torch.float64)
    z, _ = layer(x)
    torch.testing.assert_close(layer.inverse(z), x)


# ----------------------------------------------------------------------------------------------
# Reference scales, SplineAutoregressive (NSF-AR) and the inverse direction (IAF)


def _spline_ar(features, bins=4, direction="forward", context_features=0):
    net = _made(features, params=3 * bins - 1, context_features=context_features, scale=1.0)
    return SplineAutoregressive((features,), net, bins=bins, direction=direction).double()


@pytest.mark.parametrize("scale", ["sigmoid_ref", "softplus_plain"])
@pytest.mark.parametrize("direction", ["forward", "inverse"])
def test_reference_scales_round_trip_and_ldj(scale, direction):
    layer = AffineAutoregressive((3,), _made(3), scale=scale, direction=direction).double()
    x = torch.randn(4, 3, dtype=torch.float64)
    z, ldj = layer(x)
    torch.testing.assert_close(layer.inverse(z), x)
    torch.testing.assert_close(ldj, jacobian_log_det(lambda v: layer(v)[0], x))


@pytest.mark.parametrize("direction", ["forward", "inverse"])
@pytest.mark.parametrize("features", [1, 3, 5])
def test_spline_round_trip_and_ldj(features, direction):
    layer = _spline_ar(features, direction=direction)
    x = 2.0 * torch.randn(4, features, dtype=torch.float64)  # some entries in the identity tails
    z, ldj = layer(x)
    assert not torch.allclose(z, x)
    torch.testing.assert_close(layer.inverse(z), x)
    torch.testing.assert_close(ldj, jacobian_log_det(lambda v: layer(v)[0], x))


@pytest.mark.parametrize("direction", ["forward", "inverse"])
def test_spline_with_context(direction):
    layer = _spline_ar(3, direction=direction, context_features=2)
    x = torch.randn(4, 3, dtype=torch.float64)
    context = torch.randn(4, 2, dtype=torch.float64)
    z, ldj = layer(x, context)
    torch.testing.assert_close(layer.inverse(z, context), x)
    torch.testing.assert_close(ldj, jacobian_log_det(lambda v, c: layer(v, c)[0], x, context))


@pytest.mark.parametrize(
    "make", [lambda d: _spline_ar(4, direction=d), lambda d: AffineAutoregressive((4,), _made(4), direction=d).double()]
)
@pytest.mark.parametrize("direction", ["forward", "inverse"])
def test_jacobians_are_lower_triangular_in_both_directions(make, direction):
    layer = make(direction)
    x = torch.randn(4, dtype=torch.float64)
    for fn in (lambda v: layer(v.unsqueeze(0))[0][0], lambda v: layer.inverse(v.unsqueeze(0))[0]):
        jacobian = torch.autograd.functional.jacobian(fn, x)
        assert torch.equal(torch.triu(jacobian, diagonal=1), torch.zeros(4, 4, dtype=torch.float64))


class _CountingNet(torch.nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net, self.calls = net, 0

    def forward(self, x, context=None):
        self.calls += 1
        return self.net(x, context)


@pytest.mark.parametrize("direction,log_prob_passes,sample_passes", [("forward", 1, 5), ("inverse", 5, 1)])
def test_passes_per_direction(direction, log_prob_passes, sample_passes):
    # MAF: log_prob in one pass, sampling in D; IAF the other way round.
    net = _CountingNet(_made(5))
    layer = AffineAutoregressive((5,), net, direction=direction).double()
    x = torch.randn(2, 5, dtype=torch.float64)
    layer(x)
    assert net.calls == log_prob_passes
    net.calls = 0
    layer.inverse(x)
    assert net.calls == sample_passes


def test_iaf_reads_z_maf_reads_x():
    # The same net: IAF's sampling map is MAF's inference map.
    net = _made(3)
    maf = AffineAutoregressive((3,), net, direction="forward").double()
    iaf = AffineAutoregressive((3,), net, direction="inverse").double()
    v = torch.randn(4, 3, dtype=torch.float64)
    torch.testing.assert_close(iaf.inverse(v), maf(v)[0])
    z, ldj = iaf(v)
    torch.testing.assert_close(z, maf.inverse(v))
    torch.testing.assert_close(ldj, -maf(z)[1])


@pytest.mark.parametrize("direction", ["forward", "inverse"])
def test_a_fresh_spline_layer_is_the_identity(direction):
    layer = SplineAutoregressive((4,), MADE(4, hidden=(8,), params_per_feature=3 * 5 - 1), bins=5, direction=direction)
    layer = layer.double()
    x = torch.randn(3, 4, dtype=torch.float64)
    z, ldj = layer(x)
    torch.testing.assert_close(z, x, rtol=0, atol=1e-12)
    torch.testing.assert_close(ldj, torch.zeros(3, dtype=torch.float64), rtol=0, atol=1e-12)


def test_rejects_unknown_directions_and_bad_splines():
    with pytest.raises(ValueError, match="direction"):
        AffineAutoregressive((3,), MADE(3), direction="sideways")
    with pytest.raises(ValueError, match="bins"):
        SplineAutoregressive((3,), MADE(3, params_per_feature=2), bins=1)
    with pytest.raises(ValueError, match="vector"):
        SplineAutoregressive((2, 3), MADE(6, params_per_feature=11), bins=4)
