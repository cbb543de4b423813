import pytest
import torch

import survae_dsl.nn as snn

from .helpers import jacobian_log_det

SHAPES = [(3,), (2, 5), (2, 3, 4)]


def _randomised(shape):
    layer = snn.ActNorm(shape).double()
    with torch.no_grad():
        layer.shift.normal_()
        layer.log_scale.normal_()
    return layer


@pytest.mark.parametrize("shape", SHAPES)
def test_a_fresh_actnorm_is_the_identity(shape):
    layer = snn.ActNorm(shape).double()
    x = torch.randn(4, *shape, dtype=torch.float64)
    z, ldj = layer(x)
    assert torch.equal(z, x) and torch.equal(ldj, torch.zeros(4, dtype=torch.float64))


@pytest.mark.parametrize("shape", SHAPES[:2])
def test_round_trip_and_ldj(shape):
    layer = _randomised(shape)
    x = torch.randn(3, *shape, dtype=torch.float64)
    z, ldj = layer(x)
    torch.testing.assert_close(layer.inverse(z), x)
    torch.testing.assert_close(ldj, jacobian_log_det(lambda v: layer(v)[0], x))


@pytest.mark.parametrize("shape", SHAPES)
def test_initialize_normalises_each_channel(shape):
    layer = snn.ActNorm(shape).double()
    channels = shape[0]
    x = 3.0 * torch.randn(64, *shape, dtype=torch.float64) + 2.0
    layer.initialize(x)
    z, _ = layer(x)
    per_channel = z.movedim(1, 0).reshape(channels, -1)
    torch.testing.assert_close(per_channel.mean(1), torch.zeros(channels, dtype=torch.float64))
    torch.testing.assert_close(per_channel.std(1, correction=0), torch.ones_like(layer.shift))
    assert layer.shift.requires_grad and layer.shift.grad is None


def test_initialize_on_a_constant_channel_stays_finite():
    layer = snn.ActNorm((2,)).double()
    x = torch.ones(8, 2, dtype=torch.float64)
    layer.initialize(x)
    z, ldj = layer(x)
    assert torch.isfinite(z).all() and torch.isfinite(ldj).all()


def test_ldj_can_be_accumulated_in_place():
    _, ldj = snn.ActNorm((2,))(torch.randn(3, 2))
    ldj += 1.0
    assert torch.equal(ldj, torch.ones(3))


def test_parameters_are_per_channel():
    layer = snn.ActNorm((3, 4, 4))
    assert layer.shift.shape == (3,) and layer.log_scale.shape == (3,)
