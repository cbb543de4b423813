"""Fuzzing the whole compiler: mutated models must give a module or diagnostics, never an
internal error, a traceback or a hang (issue: robustness).

Mutations of the shipped examples and test models — deleted, duplicated and swapped tokens,
random bytes, huge numbers, deep nesting — run through `check_source` and, when that succeeds,
`emit_module`. The seed is fixed (derandomized hypothesis) and the budget fits the suite; run
`SURVAE_FUZZ_EXAMPLES=5000 pytest tests/test_fuzz.py` by hand for a long run, and add
`SURVAE_FUZZ_SEED=N` to draw other cases than CI's.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from survae_dsl.compiler.backends.codegen import emit_module
from survae_dsl.compiler.core.diagnostics import CompileError
from survae_dsl.compiler.drivers.driver import check_source

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted(
    p.read_text(encoding="utf-8")
    for p in [*ROOT.glob("examples/**/*.survae"), *(ROOT / "tests" / "good").glob("*.survae")]
)
TOKEN = re.compile(
    r'"(?:\\.|[^"\\\n])*"|#[^\n]*|[A-Za-z_][A-Za-z0-9_]*|[+-]?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\|>|->|\S|\n'
)
EXAMPLES = int(os.environ.get("SURVAE_FUZZ_EXAMPLES", "150"))
SEED = os.environ.get("SURVAE_FUZZ_SEED")  # None: CI's fixed (derandomized) cases
ODD = [
    "1e999",
    "-1e999",
    "nan",
    "inf",
    "0",
    "-0",
    "99999999999999999999999",
    "1e-320",
    '"\\u202e"',
    "\r",
    "\t",
    "\x00",
    "é",
    "[[[[",
    "]]]]",
    "((((",
    "{",
    "}",
    ";",
    "~",
    "|>",
    "model",
    "repeat",
    "block",
    "return",
    "context",
    "transform",
    "__import__",
    "os",
    "torch",
    "snn",
    "self",
    "lambda",
]


def _compile(text: str) -> None:
    """The property: a compiled module or diagnostics; anything else fails the test."""
    try:
        compilation = check_source(text, "fuzz.survae")
    except CompileError as exc:
        assert exc.diagnostics, "a CompileError without diagnostics"
        assert all(re.fullmatch(r"[EW]\d{3}", d.code) for d in exc.diagnostics)
        exc.render()  # rendering must not fail either
        return
    code = emit_module(compilation.models, "fuzz.survae")
    assert "import os" not in code and "__import__" not in code.replace("'__import__'", "")


@st.composite
def mutated(draw: st.DrawFn) -> str:
    source = draw(st.sampled_from(SOURCES))
    tokens = TOKEN.findall(source)
    for _ in range(draw(st.integers(1, 4))):
        if not tokens:
            break
        i = draw(st.integers(0, len(tokens) - 1))
        action = draw(st.sampled_from(["delete", "duplicate", "swap", "odd", "bytes"]))
        if action == "delete":
            del tokens[i]
        elif action == "duplicate":
            tokens.insert(i, tokens[i])
        elif action == "swap":
            j = draw(st.integers(0, len(tokens) - 1))
            tokens[i], tokens[j] = tokens[j], tokens[i]
        elif action == "odd":
            tokens[i] = draw(st.sampled_from(ODD))
        else:
            tokens.insert(i, draw(st.text(min_size=1, max_size=6)))
    return "".join(t if t in "\n" else t + " " for t in tokens)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=SEED is None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@seed(int(SEED or 0))
@given(mutated())
def test_mutated_models_give_a_module_or_diagnostics(text: str) -> None:
    _compile(text)


@settings(max_examples=max(30, EXAMPLES // 10), deadline=None, derandomize=SEED is None, database=None)
@seed(int(SEED or 0))
@given(st.text(max_size=200))
def test_random_text_gives_diagnostics(text: str) -> None:
    _compile(text)


def test_the_unmutated_sources_compile() -> None:
    for source in SOURCES:
        _compile(source)
