"""Clamps add no mass (docs/language.md, What the checker enforces): maps with a singular edge move only the edge
points themselves (an exact 0 or 1, an exact tie) to the nearest interior value; every other
input is computed as it is.

Checked as maths in float64: values and ldj against closed forms at inputs far below any
epsilon, finite values and gradients at the exact edges, no graph breaks, and exact 1-D (and
one 2-D) models whose latent sits at the edge integrating to one, numerically, in the latent
variable; and dequantize, whose margin now stays between cells, off the ends of (0, 1).
"""

from __future__ import annotations

import math

import pytest
import torch

from survae_dsl.nn import Dequantize, Logit, LogitNormal, Normal, SoftplusInv, Sort
from survae_dsl.nn.elementwise import Log
from survae_dsl.nn.ordered import SortedToReal

from .helpers import compiled_fullgraph

F64 = torch.float64
TINY = torch.finfo(F64).tiny
BELOW_ONE = 1.0 - torch.finfo(F64).eps / 2  # the largest float64 below 1

# Far below every epsilon the runtime ever used (1e-12 in float64), and at it.
SMALL = [1e-300, 1e-200, 1e-30, 1e-16, 1e-12]
# Distances δ from 1 whose 1 − δ is a float64 other than 1 (1 − 1e-30 rounds to 1 itself).
NEAR_ONE = [2.0**-53, 2.0**-52, 1e-16, 1e-14, 1e-12]


def _row(values: list[float]) -> torch.Tensor:
    return torch.tensor([values], dtype=F64)


def _assert_exact(actual: torch.Tensor, expected: list[float]) -> None:
    torch.testing.assert_close(actual.reshape(-1), torch.tensor(expected, dtype=F64), rtol=1e-13, atol=0)


# --- Values and ldj are the unclamped formula ------------------------------------------------


def test_log_is_exact_far_below_epsilon():
    z, ldj = Log((len(SMALL),)).double()(_row(SMALL))
    _assert_exact(z, [math.log(p) for p in SMALL])
    _assert_exact(ldj, [-sum(math.log(p) for p in SMALL)])


def test_softplus_inv_is_exact_far_below_epsilon():
    # softplus_inv(x) = log(eˣ − 1), its log-derivative x − log(eˣ − 1): another closed form
    # than the layer's x + log(1 − e⁻ˣ).
    layer = SoftplusInv((1,)).double()
    for p in SMALL:
        z, ldj = layer(_row([p]))
        _assert_exact(z, [math.log(math.expm1(p))])
        _assert_exact(ldj, [p - math.log(math.expm1(p))])


@pytest.mark.parametrize("side", ["zero", "one"])
def test_logit_is_exact_near_both_ends(side):
    layer = Logit((1,)).double()
    for distance in SMALL if side == "zero" else NEAR_ONE:
        x = distance if side == "zero" else 1.0 - distance
        low, high = x, 1.0 - x  # both exact: 1 − x is exact for x in [1/2, 1]
        if side == "zero":
            log_low, log_high = math.log(low), math.log1p(-low)
        else:
            log_low, log_high = math.log(low), math.log(high)
        z, ldj = layer(_row([x]))
        _assert_exact(z, [log_low - log_high])
        _assert_exact(ldj, [-(log_low + log_high)])


def test_sorted_to_real_is_exact_for_tiny_gaps():
    layer = SortedToReal((2,), dim=0).double()
    for gap in SMALL + [2.0**-52]:
        first = 0.0 if gap != 2.0**-52 else 1.0
        y, ldj = layer(_row([first, first + gap]))
        _assert_exact(y, [first, math.log(gap)])
        _assert_exact(ldj, [-math.log(gap)])


