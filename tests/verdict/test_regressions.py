"""Known wrong verdicts and known leaks of mass, one tiny model each (docs/language.md, What the checker enforces).

Each test asserts both what the checker says (the likelihood class, a warning, or an error)
and what the oracle measures (the integral of exp(log_prob) with perturbed parameters).
A verdict that must not be "exact" is checked against the bound's promise (∫ ≤ 1 + tol) and
the measured integral is printed in the failure message, so a wrong "exact" shows its number.
"""

from __future__ import annotations

import math

import pytest
import torch

import survae_dsl

from .models import integrate_class, model_info
from .oracle import F64, TOL, Check, InputSpec, Target, integrate, perturb, verdict_holds

SEEDS = (0, 1)


def _compile(text: str) -> dict[str, type] | survae_dsl.CompileError:
    try:
        return survae_dsl.compile_source(text, filename="regression.survae")
    except survae_dsl.CompileError as exc:
        return exc


def _report(checks: list[Check]) -> str:
    return "\n".join(f"  {c.label}: ∫ = {c.estimate}" for c in checks)


def _checks(text: str, name: str, expected: str, **kwargs) -> tuple[type, list[Check], str]:
    """Compile (a CompileError fails the test), integrate against the expected class."""
    classes = _compile(text)
    assert not isinstance(classes, survae_dsl.CompileError), f"does not compile:\n{classes}"
    cls = classes[name]
    info = model_info(text, "regression.survae")[name]
    checks = integrate_class(cls, info.contexts, seeds=SEEDS, likelihood=expected, waste=info.waste, **kwargs)
    return cls, checks, _report(checks)


def assert_not_exact(text: str, name: str, **kwargs) -> None:
    """The checker must say "lower bound" (or reject the model), and the integral must keep the
    bound's promise ∫ ≤ 1 + tol."""
    classes = _compile(text)
    if isinstance(classes, survae_dsl.CompileError):
        return  # an error is an honest answer too
    _, checks, report = _checks(text, name, "lower_bound", **kwargs)
    claimed = classes[name].likelihood
    assert claimed == "lower_bound", f"{name} is called {claimed!r}; the oracle measured:\n{report}"
    assert all(c.holds for c in checks), f"{name}: log_prob integrates above 1:\n{report}"


def assert_exact(text: str, name: str, **kwargs) -> None:
    """The checker must say "exact" without a waste warning and the integral must be 1 ± tol."""
    cls, checks, report = _checks(text, name, "exact", **kwargs)
    assert cls.likelihood == "exact", f"{name} is called {cls.likelihood!r}; the oracle measured:\n{report}"
    assert not model_info(text, "regression.survae")[name].waste, f"{name} has a W401; the oracle measured:\n{report}"
    assert all(verdict_holds("exact", c.estimate) for c in checks), f"{name} must integrate to 1:\n{report}"


# ---------------------------------------------------------------------------- ordered folds


def test_sort_by_key_0_closed_with_key_1_is_not_exact():
    assert_not_exact(
        """
model SortKeyMismatch {
    input x: real[2, 2]
    h = sort(x, dim=1, key=0)
    h = sorted_to_real(h, dim=1, key=1)
    h ~ normal()
}
""",
        "SortKeyMismatch",
    )


def test_split_sorted_then_concat_in_the_other_order_is_not_exact():
    assert_not_exact(
        """
model SortedHalvesSwapped {
    input x: real[3]
    h = sort(x, dim=0)
    a, b = split(h)
    h = concat(b, a)
    h = sorted_to_real(h, dim=0)
    h ~ normal()
}
""",
        "SortedHalvesSwapped",
    )


def test_concat_of_two_sorted_vectors_closed_as_one_is_not_exact():
    assert_not_exact(
        """
model TwoSortedJoined {
    input x: real[2]
    input y: real[2]
    a = sort(x, dim=0)
    b = sort(y, dim=0)
    h = concat(a, b)
    h = sorted_to_real(h, dim=0)
    h ~ normal()
}
""",
        "TwoSortedJoined",
    )


