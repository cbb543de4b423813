"""The value types of `.survae` data: a domain and a tensor type (docs/language.md, Types).

Standard library only, so that the compiler, the runtime, `survae_dsl.data` and the trainer
share one vocabulary, and `--standalone` modules can carry this file verbatim:

    >>> t = parse_type("int<17>[1, 8, 8]")
    >>> t.domain.classes, t.shape, str(t)
    (17, (1, 8, 8), 'int<17>[1, 8, 8]')

A continuous domain is an open interval (a, b) with infinite ends allowed: `real`, `positive`
and `unit` are its special cases. `int<K>` is discrete. `ordered` is not a domain of values
but the region of an ordered fold (what `sort` leaves); it cannot be declared or parsed.
`str()` writes the canonical text (interval bounds as whole numbers, else to 6 significant
digits) and `parse_type` reads it back.
"""

from __future__ import annotations

import math
import re

INF = math.inf

# The domains a declared type may name, and how messages list them.
DOMAIN_NAMES: tuple[str, ...] = ("real", "positive", "unit", "interval", "int")
DOMAINS_TEXT = "real, positive, unit, interval(a, b) and int<K>"


class _Frozen:
    """Immutable value objects compared and hashed by their fields. Not `dataclasses`: a
    `--standalone` module carries this file and may be loaded without a `sys.modules` entry,
    which `dataclass` needs under `from __future__ import annotations`."""

    __slots__: tuple[str, ...] = ("_key", "_hash")
    _key: tuple[object, ...]
    _hash: int

    def _freeze(self) -> None:
        """Called last by each constructor: the fields as one tuple, and its hash, computed
        once (the checker compares and hashes domains hundreds of thousands of times)."""
        key = tuple(getattr(self, name) for name in type(self).__slots__)
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "_hash", hash((type(self).__name__, *key)))

    def _fields(self) -> tuple[object, ...]:
        return self._key

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other: object) -> bool:
        return self is other or (type(other) is type(self) and self._key == other._key)

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({fields})"


class Domain(_Frozen):
    """Where a tensor's values lie: an interval (lo, hi), `int<K>`, or `ordered`."""

    __slots__ = ("kind", "lo", "hi", "classes")
    kind: str  # "interval" | "int" | "ordered"
    lo: float
    hi: float
    classes: int  # K for int<K>

    def __init__(self, kind: str, lo: float = -INF, hi: float = INF, classes: int = 0) -> None:
        for name, value in (("kind", kind), ("lo", lo), ("hi", hi), ("classes", classes)):
            object.__setattr__(self, name, value)
        self._freeze()

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


def integers(classes: int) -> Domain:
    return Domain("int", classes=classes)


REAL = interval(-INF, INF)
POSITIVE = interval(0.0, INF)
UNIT = interval(0.0, 1.0)
ORDERED = Domain("ordered")
ANY_INT = Domain("int", classes=0)
NAMED_DOMAINS: dict[str, Domain] = {"real": REAL, "positive": POSITIVE, "unit": UNIT}


class TensorType(_Frozen):
    """A declared tensor type without the batch axis: ``int<17>[1, 8, 8]``."""

    __slots__ = ("domain", "shape")
    domain: Domain
    shape: tuple[int, ...]

    def __init__(self, domain: Domain, shape: tuple[int, ...]) -> None:
        object.__setattr__(self, "domain", domain)
        object.__setattr__(self, "shape", tuple(shape))
        self._freeze()

    @property
    def size(self) -> int:
        """Entries per example (the D of bits/dim)."""
        return math.prod(self.shape)

    def __str__(self) -> str:
        return f"{self.domain}[{', '.join(map(str, self.shape))}]"


_TYPE_RE = re.compile(r"^\s*(?P<domain>[A-Za-z_]\w*)\s*(?P<args><[^>]*>|\([^)]*\))?\s*\[(?P<dims>[^\]]*)\]\s*$")
_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"


def parse_type(text: str) -> TensorType:
    """``"int<17>[1, 8, 8]"`` → ``TensorType(integers(17), (1, 8, 8))``; raises `ValueError`
    (one line naming the text) for anything but a declarable domain and whole dimensions ≥ 1."""
    match = _TYPE_RE.match(text)
    if match is None:
        raise ValueError(f"cannot read the type {text!r}; expected e.g. 'real[2]' or 'int<256>[3, 32, 32]'")
    shape = _parse_dims(match["dims"], text)
    return TensorType(_parse_domain(match["domain"], match["args"], text), shape)


def parse_domain(text: str) -> Domain:
    """``"interval(-4, 4)"`` → ``interval(-4, 4)``: a declarable domain on its own."""
    match = re.fullmatch(r"\s*(?P<domain>[A-Za-z_]\w*)\s*(?P<args><[^>]*>|\([^)]*\))?\s*", text)
    if match is None:
        raise ValueError(f"cannot read the domain {text!r}; expected e.g. 'real' or 'int<256>'")
    return _parse_domain(match["domain"], match["args"], text)


def _parse_domain(name: str, args: str | None, text: str) -> Domain:
    if name in NAMED_DOMAINS:
        if args:
            raise ValueError(f"in type {text!r}: `{name}` takes no arguments")
        return NAMED_DOMAINS[name]
    if name == "int":
        inner = args[1:-1].strip() if args and args.startswith("<") else ""
        if not inner.isdigit() or int(inner) < 2:
            raise ValueError(f"in type {text!r}: `int` needs its number of classes K >= 2, as in int<256>[...]")
        return integers(int(inner))
    if name == "interval":
        parts = [p.strip() for p in args[1:-1].split(",")] if args and args.startswith("(") else []
        if len(parts) != 2 or not all(re.fullmatch(_NUMBER, p) for p in parts):
            raise ValueError(f"in type {text!r}: `interval` needs two numbers, as in interval(-4, 4)[2]")
        low, high = float(parts[0]), float(parts[1])
        if not low < high:
            raise ValueError(f"in type {text!r}: interval bounds need a < b, got ({parts[0]}, {parts[1]})")
        return interval(low, high)
    raise ValueError(f"in type {text!r}: unknown domain `{name}`; the domains are {DOMAINS_TEXT}")


def _parse_dims(dims: str, text: str) -> tuple[int, ...]:
    parts = [p.strip() for p in dims.split(",")]
    if not all(p.isdigit() and int(p) >= 1 for p in parts):
        raise ValueError(f"in type {text!r}: dimensions must be whole numbers >= 1, got [{dims}]")
    return tuple(int(p) for p in parts)


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
    "Domain",
    "TensorType",
    "integers",
    "interval",
    "parse_domain",
    "parse_type",
]
