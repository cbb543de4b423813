import math

import pytest
import torch

import survae_dsl.nn as snn
from survae_dsl.nn.elementwise import Exp, Log

from .helpers import jacobian_log_det

SHAPES = [(4,), (2, 3)]


def _real(shape):
    return 3.0 * torch.randn(3, *shape, dtype=torch.float64)


def _unit(shape):
    return torch.rand(3, *shape, dtype=torch.float64) * 0.98 + 0.01


def _positive(shape):
    return torch.rand(3, *shape, dtype=torch.float64) * 5.0 + 0.01


# Each map with inputs drawn from its domain.
MAPS = [
    (lambda shape: snn.Shift(shape, by=1.5), _real),
    (lambda shape: snn.Scale(shape, by=-0.25), _real),
    (lambda shape: snn.Scale(shape, by=3.0), _real),
    (snn.Sigmoid, _real),
    (snn.Logit, _unit),
    (snn.Softplus, _real),
    (snn.SoftplusInv, _positive),
    (Exp, _real),
    (Log, _positive),
]
MAP_IDS = ["shift", "scale_neg", "scale", "sigmoid", "logit", "softplus", "softplus_inv", "exp", "log"]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("make,domain", MAPS, ids=MAP_IDS)
def test_round_trip_and_ldj(make, domain, shape):
    layer = make(shape).double()
    x = domain(shape)
    z, ldj = layer(x)
    assert z.shape == x.shape and ldj.shape == (3,)
    torch.testing.assert_close(layer.inverse(z), x)
    torch.testing.assert_close(ldj, jacobian_log_det(lambda v: layer(v)[0], x))


def test_scale_ldj_is_d_log_abs_by():
    z, ldj = snn.Scale((2, 3), by=-0.5).double()(torch.ones(2, 2, 3, dtype=torch.float64))
    torch.testing.assert_close(ldj, torch.full((2,), 6 * math.log(0.5), dtype=torch.float64))


def test_scale_by_zero_is_rejected():
    with pytest.raises(ValueError, match="by=0"):
        snn.Scale((2,), by=0.0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_logit_is_finite_on_the_closed_unit_interval(dtype):
    layer = snn.Logit((2,)).to(dtype)
    x = torch.tensor([[0.0, 1.0]], dtype=dtype)
    z, ldj = layer(x)
    finfo = torch.finfo(dtype)
    assert torch.isfinite(z).all() and torch.isfinite(ldj).all()
    # Only the edge points move, to the nearest interior floats: tiny and 1 − eps/2.
    torch.testing.assert_close(z[0, 0], torch.tensor(math.log(finfo.tiny), dtype=dtype))
    torch.testing.assert_close(z[0, 1], torch.tensor(-math.log(finfo.eps / 2), dtype=dtype))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_softplus_inv_is_finite_at_zero(dtype):
    z, ldj = snn.SoftplusInv((1,)).to(dtype)(torch.zeros(1, 1, dtype=dtype))
    assert torch.isfinite(z).all() and torch.isfinite(ldj).all()


def test_sigmoid_inverse_is_finite_at_the_edges():
    x = snn.Sigmoid((2,)).double().inverse(torch.tensor([[0.0, 1.0]], dtype=torch.float64))
    assert torch.isfinite(x).all()


def test_softplus_round_trip_far_from_zero():
    # F.softplus returns x itself above 20; the exact map must still invert exactly.
    layer = snn.Softplus((3,)).double()
    x = torch.tensor([[25.0, 40.0, -30.0]], dtype=torch.float64)
    z, ldj = layer(x)
    exact = torch.tensor(25.0 + math.log1p(math.exp(-25.0)), dtype=torch.float64)
    torch.testing.assert_close(z[0, 0], exact, rtol=0, atol=4e-15)
    torch.testing.assert_close(layer.inverse(z), x)
    torch.testing.assert_close(ldj, jacobian_log_det(lambda v: layer(v)[0], x))


def test_sigmoid_round_trip_deep_in_the_tail():
    layer = snn.Sigmoid((2,)).double()
    x = torch.tensor([[-30.0, -300.0]], dtype=torch.float64)
    torch.testing.assert_close(layer.inverse(layer(x)[0]), x)


def test_exp_and_log_are_each_others_inverse_with_opposite_ldj():
    x = torch.rand(3, 2, 3, dtype=torch.float64) * 5.0 + 0.01
    z, log_ldj = Log((2, 3)).double()(x)
    x_again, exp_ldj = Exp((2, 3)).double()(z)
    torch.testing.assert_close(x_again, x)
    torch.testing.assert_close(log_ldj, -exp_ldj)
    torch.testing.assert_close(exp_ldj, torch.log(x).sum(dim=(1, 2)))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_log_is_finite_at_zero(dtype):
    z, ldj = Log((2,)).to(dtype)(torch.zeros(1, 2, dtype=dtype))
    tiny = torch.finfo(dtype).tiny  # 0 moves to the smallest normal number, nothing else moves
    assert torch.isfinite(z).all() and torch.isfinite(ldj).all()
    torch.testing.assert_close(z[0, 0], torch.tensor(math.log(tiny), dtype=dtype))
    torch.testing.assert_close(ldj[0], torch.tensor(-2 * math.log(tiny), dtype=dtype))


def test_exp_inverse_is_finite_at_zero_and_exact_elsewhere():
    layer = Exp((3,)).double()
    x = layer.inverse(torch.tensor([[0.0, 1e-300, 2.0]], dtype=torch.float64))
    assert torch.isfinite(x).all()
    torch.testing.assert_close(x[0, 1:], torch.tensor([math.log(1e-300), math.log(2.0)], dtype=torch.float64))
