"""Random graphs (an exact claim is tested by integrating it): hypothesis draws small well-typed models from the
catalogue (`graphs.py`), the compiler judges them, and the oracle integrates every model it
accepts with perturbed parameters. An "exact" model must integrate to 1, a lower bound to at
most 1 (an exact model with a W401 waste warning: at most 1).

The hypothesis test is marked slow; it has a fixed seed (the same models on every run) and
draws `SURVAE_VERDICT_EXAMPLES` models (default 200). For a long run by hand:

    SURVAE_VERDICT_EXAMPLES=2000 .venv/bin/python -m pytest tests/verdict/test_random_graphs.py -m slow
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, assume, event, given, seed, settings
from hypothesis import strategies as st

import survae_dsl

from .graphs import OPS, RandomChooser, draw_model, hypothesis_chooser, single_op_model
from .models import integrate_class, model_info, size_of
from .oracle import Check, OracleError

EXAMPLES = int(os.environ.get("SURVAE_VERDICT_EXAMPLES", "200"))


@dataclass
class Judgement:
    """What happened to one drawn model: rejected (with why) or integrated (checks)."""

    text: str
    rejected: str | None = None
    checks: list[Check] | None = None

    @property
    def failed(self) -> bool:
        return self.checks is not None and not all(c.holds for c in self.checks)


def judge(text: str, seed: int) -> Judgement:
    """Compile a drawn file and integrate its model `M` at one parameter seed."""
    try:
        cls = survae_dsl.compile_source(text, filename="random.survae")["M"]
    except survae_dsl.CompileError as exc:
        return Judgement(text, rejected="does not compile: " + ",".join(sorted({d.code for d in exc.diagnostics})))
    why = size_of(cls).too_large()
    if why:
        return Judgement(text, rejected=f"too large: {why}")
    info = model_info(text, "random.survae")["M"]
    try:
        checks = integrate_class(cls, info.contexts, seeds=(seed,), waste=info.waste)
    except OracleError as exc:
        return Judgement(text, rejected=f"oracle: {exc}")
    return Judgement(text, checks=checks)


@st.composite
def model_texts(draw) -> str:
    return draw_model(hypothesis_chooser(draw))


@pytest.mark.slow
@seed(0)  # the same models on every run (and, unlike derandomize, whatever this file's source)
@settings(
    max_examples=EXAMPLES,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
@given(text=model_texts(), parameters=st.integers(0, 3))
def test_random_graph_keeps_its_promise(text: str, parameters: int):
    judgement = judge(text, parameters)
    if judgement.rejected is not None:
        event(judgement.rejected if "compile" in judgement.rejected else judgement.rejected.split(":")[0])
        assume(False)
    assert judgement.checks is not None
    event(f"integrated: {judgement.checks[0].likelihood}")
    if judgement.failed:
        report = "\n".join(str(c) for c in judgement.checks)
        pytest.fail(f"the verdict does not hold:\n{report}\n--- model ---\n{text}", pytrace=False)


def test_the_generator_writes_models_that_compile():
    # The typed grammar stays in step with the language: most drawn models compile (fast:
    # compiling only, no integrals).
    draws = 120
    accepted = 0
    for draw in range(draws):
        try:
            survae_dsl.compile_source(draw_model(RandomChooser(draw)), filename="random.survae")
            accepted += 1
        except survae_dsl.CompileError:
            pass
    assert accepted >= 0.75 * draws, f"only {accepted} of {draws} drawn models compile"


@pytest.mark.parametrize("name", [n for n, e in OPS.items() if not e.risky])
def test_each_op_of_the_generator_compiles(name):
    # One entry per op: each writes a statement the compiler accepts (for some of its drawn
    # arguments and closing distributions), so a renamed keyword shows up here.
    errors = []
    for draw in range(12):
        text = single_op_model(name, RandomChooser(draw))
        assert text is not None, f"`{name}` applies to none of the single-op inputs"
        try:
            survae_dsl.compile_source(text, filename="random.survae")
            return
        except survae_dsl.CompileError as exc:
            errors.append(f"{text}{exc}")
    pytest.fail(f"`{name}` never compiled:\n" + "\n".join(errors[:2]))
