"""A compile pauses Python's cyclic garbage collector and always gives it back as it was."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from survae_dsl.compiler.core.diagnostics import CompileError
from survae_dsl.compiler.drivers.driver import check_source
from survae_dsl.compiler.core.gc_pause import paused_gc

GOOD = "model M {\n    input x: real[2]\n    x ~ normal()\n}\n"


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


def test_a_disabled_collector_stays_disabled(collector: None) -> None:
    gc.disable()
    check_source(GOOD, "m.survae")
    assert not gc.isenabled()


def test_restored_after_a_failed_compile(collector: None) -> None:
    gc.enable()
    with pytest.raises(CompileError):
        check_source("model M {\n    input x: real[2]\n    x ~ nope()\n}\n", "m.survae")
    assert gc.isenabled()
