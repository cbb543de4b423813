"""Every op of the catalogue from a `.survae` file to a trained module (issue: the full catalogue).

The models are `examples/catalogue/*.survae`. For each: its likelihood class and reasons, a
short training run on a small data set of its input type without NaN, samples of the declared
type (integers in range for int<K>), and the compiled-module contract of docs/language.md, The compiled module:
float64 end to end, `.to()`, `state_dict` round trips, and eager == `torch.compile(fullgraph=True)`
(in a slow test of its own). Exactness of the exact models is checked numerically: their
densities integrate to 1 on a grid.
"""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
import torch  # noqa: E402

import survae_dsl  # noqa: E402
from survae_dsl.compiler.catalogue import DIST_TABLE, NET_TABLE, OP_TABLE  # noqa: E402
from survae_dsl.compiler.drivers.driver import check_source  # noqa: E402
from survae_dsl.compiler.ir.checked import Bound  # noqa: E402
from survae_dsl.nn import iw_log_prob  # noqa: E402

pytestmark = pytest.mark.slow  # trains every catalogue model and integrates the exact ones: about 35 s

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = ROOT / "examples" / "catalogue"
FILES = sorted(CATALOGUE.glob("*.survae"))

# model -> (file, class, the ops that make it a bound)
EXPECTED: dict[str, tuple[str, str, set[str]]] = {
    "ImageFlow": ("images.survae", "lower_bound", {"dequantize"}),
    "SortFlow": ("sets.survae", "exact", set()),
    "PermuteFlow": ("sets.survae", "lower_bound", {"stochastic_permutation"}),
    "VectorFlow": ("vectors.survae", "lower_bound", {"augment", "vae"}),
    "PooledSeries": ("vectors.survae", "exact", set()),
    "LearnedSign": ("vectors.survae", "exact", set()),
    "SliceFlow": ("vectors.survae", "exact", set()),
    "BinaryVae": ("vectors.survae", "lower_bound", {"vae"}),
    "CountVae": ("vectors.survae", "lower_bound", {"vae"}),
    "Counts": ("vectors.survae", "exact", set()),
    "Coins": ("vectors.survae", "exact", set()),
    "Dequantized": ("vectors.survae", "lower_bound", {"dequantize"}),
}


def _checked() -> dict[str, Any]:
    models = {}
    for path in FILES:
        for model in check_source(path.read_text(encoding="utf-8"), path.name).models:
            models[model.name] = (path, model)
    return models


CHECKED = _checked()


def _load(name: str) -> type[survae_dsl.Model]:
    return survae_dsl.load(CATALOGUE / EXPECTED[name][0], model=name)


def _nested_names(call: Bound) -> set[str]:
    names = {call.entry.name} | {net.entry.name for net in call.nets.values()}
    for dist in call.dists.values():
        names |= _nested_names(dist)
    return names


def test_every_model_is_listed() -> None:
    assert set(CHECKED) == set(EXPECTED)
    assert {p.name for p in FILES} == {f for f, _, _ in EXPECTED.values()}


def test_the_examples_use_the_whole_catalogue() -> None:
    """Together with tests/good/every_op.survae, every op, distribution and net appears."""
    every_op = ROOT / "tests" / "good" / "every_op.survae"
    models = [m for _, m in CHECKED.values()] + check_source(every_op.read_text(encoding="utf-8")).models
    used: set[str] = set()
    for model in models:
        for call in model.bound.values():
            used |= _nested_names(call)
    assert used == set(OP_TABLE) | set(DIST_TABLE) | set(NET_TABLE)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_likelihood_class_and_reasons(name: str) -> None:
    _, model = CHECKED[name]
    _, likelihood, culprits = EXPECTED[name]
    assert model.likelihood == likelihood
    assert {r.op for r in model.reasons} == culprits
    assert model.warnings == []


