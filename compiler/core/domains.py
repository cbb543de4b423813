"""Data domains, tensor types and folds (docs/language.md, Types).

A continuous domain is an open interval (a, b) with infinite ends allowed: `real`, `positive`
and `unit` are its special cases. `int<K>` is discrete. `ordered` is not a domain of values
but the region of an ordered fold (what `sort` leaves): sorted values keep their domain.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

# The domain type and its names live in `survae_dsl.types` (standard library only), shared with
# the runtime, `survae_dsl.data` and the trainer; the compiler adds folds and parts on top.
from survae_dsl.types import (
    ANY_INT,
    DOMAIN_NAMES,
    DOMAINS_TEXT,
    INF,
    NAMED_DOMAINS,
    ORDERED,
    POSITIVE,
    REAL,
    UNIT,
    Domain,
    integers,
    interval,
)
from survae_dsl.types import TensorType as DeclaredType


def image(domain: Domain, fn: Callable[[float], float]) -> Domain:
    """The image of an interval under a monotone map (either direction)."""
    a, b = fn(domain.lo), fn(domain.hi)
    return interval(min(a, b), max(a, b))


@dataclass(frozen=True)
class Origin:
    """The identity of a fold: the unrolled op that made it (docs/language.md, What the checker enforces).

    `chain` places the op inside `repeat`s and block calls, outermost first ("iteration 2 of
    the `repeat` at line 5", "the call of `Step` at line 9"), so two copies of one line are two
    folds and a report names the copy.
    """

    op: str
    line: int
    chain: tuple[str, ...] = ()

    def describe(self) -> str:
        """`abs` (line 7, iteration 2 of the `repeat` at line 5): for sentences."""
        return f"`{self.op}` ({self.where()})"

    def where(self) -> str:
        return f"line {self.line}" + "".join(f", {step}" for step in self.chain)


@dataclass(frozen=True)
class Fold:
    """The region the latent model must stay inside for an upstream surjection to be exact.

    An interval fold (`region` an interval) constrains each entry on its own: `abs` puts
    `positive` on its output. An ordered fold (`region` is ORDERED) constrains entries jointly:
    `sort` made the entries `start`..`stop` of a run of `length` entries ascending along `axis`
    (of the part that holds it). It is intact while it covers the whole run unchanged but for
    increasing maps; `broken` says why it no longer holds (entries reordered, or a cut run
    mapped on its own), after which the values need not be ascending at all.
    """

    region: Domain
    origin: Origin
    axis: int = 0
    length: int = 0
    start: int = 0
    stop: int = 0
    broken: str | None = None
    # The increasing maps applied since `sort` (op and line): pieces of one run mapped apart
    # are no longer one run when put back side by side.
    maps: tuple[str, ...] = ()
    # An interval fold whose entries were mapped by different numbers (`shift(by=[...])`): each
    # entry has a region of its own and `region` is only the part they all share, so a map
    # that closes `region` need not close every entry's (the op and line, for hints).
    uneven: str | None = None

    @property
    def ordered(self) -> bool:
        return self.region.kind == "ordered"

    @property
    def whole(self) -> bool:
        """An ordered fold over its whole run, in order: what `sorted_to_real` closes."""
        return self.ordered and self.broken is None and (self.start, self.stop) == (0, self.length)

    @property
    def ascending(self) -> bool:
        """Whether the values are still ascending along `axis` (a cut run still is)."""
        return self.ordered and self.broken is None

    @property
    def source(self) -> str:
        return self.origin.op

    @property
    def line(self) -> int:
        return self.origin.line

    def label(self) -> str:
        """`positive (from `abs`, line 7)`, or the ordered run and what became of it."""
        source = f"from `{self.origin.op}`, {self.origin.where()}"
        if not self.ordered:
            return f"{self.region} ({source})"
        if self.broken:
            state = f"; {self.broken}"
        else:
            state = "" if self.whole else f"; entries {self.start}..{self.stop - 1} of {self.length}"
        return f"ordered along dim {self.axis} ({source}{state})"


@dataclass(frozen=True)
class Part:
    """A range of entries along a tensor's part axis with one domain, fill and set of folds."""

    size: int
    domain: Domain
    fills: bool = True
    folds: tuple[Fold, ...] = ()


@dataclass(frozen=True)
class TensorType:
    """A tensor's type without the batch axis: its shape and its parts (docs/language.md, What the checker enforces).

    `parts` cut the tensor along `axis` into consecutive ranges, each with its own domain, fill
    and folds; a tensor whose entries all agree has one part. `domain`, `fills` and `fold`
    summarise the parts for readers that need one answer (the hull, all fill, the first fold).
    """

    shape: tuple[int, ...]
    parts: tuple[Part, ...]
    axis: int = 0

    @staticmethod
    def uniform(domain: Domain, shape: tuple[int, ...], fills: bool = True, folds: tuple[Fold, ...] = ()) -> TensorType:
        """A tensor whose entries share one domain, fill and fold set."""
        return TensorType(tuple(shape), (Part(shape[0] if shape else 1, domain, fills, folds),), 0)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    # One part is the usual case, asked about several times per op: answered without building
    # the summary of many.
    @property
    def domain(self) -> Domain:
        if len(self.parts) == 1:
            return self.parts[0].domain
        return hull([p.domain for p in self.parts])

    @property
    def fills(self) -> bool:
        if len(self.parts) == 1:
            return self.parts[0].fills
        return len({p.domain for p in self.parts}) == 1 and all(p.fills for p in self.parts)

    @property
    def folds(self) -> tuple[Fold, ...]:
        """Every fold of every part, each once, in part order."""
        if len(self.parts) == 1:
            return self.parts[0].folds
        return tuple(dict.fromkeys(f for p in self.parts for f in p.folds))

    @property
    def fold(self) -> Fold | None:
        return next(iter(self.folds), None)

    @property
    def divided(self) -> bool:
        """Whether its parts differ (what `--check` shows part by part)."""
        return len(self.parts) > 1

    def declared(self) -> DeclaredType:
        """The `survae_dsl.types` value of this type (hull domain and shape): what users see."""
        return DeclaredType(self.domain, self.shape)

    def __str__(self) -> str:
        return str(self.declared())


def hull(domains: list[Domain]) -> Domain:
    """The smallest domain holding each of `domains` (all of one kind)."""
    if len(set(domains)) == 1:
        return domains[0]
    if any(d.is_discrete for d in domains):
        return Domain("int", classes=max(d.classes for d in domains))
    return interval(min(d.lo for d in domains), max(d.hi for d in domains))


__all__ = [
    "ANY_INT",
    "DOMAINS_TEXT",
    "DOMAIN_NAMES",
    "INF",
    "NAMED_DOMAINS",
    "ORDERED",
    "POSITIVE",
    "REAL",
    "UNIT",
    "DeclaredType",
    "Domain",
    "Fold",
    "Origin",
    "Part",
    "TensorType",
    "hull",
    "image",
    "integers",
    "interval",
]
