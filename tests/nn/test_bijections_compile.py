"""The bijections of splines.py, autoregressive.py, linear.py, structural.py and the new
elementwise maps follow ``.to(dtype)`` and trace with ``fullgraph=True`` to the same values."""

import pytest
import torch

from survae_dsl.nn.autoregressive import AffineAutoregressive
from survae_dsl.nn.elementwise import Exp, Log
from survae_dsl.nn.linear import Conv1x1, Linear
from survae_dsl.nn.made import MADE
from survae_dsl.nn.nets import MLP
from survae_dsl.nn.splines import SplineCoupling
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

from .helpers import compiled_fullgraph


def _randomised(net):
    """Give a net's (masked) last layer random values, so the layer is not the identity."""
    with torch.no_grad():
        net.layers[-1].weight.normal_(0.0, 0.5)
        net.layers[-1].bias.normal_(0.0, 0.5)
    return net


# name: (constructor, input shapes); every layer takes real inputs except log (positive).
LAYERS = {
    "spline": (lambda: SplineCoupling((2, 3), _randomised(MLP(3, 3 * 11)), bins=4, bound=1.0), [(2, 3)]),
    "autoregressive": (lambda: AffineAutoregressive((4,), _randomised(MADE(4, hidden=(8,)))), [(4,)]),
    "made": (lambda: _randomised(MADE(4, hidden=(8,), params_per_feature=3)), [(4,)]),
    "linear": (lambda: Linear((4,), seed=1), [(4,)]),
    "conv1x1": (lambda: Conv1x1((3, 2, 2), seed=2), [(3, 2, 2)]),
    "shuffle": (lambda: Shuffle((2, 5), dim=1, seed=3), [(2, 5)]),
    "transpose": (lambda: Transpose((2, 3, 4), (2, 0, 1)), [(2, 3, 4)]),
    "squeeze2d": (lambda: Squeeze2d((1, 4, 4)), [(1, 4, 4)]),
    "unsqueeze2d": (lambda: Unsqueeze2d((4, 2, 2)), [(4, 2, 2)]),
    "reshape": (lambda: Reshape((2, 3), (3, 2)), [(2, 3)]),
    "flatten": (lambda: Flatten((2, 3)), [(2, 3)]),
    "split": (lambda: Split((5,), sizes=(1, 4)), [(5,)]),
    "concat": (lambda: Concat(((2,), (3,))), [(2,), (3,)]),
    "exp": (lambda: Exp((2, 3)), [(2, 3)]),
    "log": (lambda: Log((2, 3)), [(2, 3)]),
}


def _inputs(name, shapes, dtype):
    if name == "log":
        return [torch.rand(4, *shape, dtype=dtype) + 0.1 for shape in shapes]
    return [torch.randn(4, *shape, dtype=dtype) for shape in shapes]


def _flat(out):
    """Every tensor in a (possibly nested) output, in order."""
    if isinstance(out, torch.Tensor):
        return [out]
    return [tensor for item in out for tensor in _flat(item)]


@pytest.mark.parametrize("name", LAYERS)
def test_compiled_forward_matches_eager(name):
    make, shapes = LAYERS[name]
    layer = make().double()
    inputs = _inputs(name, shapes, torch.float64)
    eager = _flat(layer(*inputs))
    compiled = _flat(compiled_fullgraph(layer.forward)(*inputs))
    assert len(compiled) == len(eager)
    for got, expected in zip(compiled, eager, strict=True):
        torch.testing.assert_close(got, expected, rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", [name for name in LAYERS if name != "made"])
def test_layers_compute_in_the_module_dtype(name, dtype):
    make, shapes = LAYERS[name]
    layer = make().to(dtype)
    inputs = _inputs(name, shapes, dtype)
    out, ldj = layer(*inputs)
    assert all(t.dtype == dtype for t in _flat(out)) and ldj.dtype == dtype and ldj.shape == (4,)
    back = layer.inverse(*_flat(out))
    assert all(t.dtype == dtype for t in _flat(back))
    assert all(p.dtype == dtype for p in layer.parameters())
    # float32 round trips too, to float32 accuracy.
    for got, expected in zip(_flat(back), inputs, strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
