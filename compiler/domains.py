"""Data domains, tensor types and folds (LANGUAGE.md §4, §6.3).

A continuous domain is an open interval (a, b) with infinite ends allowed: `real`, `positive`
and `unit` are its special cases. `int<K>` is discrete. `ordered` (what `sort` produces) is real
values sorted along an axis; it cannot be declared.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

INF = math.inf


@dataclass(frozen=True)
class Domain:
    """Where a tensor's values lie: an interval (lo, hi), `int<K>`, or `ordered`."""

    kind: str  # "interval" | "int" | "ordered"
    lo: float = -INF
    hi: float = INF
    classes: int = 0  # K for int<K>

    @property
    def is_discrete(self) -> bool:
        return self.kind == "int"

    @property
    def is_continuous(self) -> bool:
        return self.kind != "int"

    def contains(self, other: Domain) -> bool:
        """Whether every value of `other` lies in this domain."""
        if self.kind == "int" or other.kind == "int":
            # int<0> stands for "any number of classes" in what an op accepts
            return self.kind == other.kind and (self.classes == 0 or self.classes >= other.classes)
        if self.kind == "ordered":
            return other.kind == "ordered"
        return self.lo <= other.lo and other.hi <= self.hi

    def intersect(self, other: Domain) -> Domain:
        return interval(max(self.lo, other.lo), min(self.hi, other.hi))

    def __str__(self) -> str:
        if self.kind == "int":
            return f"int<{self.classes}>"
        if self.kind == "ordered":
            return "ordered"
        named = {(-INF, INF): "real", (0.0, INF): "positive", (0.0, 1.0): "unit"}
        return named.get((self.lo, self.hi), f"interval({_num(self.lo)}, {_num(self.hi)})")


def _num(value: float) -> str:
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    # Whole numbers in full up to 10**15; past that `1e+300`, not three hundred digits.
    return repr(int(value)) if float(value).is_integer() and abs(value) < 1e15 else f"{value:.6g}"


def interval(lo: float, hi: float) -> Domain:
    return Domain("interval", float(lo), float(hi))


REAL = interval(-INF, INF)
POSITIVE = interval(0.0, INF)
UNIT = interval(0.0, 1.0)
ORDERED = Domain("ordered")
ANY_INT = Domain("int", classes=0)


def integers(classes: int) -> Domain:
    return Domain("int", classes=classes)


def image(domain: Domain, fn: Callable[[float], float]) -> Domain:
    """The image of an interval under a monotone map (either direction)."""
    a, b = fn(domain.lo), fn(domain.hi)
    return interval(min(a, b), max(a, b))


@dataclass(frozen=True)
class Fold:
    """The region the latent model must stay inside for an upstream surjection to be exact.

    `region` is an interval (or `ordered`); `source` names the surjection and its line, for
    reports. `scrambled` marks an ordered fold whose axis has been rearranged: no consumer but a
    density over the whole set can respect it any more.
    """

    region: Domain
    source: str
    line: int
    scrambled: bool = False


@dataclass(frozen=True)
class TensorType:
    """A tensor's type without the batch axis: domain and shape, plus what §6.3 tracks."""

    domain: Domain
    shape: tuple[int, ...]
    fills: bool = True
    fold: Fold | None = None

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def __str__(self) -> str:
        return f"{self.domain}[{', '.join(map(str, self.shape))}]"
