"""The command line pauses Python's cyclic garbage collector for a run and always gives it
back as it was; the library calls (`compile_source`, `check_source`, ...) never touch it, so a
program that compiles models (a notebook, a server) keeps the collector it set."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import survae_dsl
from survae_dsl.compiler.backends.codegen import emit_module
from survae_dsl.compiler.core.diagnostics import CompileError
from survae_dsl.compiler.core.gc_pause import paused_gc
from survae_dsl.compiler.drivers import cli as cli_module
from survae_dsl.compiler.drivers.driver import check_source
from survae_dsl.compiler.frontend import format as format_module
from survae_dsl.compiler.frontend.format import format_source

GOOD = "model M {\n    input x: real[2]\n    x ~ normal()\n}\n"
BAD = "model M {\n    input x: real[2]\n    x ~ nope()\n}\n"


@pytest.fixture
def collector() -> Iterator[None]:
    enabled = gc.isenabled()
    yield
    (gc.enable if enabled else gc.disable)()


def test_paused_inside_and_restored_after(collector: None) -> None:
    gc.enable()
    with paused_gc():
        assert not gc.isenabled()
        with paused_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner pause does not resume the outer one
    assert gc.isenabled()


def _watched(function: Callable[..., Any], seen: list[bool]) -> Callable[..., Any]:
    """`function`, noting in `seen` whether the collector runs while it is called."""

    def watched(*args: Any, **kwargs: Any) -> Any:
        seen.append(gc.isenabled())
        return function(*args, **kwargs)

    return watched


@pytest.mark.parametrize("text", [GOOD, BAD], ids=["good", "bad"])
def test_the_command_line_pauses_for_a_run_and_restores(
    collector: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, cli: Callable[..., Any], text: str
) -> None:
    seen: list[bool] = []
    monkeypatch.setattr(cli_module, "check_source", _watched(check_source, seen))
    path = tmp_path / "m.survae"
    path.write_text(text, encoding="utf-8")
    gc.enable()
    assert cli(path, "--check").status == (0 if text == GOOD else 1)
    assert seen == [False]
    assert gc.isenabled()
    gc.disable()
    cli(path, "--check")
    assert not gc.isenabled()  # a disabled collector stays disabled


def test_the_formatter_pauses_for_a_run_and_restores(
    collector: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen: list[bool] = []
    monkeypatch.setattr(format_module, "format_source", _watched(format_source, seen))
    path = tmp_path / "m.survae"
    path.write_text(GOOD, encoding="utf-8")
    gc.enable()
    assert format_module.main(["--check", str(path)]) == 0
    assert seen == [False]
    assert gc.isenabled()


def test_the_library_never_touches_the_collector(collector: None, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(gc, "disable", lambda: calls.append("disable"))
    monkeypatch.setattr(gc, "enable", lambda: calls.append("enable"))
    seen: list[bool] = []
    emitted = _watched(emit_module, seen)
    monkeypatch.setattr("survae_dsl.compiler.drivers.api.emit_module", emitted)
    classes = survae_dsl.compile_source(GOOD, "m.survae")
    assert list(classes) == ["M"]
    assert seen == [True]  # the collector runs while the library compiles
    survae_dsl.check(GOOD)
    emit_module(check_source(GOOD, "m.survae").models, "m.survae")
    format_source(GOOD)
    for call in (lambda: check_source(BAD, "m.survae"), lambda: survae_dsl.compile_source(BAD)):
        with pytest.raises(CompileError):
            call()
    assert calls == []
