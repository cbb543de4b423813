"""Stochastic layers: vae and stochastic_permutation, as maths in float64."""

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from torch import distributions as D

from survae_dsl.nn.distributions import Bernoulli, Categorical, Normal, StandardNormal
from survae_dsl.nn.nets import MLP
from survae_dsl.nn.stochastic import VAE, StochasticPermutation

from .helpers import random_mlp

F64 = torch.float64


def _generator(seed=1):
    return torch.Generator().manual_seed(seed)


def _sum(values):
    return values.reshape(values.shape[0], -1).sum(dim=1)


def _normal_density(net, context, value, shape):
    """Σ log N(value; loc, exp(log_scale)) with (loc, log_scale) = net(context) read as (B, 2, *shape)."""
    params = net(context).reshape(context.shape[0], 2, *shape)
    return _sum(D.Normal(params[:, 0], params[:, 1].exp()).log_prob(value))


def _assert_compiled_forward_matches(layer, x):
    torch._dynamo.reset()
    compiled = torch.compile(layer.forward, fullgraph=True, backend="eager")
    torch.manual_seed(11)
    expected = layer(x)
    torch.manual_seed(11)
    actual = compiled(x)
    for a, e in zip(actual, expected, strict=True):
        torch.testing.assert_close(a, e)


# ---------------------------------------------------------------- vae

CONTINUOUS = [((3,), (2,)), ((2, 3), (4,)), ((2, 2), (1, 3))]


def _gaussian_vae(shape, latent, fresh=False):
    d, k = math.prod(shape), math.prod(latent)
    make = MLP if fresh else random_mlp
    encoder = Normal(latent, net=make(d, 2 * k))
    decoder = Normal(shape, net=make(k, 2 * d))
    return VAE(shape, latent, encoder=encoder, decoder=decoder).double()


@pytest.mark.parametrize("shape,latent", CONTINUOUS)
def test_vae_contribution_is_decoder_minus_encoder_density(shape, latent):
    layer = _gaussian_vae(shape, latent)
    x = torch.randn(5, *shape, dtype=F64)
    z, ldj = layer(x, generator=_generator())
    assert z.shape == (5, *latent) and ldj.shape == (5,)
    log_p = _normal_density(layer.decoder.net, z, x, shape)
    log_q = _normal_density(layer.encoder.net, x, z, latent)
    torch.testing.assert_close(ldj, log_p - log_q)


def test_a_fresh_vae_uses_standard_normals():
    layer = _gaussian_vae((2, 3), (4,), fresh=True)
    x = torch.randn(5, 2, 3, dtype=F64)
    z, ldj = layer(x)
    expected = _sum(D.Normal(0.0, 1.0).log_prob(x)) - _sum(D.Normal(0.0, 1.0).log_prob(z))
    torch.testing.assert_close(ldj, expected)


def test_vae_follows_the_generator_and_samples_from_the_decoder():
    layer = _gaussian_vae((3,), (2,))
    x = torch.randn(4, 3, dtype=F64)
    first, second = layer(x, generator=_generator(5)), layer(x, generator=_generator(5))
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    z = torch.randn(4000, 2, dtype=F64)
    h = layer.inverse(z, generator=_generator())
    assert h.shape == (4000, 3) and h.dtype == F64
    # h − loc(z) is N(0, σ(z)²): standardised residuals have mean 0 and variance 1.
    params = layer.decoder.net(z).reshape(4000, 2, 3)
    residual = ((h - params[:, 0]) / params[:, 1].exp()).detach()
    assert residual.mean().abs() < 4 / math.sqrt(12000)
    assert abs(residual.var().item() - 1.0) < 4 * math.sqrt(2 / 12000)


