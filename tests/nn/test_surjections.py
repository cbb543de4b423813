import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import distributions as D

import survae_dsl.nn as snn
from survae_dsl.nn.distributions import HalfNormal, LogitNormal, Normal, StandardNormal
from survae_dsl.nn.functional import int_context
from survae_dsl.nn.nets import MLP
from survae_dsl.nn.surjections import Abs, Augment, Dequantize, MaxPool, Slice, Sort

from .helpers import compiled_fullgraph, random_mlp

F64 = torch.float64


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


def test_kinds_of_the_new_surjections():
    assert MaxPool.kind == Sort.kind == Slice.kind == "inference_surjective"
    assert Augment.kind == "generative_surjective"


def _assert_compiled_forward_matches(layer, *args, **kwargs):
    """``torch.compile(layer.forward, fullgraph=True)`` gives eager's output from the same
    global seed (a ``torch.Generator`` argument cannot be traced, the global stream can)."""
    torch.manual_seed(11)
    eager = layer.forward(*args, **kwargs)
    compiled = compiled_fullgraph(layer.forward)
    torch.manual_seed(11)
    traced = compiled(*args, **kwargs)
    for expected, actual in zip(eager, traced, strict=True):
        torch.testing.assert_close(actual, expected)


def _sum(values):
    return values.reshape(values.shape[0], -1).sum(dim=1)


# ---------------------------------------------------------------- abs with a learned sign


def _learned_abs(shape):
    d = math.prod(shape)
    return Abs(shape, sign="learned", net=random_mlp(d, d, scale=1.0)).double()


@pytest.mark.parametrize("shape", [(3,), (2, 3)])
def test_learned_abs_contribution_is_the_sign_log_likelihood(shape):
    layer = _learned_abs(shape)
    x = torch.randn(5, *shape, dtype=F64)
    z, ldj = layer(x)
    assert torch.equal(z, x.abs())
    logits = layer.net(x.abs()).reshape(x.shape)
    positive = 1.0 / (1.0 + torch.exp(-logits))
    expected = _sum(torch.log(torch.where(x >= 0, positive, 1.0 - positive)))
    torch.testing.assert_close(ldj, expected)
    assert not torch.allclose(ldj, torch.full_like(ldj, -math.prod(shape) * math.log(2.0)))


@pytest.mark.parametrize("shape", [(3,), (2, 3)])
def test_learned_abs_forward_of_inverse_is_the_identity_on_the_image(shape):
    layer = _learned_abs(shape)
    z = torch.rand(6, *shape, dtype=F64)
    x = layer.inverse(z, generator=_generator())
    out, _ = layer(x)
    assert torch.equal(out, z) and torch.equal(x.abs(), z)
    assert torch.equal(x, layer.inverse(z, generator=_generator()))


def test_a_fresh_learned_abs_is_the_uniform_sign():
    layer = Abs((2, 3), sign="learned", net=MLP(6, 6)).double()
    _, ldj = layer(torch.randn(4, 2, 3, dtype=F64))
    torch.testing.assert_close(ldj, torch.full((4,), -6 * math.log(2.0), dtype=F64), rtol=0, atol=1e-15)