def test_logit_normal_log_prob_is_exact_near_both_ends():
    distribution = LogitNormal((1,)).double()
    loc, scale = -3.0, 2.0
    with torch.no_grad():
        distribution.loc.fill_(loc)
        distribution.log_scale.fill_(math.log(scale))
    points = [(p, math.log(p), math.log1p(-p)) for p in SMALL]
    points += [(1.0 - d, math.log(1.0 - d), math.log(1.0 - (1.0 - d))) for d in NEAR_ONE]
    for u, log_u, log_one_minus_u in points:
        y = log_u - log_one_minus_u
        expected = -0.5 * ((y - loc) / scale) ** 2 - math.log(scale * math.sqrt(2 * math.pi))
        expected -= log_u + log_one_minus_u
        _assert_exact(distribution.log_prob(_row([u])), [expected])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_log_and_logit_are_exact_below_the_float32_epsilon_too(dtype):
    # The float32 clamp was at 1e-6; 1e-30 is a normal float32.
    points = [1e-30, 1e-10, 1e-7]
    z, _ = Log((3,)).to(dtype)(torch.tensor([points], dtype=dtype))
    expected = torch.tensor([math.log(p) for p in points], dtype=dtype)
    torch.testing.assert_close(z[0], expected)
    z, _ = Logit((3,)).to(dtype)(torch.tensor([points], dtype=dtype))
    expected = torch.tensor([math.log(p) - math.log1p(-p) for p in points], dtype=dtype)
    torch.testing.assert_close(z[0], expected)


# --- At the exact edges: the nearest interior value, finite with finite gradients ---------


def _finite_with_gradients(layer, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.clone().requires_grad_(True)
    z, ldj = layer(x)
    assert torch.isfinite(z).all() and torch.isfinite(ldj).all(), (z, ldj)
    # A latent normal with a small scale at the edge: large but finite upstream gradients.
    loss = (((z - 3.0) / 0.01) ** 2).sum() + ldj.sum()
    loss.backward()
    assert torch.isfinite(x.grad).all(), x.grad
    return z.detach(), ldj.detach()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_edge_points_move_to_the_nearest_interior_value(dtype):
    finfo = torch.finfo(dtype)
    below_one = 1.0 - finfo.eps / 2
    assert torch.tensor(below_one, dtype=dtype) < 1.0  # representable, and the next float down
    zero, one = torch.zeros(1, 1, dtype=dtype), torch.ones(1, 1, dtype=dtype)

    z, ldj = _finite_with_gradients(Log((1,)).to(dtype), zero)
    assert z.item() == pytest.approx(math.log(finfo.tiny), rel=1e-2)
    z, ldj = _finite_with_gradients(SoftplusInv((1,)).to(dtype), zero)
    assert z.item() == pytest.approx(math.log(finfo.tiny), rel=1e-2)
    z, ldj = _finite_with_gradients(Logit((2,)).to(dtype), torch.cat([zero, one], dim=1))
    assert z[0, 0].item() == pytest.approx(math.log(finfo.tiny), rel=1e-2)
    assert z[0, 1].item() == pytest.approx(-math.log(finfo.eps / 2), rel=1e-2)
    ties = torch.tensor([[0.5, 0.5, 0.5]], dtype=dtype)
    z, ldj = _finite_with_gradients(SortedToReal((3,), dim=0).to(dtype), ties)
    assert z[0, 1].item() == pytest.approx(math.log(finfo.tiny), rel=1e-2)


def test_negative_zero_is_an_edge_point_too():
    z, _ = Log((1,)).double()(torch.tensor([[-0.0]], dtype=F64))
    assert z.item() == math.log(TINY)


def test_logit_normal_is_finite_with_finite_gradients_at_both_ends():
    distribution = LogitNormal((3,)).double()
    with torch.no_grad():
        distribution.loc.fill_(-27.0)
        distribution.log_scale.fill_(math.log(0.01))
    x = torch.tensor([[0.0, 1.0, 0.5]], dtype=F64, requires_grad=True)
    log_p = distribution.log_prob(x)
    assert torch.isfinite(log_p).all()
    log_p.sum().backward()
    assert torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in distribution.parameters())
    # Outside [0, 1] the density is zero, and the gradients stay finite.
    distribution.zero_grad()
    outside = torch.tensor([[-0.5, 1.5, 0.5]], dtype=F64)
    log_p = distribution.log_prob(outside)
    assert log_p.item() == -math.inf
    log_p.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in distribution.parameters())


def test_logit_normal_samples_are_only_moved_off_the_exact_ends():
    distribution = LogitNormal((1,)).double()
    with torch.no_grad():
        distribution.loc.fill_(math.log(1e-20))  # every draw far below 1e-12, none at 0
        distribution.log_scale.fill_(math.log(0.1))
    u = distribution.sample(200, generator=torch.Generator().manual_seed(0))
    assert (u > 0).all() and (u < 1e-18).all()
    with torch.no_grad():
        distribution.loc.fill_(-800.0)  # sigmoid underflows to 0: moved to the interior
    u = distribution.sample(10, generator=torch.Generator().manual_seed(0))
    assert (u > 0).all() and torch.isfinite(distribution.log_prob(u)).all()


