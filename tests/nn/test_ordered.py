"""sorted_to_real: ordered keys ↔ (first key, log gaps), as maths in float64."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from survae_dsl.nn.ordered import SortedToReal, gather_along, random_order, sort_layout
from survae_dsl.nn.surjections import Sort

from .helpers import jacobian_log_det

F64 = torch.float64

LAYOUTS = [((5,), 0, 0), ((2, 4), 1, 0), ((3, 4), 1, 2), ((2, 1), 1, 1)]


def _ordered(shape, dim, key, batch=4):
    """Random data sorted by ``sort`` with the same layout: the inputs sorted_to_real gets."""
    z, _ = Sort(shape, dim=dim, key=key).double()(torch.randn(batch, *shape, dtype=F64))
    return z


def _keys(x, shape, key):
    return x if len(shape) == 1 else x[:, key]


@pytest.mark.parametrize("shape,dim,key", LAYOUTS)
def test_sorted_to_real_is_first_key_then_log_gaps(shape, dim, key):
    layer = SortedToReal(shape, dim=dim, key=key).double()
    x = _ordered(shape, dim, key)
    y, ldj = layer(x)
    keys = _keys(x, shape, key).tolist()
    for b, row in enumerate(keys):
        expected = [row[0]] + [math.log(row[i] - row[i - 1]) for i in range(1, len(row))]
        torch.testing.assert_close(_keys(y, shape, key)[b], torch.tensor(expected, dtype=F64))
        logs = sum(math.log(row[i] - row[i - 1]) for i in range(1, len(row)))
        torch.testing.assert_close(ldj[b], torch.tensor(-logs, dtype=F64))
    if len(shape) == 2:  # the other feature rows pass unchanged
        others = [f for f in range(shape[0]) if f != key]
        assert torch.equal(y[:, others], x[:, others])


@pytest.mark.parametrize("shape,dim,key", LAYOUTS)
def test_sorted_to_real_round_trip_and_ldj_is_the_log_jacobian(shape, dim, key):
    layer = SortedToReal(shape, dim=dim, key=key).double()
    x = _ordered(shape, dim, key)
    y, ldj = layer(x)
    torch.testing.assert_close(layer.inverse(y), x)
    torch.testing.assert_close(ldj, jacobian_log_det(lambda v: layer(v)[0], x))
    # And the other way: any real y gives ordered keys.
    y = torch.randn(4, *shape, dtype=F64)
    x = layer.inverse(y)
    keys = _keys(x, shape, key)
    assert (keys[:, 1:] > keys[:, :-1]).all()
    torch.testing.assert_close(layer(x)[0], y)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 6), features=st.integers(0, 3), spread=st.floats(0.01, 100.0), data=st.data())
def test_sorted_to_real_round_trip_on_any_layout(n, features, spread, data):
    shape = (n,) if features == 0 else (features, n)
    key = 0 if features == 0 else data.draw(st.integers(0, features - 1))
    layer = SortedToReal(shape, dim=len(shape) - 1, key=key).double()
    x, _ = Sort(shape, dim=len(shape) - 1, key=key).double()(spread * torch.randn(3, *shape, dtype=F64))
    y, ldj = layer(x)
    assert torch.isfinite(y).all() and torch.isfinite(ldj).all()
    torch.testing.assert_close(layer.inverse(y), x)


def test_ties_move_to_the_smallest_normal_gap():
    layer = SortedToReal((3,), dim=0).double()
    x = torch.tensor([[0.5, 0.5, 0.5]], dtype=F64, requires_grad=True)
    y, ldj = layer(x)
    assert torch.isfinite(y).all() and torch.isfinite(ldj).all()
    torch.testing.assert_close(y[0, 1:].detach(), torch.full((2,), math.log(torch.finfo(F64).tiny), dtype=F64))
    ldj.sum().backward()
    assert torch.isfinite(x.grad).all()


def test_sort_layout_and_helpers():
    assert sort_layout((5,), 0, 0) == (0, 0)
    assert sort_layout((2, 5), 1, 1) == (1, 1)
    x = torch.arange(12.0).reshape(1, 3, 4)
    order = torch.tensor([[3, 0, 2, 1]])
    assert gather_along(x, order, 2)[0, 1].tolist() == [7.0, 4.0, 6.0, 5.0]
    orders = random_order(50, 5, torch.zeros((), dtype=F64), torch.Generator().manual_seed(0))
    assert torch.equal(orders.sort(dim=1).values, torch.arange(5).expand(50, 5))


@pytest.mark.parametrize(
    "shape,dim,key,message",
    [
        ((4,), 1, 0, "dim 0"),
        ((4,), 0, 1, "key"),
        ((2, 4), 0, 0, "dim 1"),
        ((2, 4), 1, -1, "key"),
        ((2, 2, 2), 1, 0, "shape"),
    ],
)
def test_bad_layouts_are_rejected(shape, dim, key, message):
    with pytest.raises(ValueError, match=message):
        SortedToReal(shape, dim=dim, key=key)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sorted_to_real_computes_in_the_module_dtype(dtype):
    layer = SortedToReal((2, 3)).to(dtype)
    x = _ordered((2, 3), 1, 0).to(dtype)
    y, ldj = layer(x)
    assert y.dtype == dtype and ldj.dtype == dtype and layer.inverse(y).dtype == dtype
    assert SortedToReal.kind == "bijective"


def test_sorted_to_real_compiles_without_graph_breaks():
    torch._dynamo.reset()
    layer = SortedToReal((2, 5), dim=1, key=1).double()
    x = _ordered((2, 5), 1, 1)
    y, ldj = torch.compile(layer.forward, fullgraph=True, backend="eager")(x)
    expected_y, expected_ldj = layer(x)
    torch.testing.assert_close(y, expected_y)
    torch.testing.assert_close(ldj, expected_ldj)