def test_learned_abs_draws_signs_with_the_modelled_probability():
    # A single linear map: logit = 2·z − 1, so z = 0.25 and z = 1 give P(+) = σ(−0.5), σ(1).
    net = MLP(1, 1, hidden=())
    with torch.no_grad():
        net.layers[-1].weight.fill_(2.0)
        net.layers[-1].bias.fill_(-1.0)
    layer = Abs((1,), sign="learned", net=net).double()
    n = 8000
    for value, logit in ((0.25, -0.5), (1.0, 1.0)):
        x = layer.inverse(torch.full((n, 1), value, dtype=F64), generator=_generator(4))
        p = 1.0 / (1.0 + math.exp(-logit))
        assert abs((x > 0).double().mean().item() - p) < 4.0 * math.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize(
    "kwargs,message",
    [({"sign": "learned"}, "net"), ({"net": MLP(2, 2)}, "net"), ({"sign": "random"}, "sign")],
)
def test_abs_sign_and_net_must_agree(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Abs((2,), **kwargs)


def test_learned_abs_compiles_without_graph_breaks():
    _assert_compiled_forward_matches(_learned_abs((2, 3)), torch.randn(4, 2, 3, dtype=F64))


# ---------------------------------------------------------------- variational dequantization


def test_int_context_gives_the_cell_centres_in_the_module_dtype():
    for k in (2, 5, 256):
        x = torch.arange(k)
        centres = int_context(x, k, dtype=F64)
        assert centres.dtype == F64
        expected = torch.tensor([(2 * i + 1) / k - 1 for i in range(k)], dtype=F64)
        torch.testing.assert_close(centres, expected, rtol=0, atol=1e-15)
        torch.testing.assert_close(centres, -centres.flip(0), rtol=0, atol=1e-15)
    assert int_context(torch.tensor([1.0], dtype=F64), 4).dtype == F64
    assert int_context(torch.tensor([1]), 4, dtype=torch.float32).dtype == torch.float32


def _variational(shape, num_classes, net=None):
    d = math.prod(shape)
    net = random_mlp(d, 2 * d) if net is None else net
    return Dequantize(shape, num_classes=num_classes, encoder=LogitNormal(shape, net=net)).double()


def _logit_normal_log_density(u, loc, log_scale):
    """log q(u) of sigmoid(N(loc, σ²)) by change of variables, summed per example."""
    normal = D.Normal(loc, log_scale.exp()).log_prob(torch.log(u) - torch.log1p(-u))
    return _sum(normal - torch.log(u) - torch.log1p(-u))


@pytest.mark.parametrize("fresh", [False, True])
@pytest.mark.parametrize("num_classes", [2, 5, 256])
@pytest.mark.parametrize("shape", [(3,), (2, 3)])
def test_variational_dequantize_round_trip_and_contribution(shape, num_classes, fresh):
    d = math.prod(shape)
    layer = _variational(shape, num_classes, MLP(d, 2 * d) if fresh else None)
    x = torch.randint(0, num_classes, (6, *shape))
    z, ldj = layer(x, generator=_generator())
    assert z.dtype == F64 and ((z > 0) & (z < 1)).all()
    recovered = layer.inverse(z)
    assert recovered.dtype == torch.long and torch.equal(recovered, x)
    # The noise the encoder drew, and its density given the cell centres (2x + 1)/K − 1.
    u = z * num_classes - x
    centres = (2.0 * x.double() + 1.0) / num_classes - 1.0
    params = layer.encoder.net(centres).reshape(6, 2, *shape)
    log_q = _logit_normal_log_density(u, params[:, 0], params[:, 1])
    expected = -d * math.log(num_classes) - log_q
    torch.testing.assert_close(ldj, expected, rtol=1e-7, atol=1e-7)
    if fresh:  # a zero net: the standard logit-normal
        torch.testing.assert_close(log_q, _logit_normal_log_density(u, torch.zeros(()), torch.zeros(())))


def test_variational_dequantize_follows_the_generator():
    layer = _variational((3,), 4)
    x = torch.randint(0, 4, (2, 3))
    first, second = layer(x, generator=_generator(5)), layer(x, generator=_generator(5))
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])


def test_dequantize_encoder_must_match_the_shape():
    with pytest.raises(ValueError, match="encoder"):
        Dequantize((3,), num_classes=4, encoder=LogitNormal((2,)))


def test_variational_dequantize_compiles_without_graph_breaks():
    _assert_compiled_forward_matches(_variational((2, 3), 5), torch.randint(0, 5, (4, 2, 3)))


# ---------------------------------------------------------------- max pool

POOL_LAYOUTS = [((2, 4), 2), ((1, 6), 3), ((2, 4, 6), 2), ((1, 3, 3), 3)]


