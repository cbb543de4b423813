import pytest
import torch
import torch.nn.functional as F

import survae_dsl.nn as snn
from survae_dsl.nn.structural import (
    Concat,
    Flatten,
    Reshape,
    Shuffle,
    Split,
    Squeeze2d,
    Transpose,
    Unsqueeze2d,
)

from .helpers import jacobian_log_det


@pytest.mark.parametrize("shape,dim", [((4,), 0), ((2, 3), 0), ((2, 3), 1)])
def test_reverse_round_trip_and_ldj(shape, dim):
    layer = snn.Reverse(shape, dim=dim).double()
    x = torch.randn(3, *shape, dtype=torch.float64)
    z, ldj = layer(x)
    assert torch.equal(z, x.flip(dim + 1))
    assert torch.equal(layer.inverse(z), x)
    torch.testing.assert_close(ldj, jacobian_log_det(lambda v: layer(v)[0], x))


def test_reverse_rejects_a_missing_axis():
    with pytest.raises(ValueError, match="dim"):
        snn.Reverse((4,), dim=1)


# ----------------------------------------------------------------------------------------------
# Shuffle, Transpose, Squeeze2d / Unsqueeze2d, Reshape / Flatten, Split / Concat


def _check_permutation_layer(layer, x):
    """Round trip exact, ldj 0 = log|det J|, and the output holds the same values."""
    z, ldj = layer(x)
    assert torch.equal(layer.inverse(z), x)
    assert torch.equal(ldj, torch.zeros(x.shape[0], dtype=torch.float64))
    assert torch.equal(torch.sort(z.reshape(-1)).values, torch.sort(x.reshape(-1)).values)
    torch.testing.assert_close(ldj, jacobian_log_det(lambda v: layer(v)[0].reshape(v.shape), x))
    return z


@pytest.mark.parametrize("shape,dim", [((5,), 0), ((2, 6), 1), ((3, 2, 2), 0)])
def test_shuffle_round_trip_and_ldj(shape, dim):
    layer = Shuffle(shape, dim=dim, seed=1).double()
    x = torch.randn(3, *shape, dtype=torch.float64)
    z = _check_permutation_layer(layer, x)
    assert torch.equal(z, x.index_select(dim + 1, layer.perm))


def test_shuffle_is_fixed_by_its_seed():
    first, again = Shuffle((10,), seed=4), Shuffle((10,), seed=4)
    other = Shuffle((10,), seed=5)
    assert torch.equal(first.perm, again.perm)
    assert not torch.equal(first.perm, other.perm)
    assert sorted(first.perm.tolist()) == list(range(10))
    torch.manual_seed(99)  # the global generator plays no part
    assert torch.equal(Shuffle((10,), seed=4).perm, first.perm)
    assert "perm" in first.state_dict()


@pytest.mark.parametrize("shape,dims", [((2, 3), (1, 0)), ((2, 3, 4), (2, 0, 1)), ((2, 3, 4), (0, 2, 1)), ((4,), (0,))])
def test_transpose_permutes_the_axes(shape, dims):
    layer = Transpose(shape, dims).double()
    x = torch.randn(3, *shape, dtype=torch.float64)
    z, ldj = layer(x)
    assert torch.equal(z, x.permute(0, *(d + 1 for d in dims)))
    assert z.shape[1:] == layer.out_shape == tuple(shape[d] for d in dims)
    assert torch.equal(layer.inverse(z), x)
    torch.testing.assert_close(ldj, jacobian_log_det(lambda v: layer(v)[0].reshape(v.shape), x))


@pytest.mark.parametrize("dims", [(0, 0), (1,), (0, 2)])
def test_transpose_rejects_a_non_permutation(dims):
    with pytest.raises(ValueError, match="permutation"):
        Transpose((2, 3), dims)


@pytest.mark.parametrize("shape,factor", [((1, 4, 4), 2), ((3, 4, 6), 2), ((2, 6, 3), 3), ((2, 3, 3), 1)])
def test_squeeze2d_matches_pixel_unshuffle(shape, factor):
    layer = Squeeze2d(shape, factor=factor).double()
    x = torch.randn(2, *shape, dtype=torch.float64)
    z, ldj = layer(x)
    assert torch.equal(z, F.pixel_unshuffle(x, factor))
    assert z.shape[1:] == layer.out_shape
    assert torch.equal(layer.inverse(z), x)
    assert torch.equal(ldj, torch.zeros(2, dtype=torch.float64))


def test_squeeze2d_puts_patch_offset_i_j_in_channel_c_f2_plus_i_f_plus_j():
    x = torch.arange(2 * 4 * 4, dtype=torch.float64).reshape(1, 2, 4, 4)
    z, _ = Squeeze2d((2, 4, 4)).double()(x)
    for c, i, j, row, col in [(0, 0, 0, 0, 0), (1, 1, 0, 1, 1), (0, 1, 1, 0, 1), (1, 0, 1, 1, 0)]:
        assert z[0, c * 4 + i * 2 + j, row, col] == x[0, c, row * 2 + i, col * 2 + j]


def test_squeeze2d_ldj_is_the_log_det_of_its_permutation():
    layer = Squeeze2d((1, 4, 4)).double()
    x = torch.randn(2, 1, 4, 4, dtype=torch.float64)
    _check_permutation_layer(layer, x)


