import math

import pytest
import torch
import torch.nn.functional as F

from survae_dsl.nn.linear import Conv1x1, Linear

from .helpers import jacobian_log_det

LAYERS = [
    (Linear, (1,)),
    (Linear, (2,)),
    (Linear, (5,)),
    (Conv1x1, (3,)),
    (Conv1x1, (3, 4)),
    (Conv1x1, (2, 3, 2)),
]
IDS = ["linear1", "linear2", "linear5", "conv_c", "conv_cl", "conv_chw"]


def _perturbed(make, shape, seed=0):
    """A float64 layer moved away from its orthogonal start, so W is a general matrix."""
    layer = make(shape, seed=seed).double()
    with torch.no_grad():
        for parameter in layer.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    return layer


def _matrix(layer):
    """W recovered from the layer's action on the basis vectors at one position."""
    channels = layer.shape[0]
    basis = torch.eye(channels, dtype=torch.float64).reshape(channels, channels, *([1] * (len(layer.shape) - 1)))
    basis = basis.expand(channels, *layer.shape)
    z, _ = layer(basis)
    # Column k of W is the image of basis vector k (read at any position).
    return z.reshape(channels, channels, -1)[..., 0].T


@pytest.mark.parametrize("make,shape", LAYERS, ids=IDS)
def test_round_trip_and_ldj(make, shape):
    layer = _perturbed(make, shape)
    x = torch.randn(3, *shape, dtype=torch.float64)
    z, ldj = layer(x)
    assert z.shape == x.shape and ldj.shape == (3,)
    torch.testing.assert_close(layer.inverse(z), x)
    torch.testing.assert_close(ldj, jacobian_log_det(lambda v: layer(v)[0], x))


@pytest.mark.parametrize("make,shape", LAYERS, ids=IDS)
def test_ldj_is_positions_times_log_abs_det_w(make, shape):
    layer = _perturbed(make, shape)
    _, ldj = layer(torch.randn(2, *shape, dtype=torch.float64))
    positions = math.prod(shape[1:])
    expected = positions * torch.linalg.slogdet(_matrix(layer)).logabsdet
    torch.testing.assert_close(ldj, expected.expand(2))
    torch.testing.assert_close(layer.weight(), _matrix(layer))


@pytest.mark.parametrize("make,shape", LAYERS, ids=IDS)
def test_starts_as_a_rotation(make, shape):
    layer = make(shape, seed=3).double()
    weight = _matrix(layer)
    eye = torch.eye(shape[0], dtype=torch.float64)
    # The factors were rounded to the default float32 at construction.
    torch.testing.assert_close(weight @ weight.T, eye, rtol=0, atol=1e-6)
    one = torch.tensor(1.0, dtype=torch.float64)
    torch.testing.assert_close(torch.linalg.det(weight).abs(), one, rtol=0, atol=1e-6)
    _, ldj = layer(torch.randn(2, *shape, dtype=torch.float64))
    torch.testing.assert_close(ldj, torch.zeros(2, dtype=torch.float64), rtol=0, atol=1e-6)


def test_the_rotation_depends_on_the_seed_only():
    same = [_matrix(Linear((4,), seed=7).double()) for _ in range(2)]
    other = _matrix(Linear((4,), seed=8).double())
    assert torch.equal(same[0], same[1])
    assert not torch.allclose(same[0], other)
    torch.manual_seed(123)  # the global generator plays no part
    assert torch.equal(_matrix(Linear((4,), seed=7).double()), same[0])


def test_conv1x1_is_a_1x1_convolution():
    layer = _perturbed(Conv1x1, (3, 4, 5))
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    z, _ = layer(x)
    expected = F.conv2d(x, _matrix(layer)[:, :, None, None])
    torch.testing.assert_close(z, expected)


def test_linear_is_a_matrix_product():
    layer = _perturbed(Linear, (4,))
    x = torch.randn(3, 4, dtype=torch.float64)
    torch.testing.assert_close(layer(x)[0], x @ _matrix(layer).T)


def test_parameter_names_and_buffers():
    layer = Linear((3,))
    assert [name for name, _ in layer.named_parameters()] == ["lower", "upper", "log_s"]
    assert layer.perm.dtype == torch.long and layer.double().sign.dtype == torch.float64
    assert sorted(layer.perm.tolist()) == [0, 1, 2]


def test_gradients_reach_every_factor():
    layer = _perturbed(Linear, (4,))
    z, ldj = layer(torch.randn(3, 4, dtype=torch.float64))
    (z.sum() + ldj.sum()).backward()
    assert torch.tril(layer.lower.grad, -1).abs().sum() > 0
    assert torch.triu(layer.upper.grad, 1).abs().sum() > 0
    assert layer.log_s.grad.abs().sum() > 0


@pytest.mark.parametrize("make,shape,message", [(Linear, (2, 3), "vector"), (Conv1x1, (), "channel")])
def test_invalid_shapes_are_rejected(make, shape, message):
    with pytest.raises(ValueError, match=message):
        make(shape)
