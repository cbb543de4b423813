"""Every catalogue entry carries its own parameter-count formula (catalogue/counts.py).

A new op, distribution or net with a runtime class must say how many parameters it builds,
beside its definition; `backends/param_count.py` only looks the formulas up by runtime name.
"""

from __future__ import annotations

import pytest

from survae_dsl.compiler.backends.param_count import FORMULAS
from survae_dsl.compiler.catalogue import RUNTIME_TABLE, DistEntry, NetEntry, OpEntry
from survae_dsl.compiler.catalogue.distributions import DISTRIBUTIONS, NETS
from survae_dsl.compiler.catalogue.ops import OPS

ENTRIES: list[OpEntry | DistEntry | NetEntry] = [*OPS, *DISTRIBUTIONS, *NETS]


@pytest.mark.parametrize("entry", ENTRIES, ids=[f"{type(e).__name__}-{e.name}" for e in ENTRIES])
def test_every_entry_with_a_runtime_class_has_a_formula(entry: OpEntry | DistEntry | NetEntry) -> None:
    assert entry.runtime, f"`{entry.name}` has no runtime class"
    assert callable(entry.parameters), f"`{entry.name}` ({entry.runtime}) has no `parameters` formula"


def test_each_runtime_class_belongs_to_one_entry() -> None:
    assert len(RUNTIME_TABLE) == len(ENTRIES)
    assert all(RUNTIME_TABLE[e.runtime] is e for e in ENTRIES)


def test_the_counts_use_the_entries_formulas() -> None:
    for entry in ENTRIES:
        assert FORMULAS[entry.runtime] is entry.parameters
