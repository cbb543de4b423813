"""Every runtime class follows ``.to(dtype)`` and traces without graph breaks."""

import pytest
import torch

import survae_dsl.nn as snn

from .helpers import compiled_fullgraph
from .toys import DequantizeToy, FlowToy

SHAPE = (2, 3)


def _real(dtype):
    return torch.randn(4, *SHAPE, dtype=dtype)


def _unit(dtype):
    return torch.rand(4, *SHAPE, dtype=dtype) * 0.9 + 0.05


def _positive(dtype):
    return torch.rand(4, *SHAPE, dtype=dtype) + 0.1


def _classes(dtype):
    return torch.randint(0, 5, (4, *SHAPE))


TRANSFORMS = {
    "affine": (lambda: snn.AffineCoupling(SHAPE, snn.MLP(3, 6), dim=0), _real),
    "additive": (lambda: snn.AdditiveCoupling(SHAPE, snn.MLP(4, 2), dim=1, split=2), _real),
    "reverse": (lambda: snn.Reverse(SHAPE, dim=1), _real),
    "actnorm": (lambda: snn.ActNorm(SHAPE), _real),
    "shift": (lambda: snn.Shift(SHAPE, by=1.0), _real),
    "scale": (lambda: snn.Scale(SHAPE, by=2.0), _real),
    "sigmoid": (lambda: snn.Sigmoid(SHAPE), _real),
    "logit": (lambda: snn.Logit(SHAPE), _unit),
    "softplus": (lambda: snn.Softplus(SHAPE), _real),
    "softplus_inv": (lambda: snn.SoftplusInv(SHAPE), _positive),
    "abs": (lambda: snn.Abs(SHAPE), _real),
    "dequantize": (lambda: snn.Dequantize(SHAPE, num_classes=5), _classes),
}

DISTRIBUTIONS = {
    "standard_normal": lambda: snn.StandardNormal(SHAPE),
    "normal": lambda: snn.Normal(SHAPE),
    "normal_channel": lambda: snn.Normal(SHAPE, per="channel"),
    "half_normal": lambda: snn.HalfNormal(SHAPE),
    "truncated_normal": lambda: snn.TruncatedNormal(SHAPE),
    "standard_uniform": lambda: snn.StandardUniform(SHAPE),
}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", TRANSFORMS)
def test_transforms_compute_in_the_module_dtype(name, dtype):
    make, data = TRANSFORMS[name]
    layer = make().to(dtype)
    z, ldj = layer(data(dtype))
    assert z.dtype == dtype and ldj.dtype == dtype and ldj.shape == (4,)
    x = layer.inverse(z, generator=torch.Generator().manual_seed(0))
    assert x.dtype == (torch.long if name == "dequantize" else dtype)
    assert all(p.dtype == dtype for p in layer.parameters())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", DISTRIBUTIONS)
def test_distributions_compute_in_the_module_dtype(name, dtype):
    distribution = DISTRIBUTIONS[name]().to(dtype)
    x, log_prob = distribution.sample_with_log_prob(3)
    assert x.dtype == dtype and log_prob.dtype == dtype


def test_models_compute_in_the_module_dtype():
    model = DequantizeToy().to(torch.float64)
    assert model.log_prob(torch.randint(0, 4, (3, 3))).dtype == torch.float64


def test_model_log_prob_compiles_without_graph_breaks():
    model = FlowToy().double()
    x, c = torch.randn(4, 2, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    torch.testing.assert_close(compiled_fullgraph(model.log_prob)(x, c=c), model.log_prob(x, c=c))


@pytest.mark.parametrize("name", ["dequantize", "abs", "actnorm", "logit", "softplus_inv"])
def test_layers_compile_without_graph_breaks(name):
    make, data = TRANSFORMS[name]
    layer = make().double()
    x = data(torch.float64)
    z, ldj = compiled_fullgraph(layer)(x)
    assert z.shape == x.shape and ldj.shape == (4,)