@pytest.mark.parametrize("shape,factor", [((4, 2, 3), 2), ((9, 1, 2), 3)])
def test_unsqueeze2d_matches_pixel_shuffle_and_inverts_squeeze2d(shape, factor):
    layer = Unsqueeze2d(shape, factor=factor).double()
    x = torch.randn(2, *shape, dtype=torch.float64)
    z, ldj = layer(x)
    assert torch.equal(z, F.pixel_shuffle(x, factor))
    assert z.shape[1:] == layer.out_shape
    assert torch.equal(layer.inverse(z), x)
    assert torch.equal(Squeeze2d(layer.out_shape, factor=factor).double()(z)[0], x)
    assert torch.equal(ldj, torch.zeros(2, dtype=torch.float64))


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda: Squeeze2d((1, 3, 4)), "divisible"),
        (lambda: Squeeze2d((4, 4)), "C, H, W"),
        (lambda: Unsqueeze2d((3, 2, 2)), "divisible"),
        (lambda: Squeeze2d((1, 4, 4), factor=0), "factor"),
    ],
)
def test_squeeze_shapes_are_checked(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("shape,target", [((2, 3), (3, 2)), ((2, 3), (6,)), ((12,), (2, 3, 2))])
def test_reshape_round_trip(shape, target):
    layer = Reshape(shape, target).double()
    x = torch.randn(3, *shape, dtype=torch.float64)
    z, ldj = layer(x)
    assert torch.equal(z, x.reshape(3, *target))
    assert torch.equal(layer.inverse(z), x)
    torch.testing.assert_close(ldj, jacobian_log_det(lambda v: layer(v)[0].reshape(v.shape), x))


def test_flatten_is_row_major():
    layer = Flatten((2, 3, 2)).double()
    x = torch.randn(2, 2, 3, 2, dtype=torch.float64)
    z, ldj = layer(x)
    assert torch.equal(z, x.reshape(2, 12)) and layer.target == (12,)
    assert torch.equal(layer.inverse(z), x)
    assert torch.equal(ldj, torch.zeros(2, dtype=torch.float64))


def test_reshape_needs_the_same_number_of_entries():
    with pytest.raises(ValueError, match="reshape"):
        Reshape((2, 3), (4,))


@pytest.mark.parametrize(
    "shape,dim,sizes,expected",
    [
        ((5,), 0, None, (3, 2)),
        ((4,), 0, None, (2, 2)),
        ((2, 7), 1, None, (4, 3)),
        ((6, 2), 0, (1, 2, 3), (1, 2, 3)),
    ],
)
def test_split_and_concat_round_trip(shape, dim, sizes, expected):
    split = Split(shape, dim=dim, sizes=sizes).double()
    x = torch.randn(3, *shape, dtype=torch.float64)
    parts, ldj = split(x)
    assert isinstance(parts, tuple) and len(parts) == len(expected)
    assert tuple(part.shape[dim + 1] for part in parts) == split.sizes == expected
    assert tuple(part.shape[1:] for part in parts) == split.out_shapes
    offset = 0
    for part, size in zip(parts, expected, strict=True):
        assert torch.equal(part, x.narrow(dim + 1, offset, size))
        offset += size
    assert torch.equal(split.inverse(*parts), x)
    assert torch.equal(ldj, torch.zeros(3, dtype=torch.float64))
    # Concatenating the parts in order is the identity: |det J| = 1 for the pair of maps.
    torch.testing.assert_close(
        ldj, jacobian_log_det(lambda v: torch.cat([p.flatten(1) for p in split(v)[0]], dim=1).reshape(v.shape), x)
    )

    concat = Concat(split.out_shapes, dim=dim).double()
    assert concat.shape == tuple(shape)
    z, concat_ldj = concat(*parts)
    assert torch.equal(z, x)
    assert torch.equal(concat_ldj, torch.zeros(3, dtype=torch.float64))
    back = concat.inverse(z)
    assert isinstance(back, tuple) and all(torch.equal(a, b) for a, b in zip(back, parts, strict=True))


def test_concat_of_different_widths():
    concat = Concat(((2, 3), (2, 1), (2, 2)), dim=1).double()
    a, b, c = (torch.randn(2, 2, n, dtype=torch.float64) for n in (3, 1, 2))
    z, _ = concat(a, b, c)
    assert concat.shape == (2, 6)
    assert torch.equal(z, torch.cat([a, b, c], dim=2))
    assert all(torch.equal(p, q) for p, q in zip(concat.inverse(z), (a, b, c), strict=True))


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda: Split((1,)), "at least 2"),
        (lambda: Split((4,), sizes=(1, 2)), "add up"),
        (lambda: Split((4,), sizes=(0, 4)), "positive"),
        (lambda: Split((4,), dim=1), "dim"),
        (lambda: Concat(((2, 3), (3, 3)), dim=1), "agree"),
        (lambda: Concat(((2, 3), (2,)), dim=0), "agree"),
        (lambda: Concat((), dim=0), "at least one"),
    ],
)
def test_split_and_concat_arguments_are_checked(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_split_and_concat_count_their_parts():
    with pytest.raises(ValueError, match="2 parts"):
        Split((4,)).inverse(torch.randn(1, 4))
    with pytest.raises(ValueError, match="2 inputs"):
        Concat(((2,), (2,)))(torch.randn(1, 2))