def _data(type_text: str, batch: int, generator: torch.Generator) -> torch.Tensor:
    """A small data set of a declared type: structured enough to learn, seeded."""
    match = re.fullmatch(r"(\w+)(?:<(\d+)>)?\[([\d, ]+)\]", type_text)
    assert match, type_text
    domain, classes, dims = match.groups()
    shape = (batch, *(int(d) for d in dims.split(",")))
    if domain == "int":
        # A skewed distribution over the classes, so there is something to learn.
        weights = torch.arange(1, int(classes) + 1, dtype=torch.float64)
        flat = torch.multinomial(weights, math.prod(shape), replacement=True, generator=generator)
        return flat.reshape(shape)
    assert domain == "real"
    return 0.5 * torch.randn(shape, generator=generator, dtype=torch.float64) + 1.0


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_trains_without_nan_and_samples_the_declared_type(name: str) -> None:
    torch.manual_seed(0)
    model_class = _load(name)
    model = model_class().double()
    (input_name,) = model_class.input_names
    data = _data(str(model_class.input_types[input_name]), 64, torch.Generator().manual_seed(1))
    model.initialize(data)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        loss = -model.log_prob(data).mean()
        assert torch.isfinite(loss), f"{name}: loss {loss.item()} after {len(losses)} steps"
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert sum(losses[-10:]) / 10 < sum(losses[:10]) / 10, f"{name} did not learn: {losses[:3]} ... {losses[-3:]}"

    drawn = model.sample(7, generator=torch.Generator().manual_seed(2))
    assert drawn.shape == (7, *data.shape[1:])
    if data.dtype == torch.long:
        classes = model_class.input_types[input_name].domain.classes
        assert drawn.dtype == torch.long
        assert 0 <= drawn.min() and drawn.max() < classes
    else:
        assert drawn.dtype == torch.float64
    assert torch.isfinite(model.log_prob(drawn)).all()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_float64_to_and_state_dict_round_trip(name: str) -> None:
    model_class = _load(name)
    torch.manual_seed(3)
    first = model_class().double()
    with torch.no_grad():
        for parameter in first.parameters():
            parameter.add_(0.01 * torch.randn_like(parameter))
    second = model_class().double()
    second.load_state_dict(first.state_dict())
    assert list(first.state_dict()) == list(second.state_dict())
    (input_name,) = model_class.input_names
    data = _data(str(model_class.input_types[input_name]), 5, torch.Generator().manual_seed(4))
    torch.manual_seed(5)
    a = first.log_prob(data)
    torch.manual_seed(5)
    b = second.log_prob(data)
    assert a.dtype == torch.float64
    torch.testing.assert_close(a, b)
    single = first.to(torch.float32)
    assert single.log_prob(data.float() if data.is_floating_point() else data).dtype == torch.float32


# model -> how far its weights are moved from the start, where encoder and prior agree and the
# two bounds coincide. VectorFlow's 20 layers amplify a larger move into overflowing values.
BOUND_MODELS = {"VectorFlow": 0.05, "BinaryVae": 0.3, "Dequantized": 0.3, "PermuteFlow": 0.3}


@pytest.mark.parametrize("name", sorted(BOUND_MODELS))
def test_bounds_are_below_the_iw_bound(name: str) -> None:
    """For bound models, the one-sample ELBO averages below iw_log_prob with k = 100."""
    model_class = _load(name)
    torch.manual_seed(6)
    model = model_class().double()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(BOUND_MODELS[name] * torch.randn_like(parameter))
    (input_name,) = model_class.input_names
    data = _data(str(model_class.input_types[input_name]), 128, torch.Generator().manual_seed(7))
    with torch.no_grad():
        elbo = model.log_prob(data).mean()
        iw = iw_log_prob(model, data, k=100).mean()
    assert elbo < iw


def _grid_mass(log_prob: Any, half_width: float, points: int) -> float:
    """∫ exp(log_prob) over [−L, L]² by the midpoint rule."""
    step = 2 * half_width / points
    axis = torch.linspace(-half_width + step / 2, half_width - step / 2, points, dtype=torch.float64)
    xs, ys = torch.meshgrid(axis, axis, indexing="ij")
    grid = torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1)
    with torch.no_grad():
        return float(torch.exp(log_prob(grid)).sum() * step * step)


