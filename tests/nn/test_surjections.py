import math

import pytest
import torch

import survae_dsl.nn as snn


def _generator(seed=1):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("shape", [(4,), (2, 3)])
def test_abs_forward_of_inverse_is_the_identity_on_the_image(shape):
    layer = snn.Abs(shape).double()
    z = torch.rand(5, *shape, dtype=torch.float64)
    x = layer.inverse(z, generator=_generator())
    out, ldj = layer(x)
    assert torch.equal(out, z)
    assert torch.equal(x.abs(), z)
    expected = torch.full((5,), -math.prod(shape) * math.log(2.0), dtype=torch.float64)
    torch.testing.assert_close(ldj, expected)


def test_abs_signs_are_fair_and_follow_the_generator():
    layer = snn.Abs((1000,)).double()
    z = torch.ones(4, 1000, dtype=torch.float64)
    x = layer.inverse(z, generator=_generator(3))
    assert torch.equal(x, layer.inverse(z, generator=_generator(3)))
    assert set(x.unique().tolist()) == {-1.0, 1.0}
    # 4000 fair signs: the share of +1 is within 4 standard deviations (0.008) of 1/2.
    assert abs((x > 0).double().mean().item() - 0.5) < 0.032


@pytest.mark.parametrize("num_classes", [2, 7, 256])
@pytest.mark.parametrize("shape", [(4,), (2, 3)])
def test_dequantize_round_trip_is_exact(shape, num_classes):
    layer = snn.Dequantize(shape, num_classes=num_classes).double()
    x = torch.randint(0, num_classes, (6, *shape))
    z, ldj = layer(x, generator=_generator())
    assert z.dtype == torch.float64 and ((z > 0) & (z < 1)).all()
    assert torch.equal(layer.inverse(z), x)
    assert layer.inverse(z).dtype == torch.long
    expected = torch.full((6,), -math.prod(shape) * math.log(num_classes), dtype=torch.float64)
    torch.testing.assert_close(ldj, expected)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("num_classes", [3, 7, 256, 1000])
def test_dequantize_is_exact_at_the_noise_extremes(num_classes, dtype):
    layer = snn.Dequantize((num_classes,), num_classes=num_classes).to(dtype)
    x = torch.arange(num_classes).unsqueeze(0)
    for u in (0.0, 1.0):
        z = layer.embed(x, torch.full(x.shape, u, dtype=dtype))
        assert ((z > 0) & (z < 1)).all()
        assert torch.equal(layer.inverse(z), x)


def test_dequantize_noise_is_uniform_in_each_cell():
    layer = snn.Dequantize((2000,), num_classes=4).double()
    x = torch.full((1, 2000), 2)
    z, _ = layer(x)
    u = 4 * z - 2
    # U(0, 1) has mean 1/2 and variance 1/12; 2000 draws: mean within 4 sd (0.026).
    assert abs(u.mean().item() - 0.5) < 0.026 and 0.0 < u.min() and u.max() < 1.0


def test_dequantize_inverse_clamps_the_closed_interval():
    layer = snn.Dequantize((2,), num_classes=5).double()
    z = torch.tensor([[0.0, 1.0]], dtype=torch.float64)
    assert layer.inverse(z).tolist() == [[0, 4]]


def test_dequantize_follows_the_generator():
    layer = snn.Dequantize((3,), num_classes=4).double()
    x = torch.randint(0, 4, (2, 3))
    assert torch.equal(layer(x, generator=_generator(5))[0], layer(x, generator=_generator(5))[0])


def test_dequantize_needs_two_classes():
    with pytest.raises(ValueError, match="num_classes"):
        snn.Dequantize((2,), num_classes=1)


def test_kinds():
    assert snn.Abs.kind == "inference_surjective"
    assert snn.Dequantize.kind == "generative_surjective"