def test_split_sorted_and_each_half_closed_is_not_exact():
    assert_not_exact(
        """
model SortedHalvesClosedApart {
    input x: real[4]
    h = sort(x, dim=0)
    a, b = split(h)
    a = sorted_to_real(a, dim=0)
    b = sorted_to_real(b, dim=0)
    a ~ normal()
    b ~ normal()
}
""",
        "SortedHalvesClosedApart",
    )


def test_sort_then_exp_then_sorted_to_real_is_exact():
    # exp keeps the order: the ordered fold is carried through and closed. sorted_to_real
    # keeps the first key as it is (positive after exp), so it gets a positive density; a
    # normal on the whole tensor would waste mass on negative first keys (W401, ∫ < 1).
    assert_exact(
        """
model SortExpClose {
    input x: real[2]
    h = sort(x, dim=0)
    h = exp(h)
    h = sorted_to_real(h, dim=0)
    first, gaps = split(h, sizes=[1, 1])
    first ~ truncated_normal()
    gaps ~ normal()
}
""",
        "SortExpClose",
    )


@pytest.mark.slow
def test_set_sorted_by_its_key_row_with_the_other_row_split_off_is_exact():
    # Rows other than the key carry no order constraint of their own (§6.3).
    assert_exact(
        """
model SetByKey {
    input x: real[2, 2]
    h = sort(x, dim=1, key=0)
    k, v = split(h, dim=0)
    k = sorted_to_real(k, dim=1, key=0)
    k ~ normal()
    v ~ normal()
}
""",
        "SetByKey",
    )


# ---------------------------------------------------------------------- positive folds, per entry


@pytest.mark.slow
def test_concat_of_abs_and_exp_abs_keeps_a_fold_one_to_infinity():
    # softplus_inv ends abs's (0, ∞) fold but maps exp(abs)'s (1, ∞) fold onto (0.54, ∞): the
    # normal then leaks, and the model may be called exact only if it integrates to 1.
    text = """
model AbsAndExpAbs {
    input a: real[1]
    input b: real[1]
    p = abs(a)
    q = b |> abs() |> exp()
    h = concat(p, q)
    h = softplus_inv(h)
    h ~ normal()
}
"""
    classes = _compile(text)
    if isinstance(classes, survae_dsl.CompileError):
        return
    cls, checks, report = _checks(text, "AbsAndExpAbs", classes["AbsAndExpAbs"].likelihood)
    assert all(c.holds for c in checks), f"called {cls.likelihood!r}, but:\n{report}"
    assert cls.likelihood == "lower_bound", f"called {cls.likelihood!r}; the oracle measured:\n{report}"


@pytest.mark.slow
def test_log_of_concat_of_abs_and_sigmoid_warns_waste():
    text = """
model AbsAndSigmoidLogged {
    input a: real[1]
    input b: real[1]
    p = abs(a)
    q = sigmoid(b)
    h = concat(p, q)
    h = log(h)
    h ~ normal()
}
"""
    cls, checks, report = _checks(text, "AbsAndSigmoidLogged", _compile(text)["AbsAndSigmoidLogged"].likelihood)
    assert "W401" in model_info(text)["AbsAndSigmoidLogged"].warnings, f"no W401; the oracle measured:\n{report}"
    assert all(c.holds for c in checks), f"called {cls.likelihood!r}, but:\n{report}"


def test_concat_of_abs_and_real_split_back_and_closed_is_exact():
    assert_exact(
        """
model AbsJoinedAndSplit {
    input a: real[1]
    input b: real[1]
    p = abs(a)
    h = concat(p, b)
    p, q = split(h)
    p = softplus_inv(p)
    p ~ normal()
    q ~ normal()
}
""",
        "AbsJoinedAndSplit",
    )


# ------------------------------------------------------------------------------ used models


def test_positive_prior_that_generates_negatives_after_abs_is_not_exact():
    assert_not_exact(
        """
model LeakyPositive {
    input p: positive[1]
    h = log(p)
    h = shift(h, by=-1)
    h = exp(h)
    h ~ normal()
}

model AbsWithLeakyPrior {
    input x: real[1]
    h = abs(x)
    h ~ LeakyPositive()
}
""",
        "AbsWithLeakyPrior",
    )


