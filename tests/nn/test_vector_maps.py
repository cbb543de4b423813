"""Per-entry `shift`/`scale`, learned `affine`, `batchnorm` and `standard_half_normal`, as maths:
round trips, ldj against the autograd Jacobian, and 1-D densities that integrate to 1."""

import math

import pytest
import torch

import survae_dsl
import survae_dsl.nn as snn

from .helpers import compiled_fullgraph, jacobian_log_det


def _real(shape: tuple[int, ...]) -> torch.Tensor:
    return 3.0 * torch.randn(3, *shape, dtype=torch.float64)


def _perturb(module: torch.nn.Module) -> None:
    """Move every parameter off its standard start, so the maps are not the identity."""
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.normal_(0.0, 0.7)


VECTOR_MAPS = [
    ((3,), lambda s: snn.Shift(s, by=(1.5, -2.0, 0.25))),
    ((3,), lambda s: snn.Scale(s, by=(0.5, -3.0, 2.0))),
    ((2, 3), lambda s: snn.Scale(s, by=(0.5, -3.0, 2.0, 1.0, -0.1, 7.0))),
    ((2, 3), lambda s: snn.Scale(s, by=(-0.5, 4.0), per="channel")),
    ((2, 3), lambda s: snn.Shift(s, by=(-0.5, 4.0), per="channel")),
    ((2, 3), lambda s: snn.Affine(s)),
    ((2, 3), lambda s: snn.Affine(s, per="channel")),
    ((2, 3), lambda s: snn.BatchNorm(s)),
    ((2, 3), lambda s: snn.BatchNorm(s, affine=False, eps=1e-3)),
]
IDS = [
    "shift_element",
    "scale_element",
    "scale_element_2d",
    "scale_channel",
    "shift_channel",
    "affine_element",
    "affine_channel",
    "batchnorm",
    "batchnorm_plain",
]


def _fixed(layer: snn.Transform) -> snn.Transform:
    """`layer` in float64 with non-standard parameters and running statistics, in evaluation mode."""
    layer = layer.double()
    _perturb(layer)
    if isinstance(layer, snn.BatchNorm):
        with torch.no_grad():
            layer.running_mean.normal_()
            layer.running_var.uniform_(0.2, 3.0)
    return layer.eval()


@pytest.mark.parametrize("shape,make", VECTOR_MAPS, ids=IDS)
def test_round_trip_and_ldj(shape, make):
    layer = _fixed(make(shape))
    x = _real(shape)
    z, ldj = layer(x)
    assert z.shape == x.shape and ldj.shape == (3,)
    torch.testing.assert_close(layer.inverse(z), x)
    torch.testing.assert_close(ldj, jacobian_log_det(lambda v: layer(v)[0], x))


def test_vector_scale_ldj_is_the_sum_of_log_abs_by():
    per_entry = snn.Scale((3,), by=(0.5, -2.0, 4.0)).double()
    _, ldj = per_entry(torch.ones(2, 3, dtype=torch.float64))
    torch.testing.assert_close(ldj, torch.full((2,), math.log(4.0), dtype=torch.float64))
    per_channel = snn.Scale((2, 5), by=(0.5, -3.0), per="channel").double()
    _, ldj = per_channel(torch.ones(2, 2, 5, dtype=torch.float64))
    torch.testing.assert_close(ldj, torch.full((2,), 5 * math.log(1.5), dtype=torch.float64))


def test_vector_maps_check_their_numbers():
    with pytest.raises(ValueError, match="by=0"):
        snn.Scale((2,), by=(1.0, 0.0))
    with pytest.raises(ValueError, match="needs 2 numbers"):
        snn.Shift((2, 3), by=(1.0, 2.0, 3.0), per="channel")
    with pytest.raises(ValueError, match="needs 6 numbers"):
        snn.Scale((2, 3), by=(1.0, 2.0))


def test_vector_numbers_are_exact_in_float64():
    """The numbers are used as written, not rounded through a float32 buffer."""
    layer = snn.Shift((1,), by=(0.1,)).double()
    z, _ = layer(torch.zeros(1, 1, dtype=torch.float64))
    assert z.item() == 0.1