def _hand_pool(x, k):
    """(pooled, gaps) by explicit loops: for each window in row-major order, the maximum and
    max − every other entry (skipping the first maximum), channel c·(n − 1) + j."""
    batch, channels, *spatial = x.shape
    pooled_spatial = [size // k for size in spatial]
    n = k ** len(spatial)
    pooled = torch.empty(batch, channels, *pooled_spatial, dtype=x.dtype)
    gaps = torch.empty(batch, channels * (n - 1), *pooled_spatial, dtype=x.dtype)
    for b, c in itertools.product(range(batch), range(channels)):
        for cell in itertools.product(*(range(size) for size in pooled_spatial)):
            entries = [
                x[(b, c, *(i * k + o for i, o in zip(cell, offset, strict=True)))].item()
                for offset in itertools.product(range(k), repeat=len(spatial))
            ]
            top = max(entries)
            skip = entries.index(top)
            others = [top - value for index, value in enumerate(entries) if index != skip]
            pooled[(b, c, *cell)] = top
            for j, gap in enumerate(others):
                gaps[(b, c * (n - 1) + j, *cell)] = gap
    return pooled, gaps


def _gap_shape(shape, k):
    n = k ** (len(shape) - 1)
    return (shape[0] * (n - 1), *(size // k for size in shape[1:]))


@pytest.mark.parametrize("conditional", [False, True])
@pytest.mark.parametrize("shape,k", POOL_LAYOUTS)
def test_max_pool_contribution_is_the_position_and_gap_density(shape, k, conditional):
    gap_shape = _gap_shape(shape, k)
    pooled_numel = math.prod(shape) // k ** (len(shape) - 1)
    if conditional:
        decoder = HalfNormal(gap_shape, net=random_mlp(pooled_numel, math.prod(gap_shape)))
    else:
        decoder = HalfNormal(gap_shape)
        with torch.no_grad():
            decoder.log_scale.normal_(0.0, 0.5)
    layer = MaxPool(shape, kernel=k, decoder=decoder).double()
    x = torch.randn(3, *shape, dtype=F64)
    z, ldj = layer(x)
    pooled, gaps = _hand_pool(x, k)
    assert torch.equal(z, pooled)
    if conditional:
        log_scale = decoder.net(pooled).reshape(3, *gap_shape)
    else:
        log_scale = decoder.log_scale.detach()
    window = k ** (len(shape) - 1)
    expected = -pooled_numel * math.log(window) + _sum(D.HalfNormal(log_scale.exp()).log_prob(gaps))
    torch.testing.assert_close(ldj, expected)


@pytest.mark.parametrize("shape,k", POOL_LAYOUTS)
def test_max_pool_forward_of_inverse_is_the_identity(shape, k):
    layer = MaxPool(shape, kernel=k).double()
    z = torch.randn(4, shape[0], *(size // k for size in shape[1:]), dtype=F64)
    x = layer.inverse(z, generator=_generator())
    assert x.shape == (4, *shape)
    out, ldj = layer(x)
    assert torch.equal(out, z) and torch.isfinite(ldj).all()
    assert torch.equal(x, layer.inverse(z, generator=_generator()))


def test_max_pool_default_decoder_is_a_standard_half_normal():
    layer = MaxPool((1, 2, 2), kernel=2).double()
    x = torch.randn(5, 1, 2, 2, dtype=F64)
    _, ldj = layer(x)
    _, gaps = _hand_pool(x, 2)
    torch.testing.assert_close(ldj, -math.log(4.0) + _sum(D.HalfNormal(1.0).log_prob(gaps)))


def test_max_pool_inverse_puts_the_maximum_at_a_uniform_position():
    layer = MaxPool((1, 2, 2), kernel=2).double()
    n = 8000
    x = layer.inverse(torch.zeros(n, 1, 1, 1, dtype=F64), generator=_generator(2))
    positions = x.reshape(n, 4).argmax(dim=1)
    sd = math.sqrt(n * 0.25 * 0.75)
    for position in range(4):
        assert abs((positions == position).sum().item() - n / 4) < 4 * sd


@settings(max_examples=20, deadline=None)
@given(
    channels=st.integers(1, 3),
    k=st.integers(2, 3),
    cells=st.lists(st.integers(1, 3), min_size=1, max_size=2),
)
def test_max_pool_on_any_layout(channels, k, cells):
    shape = (channels, *(c * k for c in cells))
    layer = MaxPool(shape, kernel=k).double()
    x = torch.randn(2, *shape, dtype=F64)
    z, ldj = layer(x)
    pooled, _ = _hand_pool(x, k)
    assert torch.equal(z, pooled) and torch.isfinite(ldj).all()
    assert torch.equal(layer(layer.inverse(z))[0], z)


@pytest.mark.parametrize(
    "shape,kwargs,message",
    [
        ((4,), {}, r"\[C, L\]"),
        ((1, 5), {}, "divide"),
        ((1, 4), {"kernel": 1}, "kernel"),
        ((1, 4), {"decoder": HalfNormal((2, 2))}, "decoder"),
    ],
)
def test_max_pool_rejects_bad_layouts(shape, kwargs, message):
    with pytest.raises(ValueError, match=message):
        MaxPool(shape, **kwargs)


def test_max_pool_compiles_without_graph_breaks():
    decoder = HalfNormal((3, 2, 3), net=random_mlp(6, 18))
    layer = MaxPool((1, 4, 6), kernel=2, decoder=decoder).double()
    _assert_compiled_forward_matches(layer, torch.randn(4, 1, 4, 6, dtype=F64))


# ---------------------------------------------------------------- sort

SORT_LAYOUTS = [((5,), 0, 0), ((2, 4), 1, 0), ((3, 4), 1, 2), ((1, 1), 1, 0)]


@pytest.mark.parametrize("shape,dim,key", SORT_LAYOUTS)
def test_sort_sorts_by_the_key_and_contributes_minus_log_n_factorial(shape, dim, key):
    layer = Sort(shape, dim=dim, key=key).double()
    x = torch.randn(4, *shape, dtype=F64)
    z, ldj = layer(x)
    for b in range(4):
        if len(shape) == 1:
            expected = sorted(x[b].tolist())
        else:
            columns = sorted(x[b].T.tolist(), key=lambda column: column[key])
            expected = [list(row) for row in zip(*columns, strict=True)]
        assert z[b].tolist() == expected
    n = shape[-1]
    torch.testing.assert_close(ldj, torch.full((4,), -math.log(math.factorial(n)), dtype=F64))


@pytest.mark.parametrize("shape,dim,key", SORT_LAYOUTS)
def test_sort_forward_of_inverse_is_the_identity_on_the_image(shape, dim, key):
    layer = Sort(shape, dim=dim, key=key).double()
    z, _ = layer(torch.randn(5, *shape, dtype=F64))
    x = layer.inverse(z, generator=_generator())
    out, _ = layer(x)
    assert torch.equal(out, z)
    columns = x.reshape(5, -1, shape[-1]).transpose(1, 2).tolist()
    assert [sorted(c) for c in columns] == [sorted(c) for c in z.reshape(5, -1, shape[-1]).transpose(1, 2).tolist()]


def test_sort_inverse_draws_a_uniform_permutation():
    layer = Sort((3,), dim=0).double()
    n = 6000
    x = layer.inverse(torch.arange(3, dtype=F64).expand(n, 3), generator=_generator(3))
    counts = {perm: 0 for perm in itertools.permutations(range(3))}
    for row in x.long().tolist():
        counts[tuple(row)] += 1
    sd = math.sqrt(n * (1 / 6) * (5 / 6))
    assert all(abs(count - n / 6) < 4 * sd for count in counts.values())


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 7), features=st.integers(0, 3), data=st.data())
def test_sort_on_any_layout(n, features, data):
    shape = (n,) if features == 0 else (features, n)
    key = 0 if features == 0 else data.draw(st.integers(0, features - 1))
    layer = Sort(shape, dim=len(shape) - 1, key=key).double()
    z, _ = layer(torch.randn(3, *shape, dtype=F64))
    keys = z if features == 0 else z[:, key]
    assert (keys[:, 1:] >= keys[:, :-1]).all()
    assert torch.equal(layer(layer.inverse(z))[0], z)


@pytest.mark.parametrize(
    "shape,dim,key,message",
    [((4,), 1, 0, "dim 0"), ((2, 4), 0, 0, "dim 1"), ((2, 4), 1, 2, "key"), ((2, 2, 2), 1, 0, "shape")],
)
def test_sort_rejects_bad_layouts(shape, dim, key, message):
    with pytest.raises(ValueError, match=message):
        Sort(shape, dim=dim, key=key)


def test_sort_compiles_without_graph_breaks():
    _assert_compiled_forward_matches(Sort((2, 5), dim=1, key=1).double(), torch.randn(4, 2, 5, dtype=F64))


# ---------------------------------------------------------------- slice

SLICE_LAYOUTS = [((4,), 1, 0), ((4,), 3, 0), ((2, 3), 1, 0), ((2, 3), 2, 1)]


def _dropped_shape(shape, keep, dim):
    return shape[:dim] + (shape[dim] - keep,) + shape[dim + 1 :]


@pytest.mark.parametrize("shape,keep,dim", SLICE_LAYOUTS)
def test_slice_contribution_is_the_decoder_density_of_the_dropped_part(shape, keep, dim):
    dropped_shape = _dropped_shape(shape, keep, dim)
    kept_numel = math.prod(shape) - math.prod(dropped_shape)
    decoder = Normal(dropped_shape, net=random_mlp(kept_numel, 2 * math.prod(dropped_shape)))
    layer = Slice(shape, keep=keep, dim=dim, decoder=decoder).double()
    x = torch.randn(4, *shape, dtype=F64)
    z, ldj = layer(x)
    assert torch.equal(z, x.narrow(dim + 1, 0, keep))
    dropped = x.narrow(dim + 1, keep, shape[dim] - keep)
    params = decoder.net(z).reshape(4, 2, *dropped_shape)
    expected = _sum(D.Normal(params[:, 0], params[:, 1].exp()).log_prob(dropped))
    torch.testing.assert_close(ldj, expected)


@pytest.mark.parametrize("shape,keep,dim", SLICE_LAYOUTS)
def test_slice_default_decoder_and_forward_of_inverse(shape, keep, dim):
    layer = Slice(shape, keep=keep, dim=dim).double()
    assert isinstance(layer.decoder, StandardNormal)
    z = torch.randn(5, *shape[:dim], keep, *shape[dim + 1 :], dtype=F64)
    x = layer.inverse(z, generator=_generator())
    assert x.shape == (5, *shape)
    out, ldj = layer(x)
    assert torch.equal(out, z)
    dropped = x.narrow(dim + 1, keep, shape[dim] - keep)
    torch.testing.assert_close(ldj, _sum(D.Normal(0.0, 1.0).log_prob(dropped)))


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"keep": 0}, "keep"),
        ({"keep": 4}, "keep"),
        ({"keep": 1, "dim": 1}, "dim"),
        ({"keep": 1, "decoder": StandardNormal((2,))}, "decoder"),
    ],
)
def test_slice_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Slice((4,), **kwargs)