@pytest.mark.parametrize("name", ["log", "softplus_inv", "logit", "sorted_to_real", "logit_normal"])
def test_edge_handling_compiles_without_graph_breaks(name):
    x = torch.tensor([[0.0, 1e-300, 1e-300, 0.25], [1.0, 0.5, 0.5, 1.0]], dtype=F64)
    fn = {
        "log": Log((4,)).double(),
        "softplus_inv": SoftplusInv((4,)).double(),
        "logit": Logit((4,)).double(),
        "sorted_to_real": SortedToReal((4,), dim=0).double(),
        "logit_normal": LogitNormal((4,)).double().log_prob,
    }[name]
    if name == "sorted_to_real":
        x = torch.sort(x, dim=1).values
    eager, traced = fn(x), compiled_fullgraph(fn)(x)
    if not isinstance(eager, tuple):
        eager, traced = (eager,), (traced,)
    for value, traced_value in zip(eager, traced, strict=True):
        assert torch.isfinite(value).all()
        torch.testing.assert_close(traced_value, value, rtol=0, atol=0)


# --- The integral: an exact model with its latent at the edge integrates to one -----------

LOCATION = math.log(1e-12)
SCALE = 0.1


def _exact_model(layers: list, loc: list[float], scale: list[float]):
    """log p(x) of ``layers`` then a ``normal()`` latent with the given parameters, assembled
    from the runtime classes as the compiled code does: Σ ldj + log N(z; loc, scale)."""
    latent = Normal((len(loc),)).double()
    with torch.no_grad():
        latent.loc.copy_(torch.tensor(loc, dtype=F64))
        latent.log_scale.copy_(torch.tensor(scale, dtype=F64).log())
    layers = [layer.double() for layer in layers]

    def log_prob(x: torch.Tensor) -> torch.Tensor:
        total = torch.zeros(x.shape[0], dtype=F64)
        for layer in layers:
            x, ldj = layer(x)
            total = total + ldj
        return total + latent.log_prob(x)

    return log_prob


def _grid(low: float, high: float, step: float) -> tuple[torch.Tensor, float]:
    """Midpoints of a uniform grid on [low, high] and its step."""
    count = int(round((high - low) / step))
    step = (high - low) / count
    return low + step * (torch.arange(count, dtype=F64) + 0.5), step


def _integral_1d(log_prob, to_x, log_dx_dy, loc: float) -> float:
    """∫ p(x) dx over the data's domain as ∫ p(x(y)) |dx/dy| dy over a grid in the latent y,
    wide enough to hold both the latent's mass and anything an edge clamp piles up below it."""
    y, step = _grid(loc - 60.0, loc + 30.0, 0.002)
    with torch.no_grad():
        x = to_x(y).unsqueeze(1)
        return float((log_prob(x) + log_dx_dy(y)).exp().sum() * step)