def test_gap_model_with_waste_as_max_pool_decoder_is_not_exact():
    assert_not_exact(
        """
model LeakyGaps {
    input g: positive[1, 1]
    g ~ normal()
}

model PoolWithLeakyGaps {
    input x: real[1, 2]
    h = max_pool(x, kernel=2, decoder=LeakyGaps())
    h ~ normal()
}
""",
        "PoolWithLeakyGaps",
    )


SUB_NORMALISED_ENCODER = """
model Inner {
    input v: unit[1]
    v ~ normal()
}

model Noise {
    context x: int<4>[1]
    input u: unit[1]
    u ~ Inner()
}

model Deq {
    input x: int<4>[1]
    h = dequantize(x, encoder=Noise)
    h = logit(h)
    h ~ normal()
}
"""


def _true_log_mass(model: torch.nn.Module, classes: int) -> torch.Tensor:
    """log P(x) for x = 0..K−1 of `Deq`: the flow puts logit(z) ~ N(μ, σ), so the mass of the
    cell (x/K, (x+1)/K) is Φ((logit((x+1)/K) − μ)/σ) − Φ((logit(x/K) − μ)/σ)."""
    parameters = dict(model.named_parameters())
    mu, sigma = parameters["normal_1.loc"].reshape(()), parameters["normal_1.log_scale"].exp().reshape(())
    edges = torch.logit(torch.arange(classes + 1, dtype=F64) / classes)  # −inf, ..., +inf
    cdf = torch.special.ndtr((edges - mu) / sigma)
    return torch.log(cdf[1:] - cdf[:-1])


def test_sub_normalised_encoder_is_rejected_or_an_honest_bound():
    classes = _compile(SUB_NORMALISED_ENCODER)
    if isinstance(classes, survae_dsl.CompileError):
        assert any(d.code == "E410" for d in classes.diagnostics), str(classes)
        return
    cls = classes["Deq"]
    rows = []
    for seed in SEEDS:
        torch.manual_seed(seed)
        model = cls().double()
        perturb(model, seed)
        x = torch.arange(4).reshape(4, 1)
        with torch.no_grad():
            truth = _true_log_mass(model, 4)
            mean = model.log_prob(x.repeat(2000, 1)).reshape(2000, 4).mean(dim=0)
            iw = survae_dsl.iw_log_prob(model, x, k=2000)
        rows.append((seed, truth, mean, iw))
    report = "\n".join(
        f"  seed {s}: log P(x) {t.tolist()}\n    mean log_prob {m.tolist()}\n    iw(k=2000) {w.tolist()}"
        for s, t, m, w in rows
    )
    print(f"accepted without E410 (an encoder using a model with waste); its numbers:\n{report}")
    assert cls.likelihood == "lower_bound", report
    for _, truth, mean, iw in rows:
        assert (mean <= truth + TOL).all() and (iw <= truth + TOL).all(), f"the bound exceeds log P(x):\n{report}"


SATURATING_ENCODER = """
model Noise {
    context x: int<4>[1]
    input u: unit[1]
    h = logit(u)
    h ~ normal()
}

model Deq {
    input x: int<4>[1]
    h = dequantize(x, encoder=Noise)
    h = logit(h)
    h ~ normal()
}
"""


_SATURATES = pytest.mark.xfail(
    strict=True,
    reason="known, open: past about ±37 (float64; ±17 in float32) the encoder's u rounds onto an end of (0, 1) "
    "and log q is the density at the rounded point, not the mass of the atom it stands for; "
    "see the closing note of issue 15",
)