@pytest.mark.parametrize("num_classes", [2, 5])
@pytest.mark.parametrize("shape,latent", [((3,), (2,)), ((2, 2), (3,))])
def test_vae_on_integers_conditions_the_encoder_on_cell_centres(shape, latent, num_classes):
    d, k = math.prod(shape), math.prod(latent)
    encoder = Normal(latent, net=random_mlp(d, 2 * k))
    if num_classes == 2:
        decoder = Bernoulli(shape, net=random_mlp(k, d))
    else:
        decoder = Categorical(shape, num_classes, net=random_mlp(k, num_classes * d))
    layer = VAE(shape, latent, encoder=encoder, decoder=decoder, num_classes=num_classes).double()
    x = torch.randint(0, num_classes, (6, *shape))
    z, ldj = layer(x, generator=_generator())
    centres = (2.0 * x.double() + 1.0) / num_classes - 1.0
    log_q = _normal_density(encoder.net, centres, z, latent)
    if num_classes == 2:
        logits = decoder.net(z).reshape(6, *shape)
        log_p = _sum(torch.where(x == 1, F.logsigmoid(logits), F.logsigmoid(-logits)))
    else:
        log_probs = F.log_softmax(decoder.net(z).reshape(6, num_classes, *shape), dim=1)
        log_p = _sum(log_probs.gather(1, x.unsqueeze(1)))
    torch.testing.assert_close(ldj, log_p - log_q)
    samples = layer.inverse(torch.randn(500, *latent, dtype=F64), generator=_generator())
    assert samples.dtype == torch.long and samples.shape == (500, *shape)
    assert samples.min() >= 0 and samples.max() < num_classes
    assert set(samples.unique().tolist()) == set(range(num_classes))


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"encoder": StandardNormal((3,)), "decoder": StandardNormal((3,))}, "encoder"),
        ({"encoder": StandardNormal((2,)), "decoder": StandardNormal((2,))}, "decoder"),
        ({"encoder": StandardNormal((2,)), "decoder": Bernoulli((3,)), "num_classes": 1}, "num_classes"),
    ],
)
def test_vae_rejects_mismatched_parts(kwargs, message):
    with pytest.raises(ValueError, match=message):
        VAE((3,), (2,), **kwargs)


def test_vae_compiles_without_graph_breaks():
    _assert_compiled_forward_matches(_gaussian_vae((2, 3), (4,)), torch.randn(4, 2, 3, dtype=F64))
    encoder = Normal((2,), net=random_mlp(3, 4))
    decoder = Categorical((3,), 4, net=random_mlp(2, 12))
    layer = VAE((3,), (2,), encoder=encoder, decoder=decoder, num_classes=4).double()
    _assert_compiled_forward_matches(layer, torch.randint(0, 4, (4, 3)))


# ---------------------------------------------------------------- stochastic permutation

PERMUTATION_LAYOUTS = [((4,), 0), ((2, 5), 1), ((3, 2), 0), ((2, 3, 4), 2)]


@pytest.mark.parametrize("shape,dim", PERMUTATION_LAYOUTS)
def test_stochastic_permutation_permutes_whole_slices_with_zero_contribution(shape, dim):
    layer = StochasticPermutation(shape, dim=dim).double()
    x = torch.randn(6, *shape, dtype=F64)
    for z in (layer(x, generator=_generator())[0], layer.inverse(x, generator=_generator(2))):
        # Each output slice along dim is one of the input's slices, each used once.
        slices_x = x.movedim(dim + 1, 1).reshape(6, shape[dim], -1)
        slices_z = z.movedim(dim + 1, 1).reshape(6, shape[dim], -1)
        for b in range(6):
            assert sorted(map(tuple, slices_z[b].tolist())) == sorted(map(tuple, slices_x[b].tolist()))
    torch.testing.assert_close(layer(x)[1], torch.zeros(6, dtype=F64), rtol=0, atol=0)


def test_stochastic_permutation_is_uniform_and_follows_the_generator():
    layer = StochasticPermutation((3,), dim=0).double()
    n = 6000
    x = torch.arange(3, dtype=F64).expand(n, 3)
    z, _ = layer(x, generator=_generator(3))
    assert torch.equal(z, layer(x, generator=_generator(3))[0])
    counts = {perm: 0 for perm in itertools.permutations(range(3))}
    for row in z.long().tolist():
        counts[tuple(row)] += 1
    sd = math.sqrt(n * (1 / 6) * (5 / 6))
    assert all(abs(count - n / 6) < 4 * sd for count in counts.values())


def test_stochastic_permutation_rejects_a_bad_dim():
    with pytest.raises(ValueError, match="dim"):
        StochasticPermutation((4,))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_stochastic_layers_compute_in_the_module_dtype(dtype):
    layer = StochasticPermutation((2, 3)).to(dtype)
    z, ldj = layer(torch.randn(3, 2, 3, dtype=dtype))
    assert z.dtype == dtype and ldj.dtype == dtype
    vae = _gaussian_vae((3,), (2,)).to(dtype)
    z, ldj = vae(torch.randn(3, 3, dtype=dtype))
    assert z.dtype == dtype and ldj.dtype == dtype and vae.inverse(z).dtype == dtype
    assert VAE.kind == StochasticPermutation.kind == "stochastic"


def test_stochastic_permutation_compiles_without_graph_breaks():
    _assert_compiled_forward_matches(StochasticPermutation((2, 5)).double(), torch.randn(4, 2, 5, dtype=F64))
