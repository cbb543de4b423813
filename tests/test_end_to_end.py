"""End to end: `.survae` source → compiled class → the maths a user relies on.

Everything in float64 where a number is compared against quadrature. Weights are perturbed
away from the standard starting point (where every coupling is the identity) so that the
checks see non-trivial flows. Runs in well under a minute on 2 CPU cores.
"""

from __future__ import annotations

import importlib.util
import math
import warnings
from pathlib import Path
from types import ModuleType

import pytest

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
import torch  # noqa: E402

import survae_dsl  # noqa: E402
from survae_dsl.nn import iw_log_prob  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
EXAMPLE_MODELS = {"AbsFlow": "abs_flow.survae", "CouplingFlow": "coupling_flow.survae"}

# The quadrature grid for the 2-D examples: midpoints of an N x N grid on [-L, L]^2. With
# weights perturbed by PERTURB the densities have tails far inside L = 8; the midpoint rule's
# error is about 1e-3 (largest for AbsFlow, whose density rises steeply off the axes).
GRID_HALF_WIDTH, GRID_POINTS, PERTURB = 8.0, 400, 0.05


def perturb(model: torch.nn.Module, std: float, seed: int) -> torch.nn.Module:
    """Add N(0, std²) noise to every parameter, from a seeded generator; returns ``model``."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            noise = torch.randn(parameter.shape, generator=generator, dtype=torch.float64)
            parameter.add_(std * noise.to(parameter.dtype))
    return model


def example_class(name: str) -> type:
    return survae_dsl.load(EXAMPLES / EXAMPLE_MODELS[name])


def perturbed_example(name: str, seed: int = 1) -> torch.nn.Module:
    torch.manual_seed(0)
    return perturb(example_class(name)().double(), PERTURB, seed)


def midpoints(low: float, high: float, n: int) -> torch.Tensor:
    """The n midpoints of [low, high] cut into n equal cells, float64."""
    return low + (high - low) * (torch.arange(n, dtype=torch.float64) + 0.5) / n


def grid_log_prob(model: torch.nn.Module) -> tuple[torch.Tensor, float]:
    """log_prob at the grid's midpoints, flat ``(N²,)``, and the area of one cell."""
    axis = midpoints(-GRID_HALF_WIDTH, GRID_HALF_WIDTH, GRID_POINTS)
    xs, ys = torch.meshgrid(axis, axis, indexing="ij")
    points = torch.stack([xs.flatten(), ys.flatten()], dim=1)
    with torch.no_grad():
        log_p = torch.cat([model.log_prob(chunk) for chunk in points.split(40_000)])
    cell = (2 * GRID_HALF_WIDTH / GRID_POINTS) ** 2
    return log_p, cell


@pytest.fixture(scope="module", params=list(EXAMPLE_MODELS))
def perturbed_with_grid(request: pytest.FixtureRequest) -> tuple[str, torch.nn.Module, torch.Tensor, float]:
    model = perturbed_example(request.param)
    log_p, cell = grid_log_prob(model)
    return request.param, model, log_p, cell


# (a) ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_exact_density_integrates_to_one(perturbed_with_grid) -> None:
    name, model, log_p, cell = perturbed_with_grid
    assert model.likelihood == "exact"
    assert torch.isfinite(log_p).all(), f"{name}: log_prob is not finite on the grid"
    total = log_p.exp().sum().item() * cell
    assert total == pytest.approx(1.0, abs=0.01), f"{name}: density integrates to {total}"


def test_perturbation_makes_the_flow_non_trivial() -> None:
    """At the standard start every coupling is the identity; the perturbed one is not."""
    torch.manual_seed(0)
    fresh = example_class("CouplingFlow")().double()
    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    standard = torch.distributions.Normal(0.0, 1.0).log_prob(x).sum(dim=1)
    with torch.no_grad():
        assert torch.allclose(fresh.log_prob(x), standard)
        assert not torch.allclose(perturbed_example("CouplingFlow").log_prob(x), standard, atol=1e-3)


# (b) ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_samples_follow_the_density(perturbed_with_grid) -> None:
    """E_samples[log p] must equal ∫ p log p: sample() and log_prob() describe one model."""
    name, model, log_p, cell = perturbed_with_grid
    n = 20_000
    samples = model.sample(n, generator=torch.Generator().manual_seed(3))
    assert samples.shape == (n, 2)
    assert samples.dtype == torch.float64
    with torch.no_grad():
        at_samples = model.log_prob(samples)
    assert torch.isfinite(samples).all() and torch.isfinite(at_samples).all()
    quadrature = (log_p.exp() * log_p).sum().item() * cell
    standard_error = at_samples.std().item() / math.sqrt(n)
    assert at_samples.mean().item() == pytest.approx(quadrature, abs=5 * standard_error + 5e-3), name
    # Where the samples land, on 8 x 8 coarse bins of the grid: this also sees what log p
    # cannot, e.g. AbsFlow's random signs (its log p is the same in every quadrant).
    expected = coarse_bins(log_p.exp() * cell, GRID_POINTS, 8)
    inside = samples.abs().max(dim=1).values < GRID_HALF_WIDTH
    index = ((samples[inside] + GRID_HALF_WIDTH) / (2 * GRID_HALF_WIDTH / 8)).long().clamp(0, 7)
    observed = torch.bincount(index[:, 0] * 8 + index[:, 1], minlength=64).double() / n
    tolerance = 5 * (expected * (1 - expected) / n).sqrt() + 2e-3
    assert ((observed - expected).abs() <= tolerance).all(), (name, observed, expected)