@pytest.mark.parametrize(
    "location", [40.0, pytest.param(100.0, marks=_SATURATES), pytest.param(-800.0, marks=_SATURATES)]
)
def test_dequantize_with_an_encoder_that_saturates_stays_below_log_p(location):
    # Found while building the oracle (not in the list of known cases): an exact encoder whose
    # latent sits past ±37 draws u that rounds to 0 or 1 in float64; if log q is evaluated at
    # the rounded (then clamped) u instead of at the latent that drew it, −log q is wrong by
    # thousands of nats and the "lower bound" rises far above log P(x) ≤ 0.
    cls = survae_dsl.compile_source(SATURATING_ENCODER)["Deq"]
    model = cls().double()
    with torch.no_grad():
        dict(model.named_parameters())["dequantize_1.encoder.model.normal_1.loc"].fill_(location)
    x = torch.arange(4).reshape(4, 1)
    torch.manual_seed(0)
    with torch.no_grad():
        truth = _true_log_mass(model, 4)
        mean = model.log_prob(x.repeat(500, 1)).reshape(500, 4).mean(dim=0)
        iw = survae_dsl.iw_log_prob(model, x, k=500)
    report = f"log P(x) {truth.tolist()}\n  mean log_prob {mean.tolist()}\n  iw(k=500) {iw.tolist()}"
    assert cls.likelihood == "lower_bound"
    assert (mean <= truth + TOL).all() and (iw <= truth + TOL).all(), f"the bound exceeds log P(x):\n  {report}"


# ------------------------------------------------------------- adversarial parameters (clamps)


def _set_normal(path: str, loc: float, log_scale: float = 0.0):
    def adjust(model: torch.nn.Module) -> None:
        parameters = dict(model.named_parameters())
        with torch.no_grad():
            parameters[f"{path}.loc"].fill_(loc)
            parameters[f"{path}.log_scale"].fill_(log_scale)

    return adjust


UNIT_EDGE = """
model UnitEdge {
    input x: unit[1]
    h = logit(x)
    h ~ normal()
}
"""


@pytest.mark.parametrize("log_scale", [0.0, -2.0], ids=["sigma=1", "sigma=e^-2"])
@pytest.mark.parametrize(
    "location", [math.log(1e-12), math.log(torch.finfo(F64).eps)], ids=["logit(1e-12)", "log(float64-eps)"]
)
def test_unit_model_with_its_latent_at_the_edge_integrates_to_one(location, log_scale):
    # The latent sits where logit's clamp would pile up (or drop) mass (§6.3, clamps add no
    # mass); logit(1e-12) ≈ log(1e-12) to 1e-12.
    assert_exact(UNIT_EDGE, "UnitEdge", adjust=_set_normal("normal_1", location, log_scale))


POOL_EDGE = """
model Gaps {
    input g: positive[1, 1]
    h = log(g)
    h ~ normal()
}

model PoolEdge {
    input x: real[1, 2]
    h = max_pool(x, kernel=2, decoder=Gaps())
    h ~ normal()
}
"""


def test_max_pool_with_gaps_at_1e_12_integrates_to_one():
    # Gaps of 1e-12 make a ridge along x1 = x2 that no grid over x resolves: integrate over
    # (maximum m, gap g, position of the maximum) instead, x = (m, m − g) or (m − g, m),
    # a map with unit Jacobian, with g on a log scale.
    cls = survae_dsl.compile_source(POOL_EDGE)["PoolEdge"]
    assert cls.likelihood == "exact"
    adjust = _set_normal("max_pool_1.decoder.model.normal_1", math.log(1e-12))
    specs = [
        InputSpec("m", (1,), "interval"),
        InputSpec("g", (1,), "interval", 0.0, math.inf),
        InputSpec("position", (1,), "int", classes=2),
    ]
    results = []
    for seed in SEEDS:
        torch.manual_seed(seed)
        model = cls().double()
        perturb(model, seed)
        adjust(model)

        def log_prob(inputs, model=model):
            m, g, first = inputs[0][:, 0], inputs[1][:, 0], inputs[2][:, 0] == 0
            x = torch.stack([torch.where(first, m, m - g), torch.where(first, m - g, m)], dim=1)
            return model.log_prob(x.reshape(-1, 1, 2))

        def sample(n, model=model):
            with torch.no_grad():
                x = model.sample(n).reshape(n, 2)
            top, low = x.max(dim=1).values, x.min(dim=1).values
            return [top[:, None], (top - low)[:, None], (x[:, 0] < x[:, 1]).long()[:, None]]

        results.append(integrate(Target(specs, log_prob, sample)))
    report = "\n".join(f"  seed {s}: ∫ = {e}" for s, e in zip(SEEDS, results, strict=True))
    assert all(verdict_holds("exact", e) for e in results), f"PoolEdge with gaps at 1e-12:\n{report}"
