"""Parsing and checking are re-entrant: the language server and the playground compile from
several threads, and a file compiled while others are compiled gives what it gives alone.

Every example and test model is parsed and checked by 4 of 8 threads running at once, each
thread in its own order, with the interpreter switching threads as often as it can; each
result (the AST, the diagnostics, the generated code) must equal the one-at-a-time result. A parser that keeps
state between parses (brackets left open, read back after a syntax error) fails this: a bad
file's unclosed `(` is reported or not depending on what another thread parses.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from survae_dsl.compiler.backends.codegen import emit_module
from survae_dsl.compiler.core.diagnostics import CompileError
from survae_dsl.compiler.core.source import Source
from survae_dsl.compiler.drivers.driver import check_source
from survae_dsl.compiler.frontend.parse import parse

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted(
    [
        *ROOT.glob("examples/**/*.survae"),
        *(ROOT / "tests" / "good").glob("*.survae"),
        *(ROOT / "tests" / "bad").glob("*.survae"),
    ]
)
THREADS = 8


def _parsed(text: str, filename: str) -> str:
    """The AST (its repr, spans included) or the syntax errors, as text."""
    try:
        return repr(parse(Source(filename, text)))
    except CompileError as exc:
        return exc.render()


def _compiled(text: str, filename: str) -> str:
    """The AST or the syntax errors; then the diagnostics of `check_source`, and on success
    the generated module, as text."""
    parsed = _parsed(text, filename)
    try:
        compilation = check_source(text, filename)
    except CompileError as exc:
        return parsed + "\n---\n" + exc.render()
    warnings = CompileError(compilation.warnings, compilation.source).render()
    return parsed + "\n---\n" + warnings + "\n---\n" + emit_module(compilation.models, filename)


def _results(order: list[int], texts: list[tuple[str, str]]) -> dict[int, str]:
    return {i: _compiled(*texts[i]) for i in order}


@pytest.fixture
def switch_often() -> Iterator[None]:
    """Threads take turns every 10 microseconds instead of every 5 ms: races show at once."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(interval)


def test_the_corpus_has_syntax_errors_and_unclosed_brackets() -> None:
    names = [path.name for path in FILES]
    assert len(FILES) > 100
    assert any(name.startswith("E102") for name in names)
    assert any("is not closed" in _parsed(path.read_text(encoding="utf-8"), path.name) for path in FILES)


def test_threads_compile_as_one_thread_does(switch_often: None) -> None:
    texts = [(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT))) for path in FILES]
    expected = _results(list(range(len(texts))), texts)
    # Thread k compiles every other file (those of k's parity), in an order of its own: each
    # file is compiled by 4 threads, alongside every other file.
    shares = [range(k % 2, len(texts), 2) for k in range(THREADS)]
    orders = [random.Random(k).sample(share, len(share)) for k, share in enumerate(shares)]
    with ThreadPoolExecutor(THREADS) as pool:
        outcomes = list(pool.map(lambda order: _results(order, texts), orders))
    for outcome in outcomes:
        for index, result in outcome.items():
            assert result == expected[index], f"{texts[index][1]} compiles differently in a thread"