def test_fresh_affine_is_the_identity():
    layer = snn.Affine((2, 3), per="channel").double()
    x = _real((2, 3))
    z, ldj = layer(x)
    torch.testing.assert_close(z, x)
    torch.testing.assert_close(ldj, torch.zeros(3, dtype=torch.float64))
    assert sum(p.numel() for p in layer.parameters()) == 4


def test_batchnorm_training_normalises_by_the_batch_and_updates_the_running_averages():
    layer = snn.BatchNorm((2,), momentum=0.5, affine=False).double()
    x = torch.randn(64, 2, dtype=torch.float64) * torch.tensor([2.0, 0.5], dtype=torch.float64) + 3.0
    z, ldj = layer(x)
    torch.testing.assert_close(z.mean(0), torch.zeros(2, dtype=torch.float64))
    torch.testing.assert_close(z.var(0, correction=0), torch.ones(2, dtype=torch.float64), rtol=1e-3, atol=1e-3)
    var = x.var(0, correction=0)
    torch.testing.assert_close(ldj, (-0.5 * torch.log(var + layer.eps)).sum().repeat(64))
    torch.testing.assert_close(layer.running_mean, 0.5 * x.mean(0))
    torch.testing.assert_close(layer.running_var, 0.5 + 0.5 * var)


def test_batchnorm_eval_does_not_depend_on_the_batch():
    """Evaluation mode is a fixed bijection of each example: the exact per-example density."""
    layer = _fixed(snn.BatchNorm((2,)))
    x = _real((2,))
    alone = torch.cat([layer(x[i : i + 1])[0] for i in range(3)])
    torch.testing.assert_close(layer(x)[0], alone)


def test_standard_half_normal_density_and_samples():
    dist = snn.StandardHalfNormal((2,)).double()
    x = torch.tensor([[0.0, 1.0], [-0.5, 2.0]], dtype=torch.float64)
    expected = 2 * math.log(2.0) - 0.5 * (0.0 + 1.0) - math.log(2 * math.pi)
    torch.testing.assert_close(dist.log_prob(x[:1]), torch.tensor([expected], dtype=torch.float64))
    assert dist.log_prob(x[1:]).item() == -math.inf
    samples = dist.sample(4000)
    assert (samples >= 0).all() and samples.shape == (4000, 2)
    assert abs(samples.mean().item() - math.sqrt(2 / math.pi)) < 0.05
    assert sum(p.numel() for p in dist.parameters()) == 0


def _integral(model: snn.Model, lo: float, hi: float, n: int = 200_001) -> float:
    grid = torch.linspace(lo, hi, n, dtype=torch.float64).unsqueeze(1)
    with torch.no_grad():
        density = model.log_prob(grid).exp()
    return torch.trapezoid(density, grid.squeeze(1)).item()


def test_a_flow_of_the_new_maps_integrates_to_one():
    """A 1-D model through a per-entry scale and shift, a learned affine map and batchnorm in
    evaluation mode (with perturbed parameters and running averages) is normalised."""
    source = """model M {
    input x: real[1]
    h = scale(x, by=[-2.5])
    h = shift(h, by=[0.7])
    h = affine(h)
    h = batchnorm(h)
    h ~ normal()
}"""
    model = _fixed(survae_dsl.compile_source(source)["M"]())
    assert model.likelihood == "exact"
    assert _integral(model, -60.0, 60.0) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize(
    "source,lo",
    [
        ("model M {\n    input x: positive[1]\n    x ~ standard_half_normal()\n}", 0.0),
        ("model M {\n    input x: real[1]\n    h = abs(x)\n    h ~ standard_half_normal()\n}", -12.0),
    ],
    ids=["positive", "abs"],
)
def test_standard_half_normal_integrates_to_one(source, lo):
    model = survae_dsl.compile_source(source)["M"]().double()
    assert model.likelihood == "exact"
    assert _integral(model, lo, 12.0) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("shape,make", VECTOR_MAPS, ids=IDS)
def test_forward_traces_without_graph_breaks(shape, make):
    """`torch.compile(fullgraph=True)` works on each (docs/language.md, The compiled module)."""
    layer = _fixed(make(shape))
    x = _real(shape)
    z, ldj = compiled_fullgraph(layer.forward)(x)
    expected_z, expected_ldj = layer(x)
    torch.testing.assert_close(z, expected_z)
    torch.testing.assert_close(ldj, expected_ldj)
