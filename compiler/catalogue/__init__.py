"""The catalogue: every op, distribution and net the language knows, one entry each."""

from __future__ import annotations

from functools import lru_cache

from .base import (
    KIND_STYLES,
    Arg,
    CallValue,
    Construct,
    DistEntry,
    DistSlot,
    EmitArgs,
    Kind,
    NetEntry,
    NetSlot,
    OpEntry,
    Params,
    ShapeError,
    Slot,
    Style,
    TensorRef,
    UserImpl,
)
from .counts import Count, Formula, Nested, add_counts, no_parameters
from .distributions import DISTRIBUTIONS, NETS
from .ops import OPS

OP_TABLE: dict[str, OpEntry] = {e.name: e for e in OPS}
DIST_TABLE: dict[str, DistEntry] = {e.name: e for e in DISTRIBUTIONS}
NET_TABLE: dict[str, NetEntry] = {e.name: e for e in NETS}
# Runtime class name → the entry that builds it (each runtime class belongs to one entry).
_ENTRIES: tuple[OpEntry | DistEntry | NetEntry, ...] = (*OPS, *DISTRIBUTIONS, *NETS)
RUNTIME_TABLE: dict[str, OpEntry | DistEntry | NetEntry] = {e.runtime: e for e in _ENTRIES}


def role_of(name: str) -> str | None:
    """The role of `name`: "op", "distribution", "net", or None if the catalogue does not know it."""
    if name in OP_TABLE:
        return "op"
    if name in DIST_TABLE:
        return "distribution"
    if name in NET_TABLE:
        return "net"
    return None


def all_names() -> list[str]:
    return sorted([*OP_TABLE, *DIST_TABLE, *NET_TABLE])


@lru_cache(maxsize=1)
def runtime_names() -> frozenset[str]:
    """Every runtime class a generated module may construct (the catalogue is fixed at import)."""
    # AsDistribution wraps another model of the same file used as a distribution (§6.5).
    return frozenset(RUNTIME_TABLE) | {"AsDistribution"}


__all__ = [
    "DIST_TABLE",
    "KIND_STYLES",
    "NET_TABLE",
    "OP_TABLE",
    "RUNTIME_TABLE",
    "Arg",
    "CallValue",
    "Construct",
    "Count",
    "DistEntry",
    "DistSlot",
    "EmitArgs",
    "Formula",
    "Kind",
    "Nested",
    "NetEntry",
    "NetSlot",
    "OpEntry",
    "Params",
    "ShapeError",
    "Slot",
    "Style",
    "TensorRef",
    "UserImpl",
    "add_counts",
    "all_names",
    "no_parameters",
    "role_of",
    "runtime_names",
]