def test_slice_compiles_without_graph_breaks():
    layer = Slice((2, 3), keep=1, dim=1, decoder=Normal((2, 2), net=random_mlp(2, 8))).double()
    _assert_compiled_forward_matches(layer, torch.randn(4, 2, 3, dtype=F64))


# ---------------------------------------------------------------- augment

AUGMENT_LAYOUTS = [((3,), 2, 0), ((2, 3), 1, 0), ((2, 3), 2, 1)]


def _augment(shape, size, dim):
    noise_shape = _dropped_shape(shape, shape[dim] - size, dim)
    encoder = Normal(noise_shape, net=random_mlp(math.prod(shape), 2 * math.prod(noise_shape)))
    return Augment(shape, size=size, dim=dim, encoder=encoder).double(), noise_shape


@pytest.mark.parametrize("shape,size,dim", AUGMENT_LAYOUTS)
def test_augment_round_trip_and_contribution(shape, size, dim):
    layer, noise_shape = _augment(shape, size, dim)
    x = torch.randn(4, *shape, dtype=F64)
    z, ldj = layer(x, generator=_generator())
    assert z.shape == (4, *_dropped_shape(shape, -size, dim))
    assert torch.equal(layer.inverse(z), x)
    noise = z.narrow(dim + 1, shape[dim], size)
    params = layer.encoder.net(x).reshape(4, 2, *noise_shape)
    expected = -_sum(D.Normal(params[:, 0], params[:, 1].exp()).log_prob(noise))
    torch.testing.assert_close(ldj, expected)