# case -> (model body, grid point -> input, grid half-width). `sorted_to_real` models the gap
# between the two values on a log scale, so its density has long tails: a wider grid.
EXACT_2D = {
    "abs with a learned sign": (
        "input x: real[2]\n h = abs(x, sign=learned, net=mlp(hidden=[8]))\n h = softplus_inv(h)\n h ~ normal()",
        lambda g: g,
        9.0,
    ),
    "slice with a conditional decoder": (
        "input x: real[2]\n h = slice(x, keep=1, decoder=normal(net=mlp(hidden=[8])))\n h ~ normal()",
        lambda g: g,
        9.0,
    ),
    "max_pool with a conditional decoder": (
        "input x: real[1, 2]\n h = max_pool(x, decoder=half_normal(net=mlp(hidden=[8])))\n h ~ normal()",
        lambda g: g.reshape(-1, 1, 2),
        9.0,
    ),
    "sort and sorted_to_real": (
        "input x: real[2]\n h = sort(x, dim=0)\n h = sorted_to_real(h, dim=0)\n h ~ normal()",
        lambda g: g,
        30.0,
    ),
}


@pytest.mark.parametrize("case", sorted(EXACT_2D))
def test_exact_models_integrate_to_one(case: str) -> None:
    body, shape, half_width = EXACT_2D[case]
    source = f"model M {{\n {body}\n}}\n"
    (model,) = check_source(source).models
    assert model.likelihood == "exact", case
    torch.manual_seed(8)
    compiled = survae_dsl.compile_source(source)["M"]().double()
    with torch.no_grad():
        for parameter in compiled.parameters():
            parameter.add_(0.2 * torch.randn_like(parameter))
    mass = _grid_mass(lambda g: compiled.log_prob(shape(g)), half_width, int(half_width * 60))
    assert mass == pytest.approx(1.0, abs=0.01), case


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_torch_compile_matches_eager(name: str) -> None:
    """`torch.compile(model.log_prob, fullgraph=True)` gives eager's values (same noise)."""
    model_class = _load(name)
    torch.manual_seed(9)
    model = model_class().double()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.01 * torch.randn_like(parameter))
    (input_name,) = model_class.input_names
    data = _data(str(model_class.input_types[input_name]), 4, torch.Generator().manual_seed(10))
    compiled = torch.compile(model.log_prob, fullgraph=True)
    # Inductor draws random numbers its own way unless told to fall back to eager's generator.
    with patch("torch._inductor.config.fallback_random", True):
        torch.manual_seed(11)
        eager = model.log_prob(data)
        torch.manual_seed(11)
        fast = compiled(data)
    torch.testing.assert_close(fast, eager)


def test_fresh_learned_layers_start_at_the_standard_point() -> None:
    """docs/catalogue.md: a zero net output is the identity (every coupling and scale choice,
    splines, autoregressive layers), actnorm starts as the identity, linear maps start as
    rotations, and learned distributions start standard, so a fresh model's log_prob is the
    standard normal's, exactly."""
    scales = ["tanh_exp", "exp", "softplus", "sigmoid"]
    body = "\n".join(
        [f"    h = affine_coupling(h, net=mlp(hidden=[8]), scale={s})\n    h = reverse(h)" for s in scales]
        + [
            "    h = additive_coupling(h, net=resnet(hidden=8))",
            "    h = spline_coupling(h, net=mlp(hidden=[8]), bins=5)",
            "    h = actnorm(h)",
            "    h = affine_autoregressive(h, net=made(hidden=[8]))",
            "    h = linear(h)",
            "    h = reshape(h, shape=[2, 2])",
            "    h = conv1x1(h)",
            "    h = affine_coupling(h, net=conv(hidden=4))",
            "    h = flatten(h)",
            "    h = slice(h, keep=2, decoder=normal(net=mlp(hidden=[8])))",
        ]
    )
    source = f"model Fresh {{\n    input x: real[4]\n    h = x\n{body}\n    h ~ normal()\n}}\n"
    source = source.replace("    h = x\n    h = affine_coupling(h,", "    h = affine_coupling(x,")
    model = survae_dsl.compile_source(source)["Fresh"]().double()
    x = torch.randn(16, 4, generator=torch.Generator().manual_seed(12), dtype=torch.float64)
    standard = torch.distributions.Normal(0.0, 1.0).log_prob(x).sum(dim=1)
    torch.testing.assert_close(model.log_prob(x), standard)