def _log_sigmoid_derivative(y: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.logsigmoid(y) + torch.nn.functional.logsigmoid(-y)


LOGIT_OF_EPS = math.log(1e-12) - math.log1p(-1e-12)


@pytest.mark.parametrize("loc", [LOGIT_OF_EPS, -LOGIT_OF_EPS], ids=["at_1e-12", "at_1-1e-12"])
def test_logit_model_with_its_latent_at_an_edge_integrates_to_one(loc):
    log_prob = _exact_model([Logit((1,))], [loc], [SCALE])
    integral = _integral_1d(log_prob, torch.sigmoid, _log_sigmoid_derivative, loc)
    assert integral == pytest.approx(1.0, abs=0.01)


def test_log_model_with_its_latent_at_the_edge_integrates_to_one():
    log_prob = _exact_model([Log((1,))], [LOCATION], [SCALE])
    assert _integral_1d(log_prob, torch.exp, lambda y: y, LOCATION) == pytest.approx(1.0, abs=0.01)


def test_softplus_inv_model_with_its_latent_at_the_edge_integrates_to_one():
    loc = math.log(math.expm1(1e-12))
    log_prob = _exact_model([SoftplusInv((1,))], [loc], [SCALE])
    integral = _integral_1d(log_prob, torch.nn.functional.softplus, torch.nn.functional.logsigmoid, loc)
    assert integral == pytest.approx(1.0, abs=0.01)


def test_logit_normal_with_its_location_at_the_edge_integrates_to_one():
    distribution = LogitNormal((1,)).double()
    with torch.no_grad():
        distribution.loc.fill_(LOGIT_OF_EPS)
        distribution.log_scale.fill_(math.log(SCALE))
    integral = _integral_1d(distribution.log_prob, torch.sigmoid, _log_sigmoid_derivative, LOGIT_OF_EPS)
    assert integral == pytest.approx(1.0, abs=0.01)


def test_sorted_to_real_model_with_its_gap_latent_at_the_edge_integrates_to_one():
    # x in R^2 -> sort -> sorted_to_real -> normal: the sorted keys are (y0, y0 + e^{y1}), and
    # each sorted point stands for its 2 orderings. The first key's latent is narrow around 0,
    # so y0 + e^{y1} keeps a gap near 1e-12 to a relative 1e-5.
    first_scale = 0.01
    log_prob = _exact_model([Sort((2,), dim=0), SortedToReal((2,), dim=0)], [0.0, LOCATION], [first_scale, SCALE])
    y0, step0 = _grid(-8 * first_scale, 8 * first_scale, first_scale / 10)
    y1, step1 = _grid(LOCATION - 60.0, LOCATION + 5.0, 0.005)
    first, log_gap = torch.meshgrid(y0, y1, indexing="ij")
    x = torch.stack([first, first + log_gap.exp()], dim=-1).reshape(-1, 2)
    with torch.no_grad():
        density = (log_prob(x) + log_gap.reshape(-1)).exp()
    integral = 2.0 * float(density.sum() * step0 * step1)
    assert integral == pytest.approx(1.0, abs=0.01)


# --- dequantize: a margin only between cells, none at the ends of the unit interval --------


def test_dequantize_keeps_noise_near_the_ends_of_the_unit_interval():
    layer = Dequantize((3,), num_classes=4).double()
    x = torch.tensor([[0, 3, 1]])
    u = torch.tensor([[1e-300, 1.0 - 2.0**-50, 1e-300]], dtype=F64)
    z = layer.embed(x, u)
    assert z[0, 0].item() == 1e-300 / 4  # below cell 0: as it is
    assert z[0, 1].item() == 1.0 - 2.0**-52  # above cell 3: as it is, (4 − 2⁻⁵⁰)/4
    assert z[0, 2].item() == (1.0 + layer._margin(F64)) / 4  # between cells: the margin
    # Exact ends, and 3 + (1 − 2⁻⁵³) rounding onto 4: only z = 0 and 1 move, one float inward.
    edges = layer.embed(torch.tensor([[0, 3, 3]]), torch.tensor([[0.0, 1.0, 1.0 - 2.0**-53]], dtype=F64))
    assert edges.tolist() == [[TINY, BELOW_ONE, BELOW_ONE]]
    assert layer.inverse(edges).tolist() == [[0, 3, 3]]


@pytest.mark.parametrize("target", [1e-12 / 4, 1e-14 / 4, 1.0 - 1e-12 / 4])
@pytest.mark.slow
def test_dequantized_logit_model_with_its_latent_at_an_edge_has_mass_one(target):
    # Σ_x E_u[exp(log_prob(x))] = Σ_x ∫ p((x + u)/K) du / K = ∫ p(z) dz over (0, 1): the mass
    # of the dequantized model, integrated over u in its logit for each x.
    classes = 4
    layer = Dequantize((1,), num_classes=classes).double()
    loc = math.log(target) - math.log1p(-target)
    log_prob = _exact_model([Logit((1,))], [loc], [SCALE])
    y, step = _grid(-100.0, 100.0, 0.002)
    u = torch.sigmoid(y).unsqueeze(1)
    total = 0.0
    with torch.no_grad():
        for x in range(classes):
            z = layer.embed(torch.full((len(y), 1), x), u)
            total += float((log_prob(z) + _log_sigmoid_derivative(y)).exp().sum() * step / classes)
    assert total == pytest.approx(1.0, abs=0.01)