def test_augment_default_encoder_is_standard_normal_and_follows_the_generator():
    layer = Augment((2, 3), size=2, dim=1).double()
    x = torch.randn(4, 2, 3, dtype=F64)
    z, ldj = layer(x, generator=_generator(6))
    assert torch.equal(z, layer(x, generator=_generator(6))[0])
    torch.testing.assert_close(ldj, -_sum(D.Normal(0.0, 1.0).log_prob(z[:, :, 3:])))


@pytest.mark.parametrize(
    "kwargs,message",
    [({"size": 0}, "size"), ({"size": 1, "dim": 1}, "dim"), ({"size": 2, "encoder": StandardNormal((3,))}, "encoder")],
)
def test_augment_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Augment((4,), **kwargs)


def test_augment_compiles_without_graph_breaks():
    layer, _ = _augment((2, 3), 2, 1)
    _assert_compiled_forward_matches(layer, torch.randn(4, 2, 3, dtype=F64))


# ---------------------------------------------------------------- dtypes

NEW_LAYERS = {
    "abs_learned": (lambda: Abs((2, 3), sign="learned", net=MLP(6, 6)), lambda: torch.randn(3, 2, 3)),
    "dequantize_variational": (
        lambda: Dequantize((2, 3), 5, encoder=LogitNormal((2, 3), net=MLP(6, 12))),
        lambda: torch.randint(0, 5, (3, 2, 3)),
    ),
    "max_pool": (lambda: MaxPool((2, 4)), lambda: torch.randn(3, 2, 4)),
    "sort": (lambda: Sort((2, 3)), lambda: torch.randn(3, 2, 3)),
    "slice": (lambda: Slice((2, 3), keep=1), lambda: torch.randn(3, 2, 3)),
    "augment": (lambda: Augment((2, 3), size=1), lambda: torch.randn(3, 2, 3)),
}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", NEW_LAYERS)
def test_new_surjections_compute_in_the_module_dtype(name, dtype):
    make, data = NEW_LAYERS[name]
    layer = make().to(dtype)
    x = data()
    x = x if name == "dequantize_variational" else x.to(dtype)
    z, ldj = layer(x)
    assert z.dtype == dtype and ldj.dtype == dtype and ldj.shape == (3,)
    back = layer.inverse(z, generator=_generator())
    assert back.dtype == (torch.long if name == "dequantize_variational" else dtype)
    assert back.shape == x.shape