def coarse_bins(masses: torch.Tensor, points: int, bins: int) -> torch.Tensor:
    """Sum an ``(points²,)`` row-major grid of cell masses into ``(bins²,)`` coarse bins."""
    per_bin = points // bins
    return masses.reshape(bins, per_bin, bins, per_bin).sum(dim=(1, 3)).flatten()


@pytest.mark.parametrize("name", list(EXAMPLE_MODELS))
def test_sample_shape_dtype_and_finite(name: str) -> None:
    torch.manual_seed(0)
    model = example_class(name)()
    samples = model.sample(100, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (100, 2) and samples.dtype == torch.float32
    assert model.sample().shape == (1, 2)
    with torch.no_grad():
        assert torch.isfinite(model.log_prob(samples)).all()
    same = model.sample(100, generator=torch.Generator().manual_seed(0))
    assert torch.equal(samples, same), "the same generator seed must give the same samples"


# (c) ------------------------------------------------------------------------------------

K = 4
_FLOW = """
    h = affine_coupling(h, net=mlp(hidden=[16]))
    h = reverse(h)
    h = affine_coupling(h, net=mlp(hidden=[16]))
    h ~ standard_normal()
"""
# Deq is the discrete model under test. Inner is the continuous flow after its `logit`: the
# same layers, so the same parameter names, and its density in logit space integrated over a
# cell's image gives Deq's exact discrete probability P(x).
DEQ_SOURCE = f"""
model Deq {{
    input x: int<{K}>[2]
    h = dequantize(x)
    h = logit(h)
{_FLOW}}}

model Inner {{
    input h: real[2]
{_FLOW}}}
"""
DEQ_PERTURB, DEQ_TAIL, DEQ_CELL_POINTS = 0.2, 14.0, 300


@pytest.fixture(scope="module")
def dequantized() -> tuple[torch.nn.Module, torch.Tensor]:
    """The perturbed Deq model in float64 and its exact probabilities ``P`` ``(K, K)``."""
    classes = survae_dsl.compile_source(DEQ_SOURCE, filename="deq.survae")
    torch.manual_seed(0)
    model = perturb(classes["Deq"]().double(), DEQ_PERTURB, seed=1)
    inner = classes["Inner"]().double()
    inner.load_state_dict(model.state_dict())
    return model, exact_cell_probabilities(inner)


def exact_cell_probabilities(inner: torch.nn.Module) -> torch.Tensor:
    """P(x) = ∫ over logit(cell(x)) of the inner density, by the midpoint rule per cell.

    Integrating in logit space keeps the integrand smooth (in (0, 1) it piles up at the
    edges); the outer cells' infinite ends are cut at ±DEQ_TAIL, far in the tails.
    """
    edges = torch.logit(torch.arange(K + 1, dtype=torch.float64) / K).clamp(-DEQ_TAIL, DEQ_TAIL)
    probabilities = torch.zeros(K, K, dtype=torch.float64)
    for i in range(K):
        for j in range(K):
            a = midpoints(edges[i].item(), edges[i + 1].item(), DEQ_CELL_POINTS)
            b = midpoints(edges[j].item(), edges[j + 1].item(), DEQ_CELL_POINTS)
            us, vs = torch.meshgrid(a, b, indexing="ij")
            with torch.no_grad():
                density = inner.log_prob(torch.stack([us.flatten(), vs.flatten()], dim=1)).exp()
            area = (edges[i + 1] - edges[i]) * (edges[j + 1] - edges[j])
            probabilities[i, j] = density.mean() * area
    return probabilities


def all_values() -> torch.Tensor:
    """Every x in {0..K-1}², ``(K², 2)`` int64, in the row-major order of ``P.flatten()``."""
    return torch.cartesian_prod(torch.arange(K), torch.arange(K))


@pytest.mark.slow
def test_dequantized_model_is_a_lower_bound(dequantized) -> None:
    model, probabilities = dequantized
    assert type(model).likelihood == "lower_bound"
    assert probabilities.sum().item() == pytest.approx(1.0, abs=1e-3)


@pytest.mark.slow
def test_dequantized_samples_are_integers_with_the_exact_frequencies(dequantized) -> None:
    model, probabilities = dequantized
    n = 20_000
    samples = model.sample(n, generator=torch.Generator().manual_seed(2))
    assert samples.shape == (n, 2) and samples.dtype == torch.int64
    assert samples.min().item() >= 0 and samples.max().item() <= K - 1
    counts = torch.bincount(samples[:, 0] * K + samples[:, 1], minlength=K * K).double()
    expected = probabilities.flatten()
    tolerance = 5 * (expected * (1 - expected) / n).sqrt() + 1e-3
    assert ((counts / n - expected).abs() <= tolerance).all(), (counts / n, expected)


@pytest.mark.slow
def test_elbo_below_importance_weighted_below_exact(dequantized) -> None:
    """E[ELBO] ≤ E[IW bound, k=100] ≤ log P(x), per value (where P is not tiny) and on
    average under P; Monte-Carlo tolerance of 4 standard errors."""
    model, probabilities = dequantized
    xs, log_exact = all_values(), probabilities.flatten().log()
    torch.manual_seed(5)
    with torch.no_grad():
        elbo = model.log_prob(xs.repeat(4_000, 1)).reshape(4_000, K * K)
        iw = torch.stack([iw_log_prob(model, xs, k=100) for _ in range(50)])
    elbo_mean, elbo_se = elbo.mean(0), elbo.std(0) / math.sqrt(elbo.shape[0])
    iw_mean, iw_se = iw.mean(0), iw.std(0) / math.sqrt(iw.shape[0])
    assert torch.isfinite(elbo).all() and torch.isfinite(iw).all()
    likely = probabilities.flatten() > 0.01
    assert (elbo_mean <= iw_mean + 4 * (elbo_se + iw_se))[likely].all(), (elbo_mean, iw_mean)
    assert (iw_mean <= log_exact + 4 * iw_se + 1e-3)[likely].all(), (iw_mean, log_exact)
    weights = probabilities.flatten()
    expected_elbo, expected_iw = (weights * elbo_mean).sum(), (weights * iw_mean).sum()
    expected_exact = (weights * log_exact).sum()
    # Not vacuous: uniform dequantization leaves a real gap, and k = 100 closes most of it.
    assert expected_exact - expected_elbo > 0.1
    assert expected_elbo < expected_iw <= expected_exact + 0.02
    assert expected_exact - expected_iw < 0.1 * (expected_exact - expected_elbo)


def test_exact_model_iw_bound_equals_log_prob() -> None:
    model = perturbed_example("CouplingFlow")
    x = torch.randn(32, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(iw_log_prob(model, x, k=7), model.log_prob(x))


# (d) ------------------------------------------------------------------------------------


def load_toy_data() -> ModuleType:
    spec = importlib.util.spec_from_file_location("survae_examples_toy_data", EXAMPLES / "toy_data.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_training_abs_flow_improves_the_likelihood() -> None:
    train, _ = load_toy_data().make_splits("corners", n_train=4_000, n_test=10, seed=0)
    torch.manual_seed(0)
    model = example_class("AbsFlow")()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    batches = torch.Generator().manual_seed(1)
    with torch.no_grad():
        before = model.log_prob(train).mean().item()
    for _ in range(100):
        loss = -model.log_prob(train[torch.randint(0, len(train), (256,), generator=batches)]).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        assert torch.isfinite(loss)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    with torch.no_grad():
        after = model.log_prob(train)
    assert torch.isfinite(after).all()
    assert after.mean().item() > before + 0.5, (before, after.mean().item())


# (e) ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_torch_compile_fullgraph_matches_eager() -> None:
    torch.manual_seed(0)
    model = perturb(example_class("AbsFlow")(), PERTURB, seed=1)
    x = torch.randn(128, 2, generator=torch.Generator().manual_seed(0))
    torch._dynamo.reset()
    compiled = torch.compile(model.log_prob, fullgraph=True, backend="eager")
    with torch.no_grad():
        assert torch.allclose(compiled(x), model.log_prob(x), rtol=1e-5, atol=1e-5)


# (f) ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(EXAMPLE_MODELS))
def test_state_dict_round_trip(name: str) -> None:
    cls = example_class(name)
    torch.manual_seed(0)
    source = perturb(cls(), 0.1, seed=1)
    torch.manual_seed(123)
    target = cls()
    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert not torch.allclose(source.log_prob(x), target.log_prob(x))
        target.load_state_dict(source.state_dict())
        assert torch.equal(source.log_prob(x), target.log_prob(x))


@pytest.mark.parametrize("name", list(EXAMPLE_MODELS))
def test_parameter_names_are_stable_across_compilations(name: str) -> None:
    text = (EXAMPLES / EXAMPLE_MODELS[name]).read_text(encoding="utf-8")
    first = survae_dsl.compile_source(text, filename=EXAMPLE_MODELS[name])[name]
    second = survae_dsl.compile_source(text, filename="elsewhere/renamed.survae")[name]
    names = list(first().state_dict())
    assert names and names == list(second().state_dict()) == list(example_class(name)().state_dict())
    # A checkpoint from one compilation loads strictly into an instance of another.
    second().load_state_dict(first().state_dict(), strict=True)
