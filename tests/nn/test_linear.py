import math

import pytest
import torch
import torch.nn.functional as F

import survae_dsl
from survae_dsl.nn.linear import Conv1x1, Linear, random_rotation_lu
from survae_dsl.train.checkpoints import restore
from survae_dsl.train.errors import TrainError

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
# What loading a state dict saved before issue 17 (lower, upper, log_s) must say.
OLD_LAYOUT_MESSAGE = r"older survae-dsl whose `linear`/`conv1x1` stored 2·D²\+D numbers"


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
    assert [(name, tuple(p.shape)) for name, p in layer.named_parameters()] == [("lu", (3, 3))]
    assert list(layer.state_dict()) == ["lu", "perm", "inverse_perm", "sign"]
    assert layer.perm.dtype == torch.long and layer.double().sign.dtype == torch.float64
    assert sorted(layer.perm.tolist()) == [0, 1, 2]


@pytest.mark.parametrize("make,shape", LAYERS, ids=IDS)
def test_the_trainable_state_is_exactly_d_squared_numbers(make, shape):
    layer = make(shape)
    channels = shape[0]
    assert sum(p.numel() for p in layer.parameters()) == channels * channels
    assert set(layer.state_dict()) == {"lu", "perm", "inverse_perm", "sign"}


@pytest.mark.parametrize("make,shape", LAYERS, ids=IDS)
def test_gradient_reaches_exactly_d_squared_entries(make, shape):
    layer = _perturbed(make, shape)
    z, ldj = layer(torch.randn(3, *shape, dtype=torch.float64))
    (torch.randn_like(z) * z).sum().add(ldj.sum()).backward()
    grads = [p.grad for p in layer.parameters()]
    assert all(g is not None for g in grads)
    channels = shape[0]
    # Every stored number is used: each one's gradient is nonzero (a random cotangent).
    assert sum(int((g != 0).sum()) for g in grads) == channels * channels


@pytest.mark.parametrize("make,shape", LAYERS, ids=IDS)
def test_the_packed_matrix_assembles_w(make, shape):
    """W = P·L·(U + diag(sign·exp(diag lu))) built by hand from ``lu``; slogdet of it is the ldj."""
    layer = _perturbed(make, shape)
    lu, channels = layer.lu.detach(), shape[0]
    lower = torch.tril(lu, -1) + torch.eye(channels, dtype=torch.float64)
    upper = torch.triu(lu, 1) + torch.diag(layer.sign * torch.exp(torch.diagonal(lu)))
    weight = torch.eye(channels, dtype=torch.float64)[layer.perm] @ lower @ upper
    torch.testing.assert_close(layer.weight(), weight)
    torch.testing.assert_close(_matrix(layer), weight)
    sign, logabsdet = torch.linalg.slogdet(weight)
    _, ldj = layer(torch.randn(2, *shape, dtype=torch.float64))
    torch.testing.assert_close(ldj, (math.prod(shape[1:]) * logabsdet).expand(2))
    assert sign != 0
    x = torch.randn(4, *shape, dtype=torch.float64)
    torch.testing.assert_close(layer.inverse(layer(x)[0]), x)


def _old_factors(channels, seed):
    """The pre-issue-17 parameters, as the old layer built them: full lower, full upper, log_s."""
    _perm, lower, upper, diagonal = random_rotation_lu(channels, seed)
    dtype = torch.get_default_dtype()
    return (
        torch.tril(lower, -1).to(dtype),
        torch.triu(upper, 1).to(dtype),
        torch.log(torch.abs(diagonal)).to(dtype),
    )


@pytest.mark.parametrize("make,shape", LAYERS, ids=IDS)
def test_a_fresh_layer_is_the_same_matrix_as_the_old_layout_built(make, shape):
    """Same seed, same float32 factors: packing them changed no number of W."""
    layer = make(shape, seed=5)
    lower, upper, log_s = _old_factors(shape[0], seed=5)
    torch.testing.assert_close(layer.lu.detach(), lower + upper + torch.diag(log_s), rtol=0, atol=0)
    old_weight = ((lower + torch.eye(shape[0])) @ (upper + torch.diag(layer.sign * torch.exp(log_s))))[layer.perm]
    torch.testing.assert_close(layer.weight().detach(), old_weight, rtol=0, atol=0)


def _old_state_dict(layer, prefix=""):
    """A state dict as the old layer wrote it: keys lower, upper (C, C), log_s (C,) and the buffers."""
    channels = layer.shape[0]
    lower, upper, log_s = _old_factors(channels, layer.seed)
    state = {"lower": lower, "upper": upper, "log_s": log_s}
    state |= {name: layer.state_dict()[name].clone() for name in ("perm", "inverse_perm", "sign")}
    assert sum(v.numel() for k, v in state.items() if k in ("lower", "upper", "log_s")) == 2 * channels**2 + channels
    return {prefix + key: value for key, value in state.items()}


@pytest.mark.parametrize("make,shape", [(Linear, (3,)), (Conv1x1, (12, 2, 2))], ids=["linear", "conv1x1"])
@pytest.mark.parametrize("strict", [True, False])
def test_an_old_layout_state_dict_is_refused_with_a_clear_message(make, shape, strict):
    layer = make(shape, seed=2)
    before = layer.lu.detach().clone()
    with pytest.raises(RuntimeError, match=OLD_LAYOUT_MESSAGE) as info:
        layer.load_state_dict(_old_state_dict(layer), strict=strict)
    assert "cannot be loaded" in str(info.value) and "Retrain" in str(info.value)
    assert "size mismatch" not in str(info.value) and "Missing key" not in str(info.value)
    assert torch.equal(layer.lu, before)


LINEAR_MODEL = """
model Vectors {
    input x: real[3]
    h = linear(x)
    h = linear(h)
    h ~ normal()
}
"""


def _old_model_state_dict(model):
    """The compiled model's state dict with every `linear` written in the old layout."""
    state = model.state_dict()
    for name, module in model.named_modules():
        if isinstance(module, Linear):
            prefix = name + "."
            state = {key: value for key, value in state.items() if not key.startswith(prefix)}
            state |= _old_state_dict(module, prefix)
    return state


def test_an_old_checkpoint_of_a_compiled_model_with_linear_is_refused():
    model = survae_dsl.compile_source(LINEAR_MODEL, filename="vectors.survae")["Vectors"]()
    assert sum(p.numel() for p in model.parameters()) == 2 * 3 * 3 + 2 * 3  # two lu, normal's loc and log_scale
    old = _old_model_state_dict(model)
    assert "linear_1.lower" in old and "linear_1.lu" not in old
    with pytest.raises(RuntimeError, match=OLD_LAYOUT_MESSAGE) as info:
        model.load_state_dict(old)
    assert "`linear_1`" in str(info.value) and "cannot be loaded" in str(info.value)


def test_resuming_training_from_an_old_checkpoint_says_why():
    model = survae_dsl.compile_source(LINEAR_MODEL, filename="vectors.survae")["Vectors"]()
    optimizer = torch.optim.Adam(model.parameters())
    checkpoint = {"model": _old_model_state_dict(model), "optimizer": optimizer.state_dict()}
    with pytest.raises(TrainError, match=OLD_LAYOUT_MESSAGE):
        restore(checkpoint, model, optimizer)


def test_the_new_layout_round_trips_through_a_state_dict():
    first = _perturbed(Conv1x1, (3, 2))
    second = Conv1x1((3, 2), seed=9).double()
    second.load_state_dict(first.state_dict())
    x = torch.randn(2, 3, 2, dtype=torch.float64)
    torch.testing.assert_close(second(x), first(x))


def test_gradients_reach_every_factor():
    layer = _perturbed(Linear, (4,))
    z, ldj = layer(torch.randn(3, 4, dtype=torch.float64))
    (z.sum() + ldj.sum()).backward()
    assert torch.tril(layer.lu.grad, -1).abs().sum() > 0
    assert torch.triu(layer.lu.grad, 1).abs().sum() > 0
    assert torch.diagonal(layer.lu.grad).abs().sum() > 0


@pytest.mark.parametrize("make,shape,message", [(Linear, (2, 3), "vector"), (Conv1x1, (), "channel")])
def test_invalid_shapes_are_rejected(make, shape, message):
    with pytest.raises(ValueError, match=message):
        make(shape)
