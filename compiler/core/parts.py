"""How structural ops move the parts of a tensor type (docs/language.md, What the checker enforces, "per entry").

A `TensorType` cuts its entries along one axis into parts, each with its own domain, fill and
folds. Structural ops move entries without changing them; this module says where each part
goes. Where a move cannot be tracked the parts merge: the merged part has the hull of the
domains, fills only if every part filled the same domain, and every fold of every part — so a
merge can only make a model look *less* exact (each fold must then be respected by whatever
consumes the merged part). Ordered folds (what `sort` leaves) also record their run: a cut
keeps track of which entries of the run a piece holds, so that putting the pieces back in
order restores it, and anything that reorders the run breaks it.

Every function takes and returns types without the batch axis; `why` strings name the op and
line for reports ("reversed by `reverse` (line 7)").
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .domains import Fold, Part, TensorType, hull

Shape = tuple[int, ...]


# --------------------------------------------------------------------------------------------
# Movements: what a structural op does, as its catalogue entry describes it


@dataclass(frozen=True)
class Reverse:
    """Entries along `dim` in reverse order."""

    dim: int


@dataclass(frozen=True)
class Permute:
    """Entries along `dim` in an order the checker does not follow (fixed or random)."""

    dim: int


@dataclass(frozen=True)
class Transpose:
    """Axis k of the output is axis `dims[k]` of the input."""

    dims: tuple[int, ...]


@dataclass(frozen=True)
class Regroup:
    """The same entries in another shape, read in row-major order."""


@dataclass(frozen=True)
class Mix:
    """Entries in places the checker cannot know (a user's transform declared `domain same`)."""


@dataclass(frozen=True)
class Split:
    """Consecutive pieces of `sizes` entries along `dim`, one output each."""

    dim: int
    sizes: tuple[int, ...]


@dataclass(frozen=True)
class Concat:
    """The inputs side by side along `dim`."""

    dim: int


@dataclass(frozen=True)
class Append:
    """The input's entries unchanged, then new entries along `dim` drawn by the op's own
    distribution `slot` (`augment`'s noise): the caller passes their type as a second input."""

    dim: int
    slot: str


Movement = Reverse | Permute | Transpose | Regroup | Mix | Split | Concat | Append


def move(movement: Movement, inputs: list[TensorType], shapes: list[Shape], why: str) -> list[TensorType]:
    """The output types of a structural op: `shapes` are its output shapes."""
    if isinstance(movement, Split):
        return split(inputs[0], movement.dim, movement.sizes)
    if isinstance(movement, (Concat, Append)):
        return [concat(inputs, movement.dim, shapes[0], why)]
    (t,) = inputs
    if isinstance(movement, Reverse):
        return [reverse(t, movement.dim, why)]
    if isinstance(movement, Permute):
        return [permute(t, movement.dim, why)]
    if isinstance(movement, Transpose):
        return [transpose(t, movement.dims, shapes[0])]
    if isinstance(movement, Mix):
        return [merge(t, why, shapes[0])]
    return [regroup(t, shapes[0], why)]


# --------------------------------------------------------------------------------------------
# Parts as ranges


def along(t: TensorType, dim: int) -> tuple[Part, ...] | None:
    """`t`'s parts as ranges along `dim`, or None if it is cut along another axis."""
    if t.axis == dim:
        return t.parts
    if len(t.parts) == 1:
        return (replace(t.parts[0], size=t.shape[dim]),)
    return None


def with_parts(shape: Shape, parts: list[Part] | tuple[Part, ...], axis: int) -> TensorType:
    """A type from parts along `axis`, neighbours that agree joined (a run cut and put back in
    order becomes one part again, its ordered fold whole)."""
    joined: list[Part] = []
    for part in parts:
        if joined and (merged := _rejoin(joined[-1], part, axis)) is not None:
            joined[-1] = merged
        else:
            joined.append(part)
    if len(joined) == 1:
        return TensorType(shape, (replace(joined[0], size=shape[0] if shape else 1),), 0)
    return TensorType(shape, tuple(joined), axis)


def _rejoin(a: Part, b: Part, axis: int) -> Part | None:
    """`a` and `b` (neighbours along `axis`) as one part, if nothing is lost by it."""
    if (a.domain, a.fills) != (b.domain, b.fills) or len(a.folds) != len(b.folds):
        return None
    folds = []
    for fa, fb in zip(a.folds, b.folds, strict=True):
        if fa == fb and not (fa.ordered and fa.axis == axis):
            folds.append(fa)
        elif _continues(fa, fb, axis):
            folds.append(replace(fa, stop=fb.stop))
        else:
            return None
    return Part(a.size + b.size, a.domain, a.fills, tuple(folds))


def _continues(fa: Fold, fb: Fold, axis: int) -> bool:
    """Whether `fb` is the rest of `fa`'s ordered run, right after it along `axis`."""
    return (
        fa.ordered
        and fa.ascending
        and fa.axis == axis
        and replace(fa, start=fb.start, stop=fb.stop) == fb
        and fa.stop == fb.start
    )


def merge(t: TensorType, why: str, shape: Shape | None = None) -> TensorType:
    """`t` as one part (moves the checker cannot follow): hull, common fill, every fold, and
    ordered folds broken, since their entries can no longer be told apart."""
    out = shape or t.shape
    domains = [p.domain for p in t.parts]
    fills = len(set(domains)) == 1 and all(p.fills for p in t.parts)
    folds = tuple(dict.fromkeys(_break(f, why) for p in t.parts for f in p.folds))
    return TensorType(out, (Part(out[0] if out else 1, hull(domains), fills, folds),), 0)


def _break(fold: Fold, why: str) -> Fold:
    """An ordered fold whose run is no longer in order (interval folds are kept as they are)."""
    if not fold.ordered or fold.broken is not None:
        return fold
    return replace(fold, broken=why)


def _cut(fold: Fold, axis: int, start: int, stop: int) -> Fold:
    """The fold of entries `start`..`stop` (of the part's range along `axis`)."""
    if not fold.ordered or fold.broken is not None or fold.axis != axis:
        return fold
    return replace(fold, start=fold.start + start, stop=fold.start + stop)


def _cut_part(part: Part, axis: int, start: int, stop: int) -> Part:
    return Part(stop - start, part.domain, part.fills, tuple(_cut(f, axis, start, stop) for f in part.folds))


# --------------------------------------------------------------------------------------------
# The movements


def split(t: TensorType, dim: int, sizes: tuple[int, ...]) -> list[TensorType]:
    """Pieces of `sizes` entries along `dim`."""
    out, offset = [], 0
    for size in sizes:
        out.append(piece(t, dim, offset, offset + size))
        offset += size
    return out


def piece(t: TensorType, dim: int, start: int, stop: int) -> TensorType:
    """Entries `start`..`stop` along `dim`."""
    shape = (*t.shape[:dim], stop - start, *t.shape[dim + 1 :])
    parts = along(t, dim)
    if parts is None:  # cut along another axis: each part keeps its range there
        cut = [replace(p, folds=tuple(_cut(f, dim, start, stop) for f in p.folds)) for p in t.parts]
        return with_parts(shape, cut, t.axis)
    kept, offset = [], 0
    for part in parts:
        lo, hi = max(start, offset), min(stop, offset + part.size)
        if lo < hi:
            kept.append(_cut_part(part, dim, lo - offset, hi - offset))
        offset += part.size
    return with_parts(shape, kept, dim)


def concat(inputs: list[TensorType], dim: int, shape: Shape, why: str) -> TensorType:
    """The inputs side by side along `dim`."""
    ranges = [along(t, dim) for t in inputs]
    known = [r for r in ranges if r is not None]
    if len(known) == len(ranges):
        return with_parts(shape, [p for r in known for p in r], dim)
    axes = {t.axis for t in inputs}
    sizes = {tuple(p.size for p in t.parts) for t in inputs}
    if len(axes) == 1 and len(sizes) == 1:  # all cut alike along another axis: join part by part
        axis = axes.pop()
        joined = [_side_by_side([t.parts[i] for t in inputs], dim, why) for i in range(len(inputs[0].parts))]
        return with_parts(shape, joined, axis)
    return merge(TensorType(shape, tuple(p for t in inputs for p in merge(t, why).parts), 0), why)


def _side_by_side(parts: list[Part], dim: int, why: str) -> Part:
    """Parts of several tensors joined along `dim` (not their part axis) into one part."""
    first = parts[0]
    for part in parts[1:]:
        joined = _rejoin(replace(first, size=first.size), replace(part, size=first.size), dim)
        if joined is None:
            domains = [p.domain for p in parts]
            fills = len(set(domains)) == 1 and all(p.fills for p in parts)
            folds = tuple(dict.fromkeys(_break(f, why) if f.axis == dim else f for p in parts for f in p.folds))
            return Part(first.size, hull(domains), fills, folds)
        first = replace(joined, size=first.size)
    return first


def reverse(t: TensorType, dim: int, why: str) -> TensorType:
    parts = t.parts[::-1] if t.axis == dim else t.parts
    return _break_along(TensorType(t.shape, parts, t.axis), dim, why)


def permute(t: TensorType, dim: int, why: str) -> TensorType:
    """A fixed or random permutation along `dim`: parts along it mix."""
    if t.axis == dim and len(t.parts) > 1:
        return merge(t, why)
    return _break_along(t, dim, why)


def _break_along(t: TensorType, dim: int, why: str) -> TensorType:
    """`t` with its ordered folds along `dim` broken."""
    parts = tuple(replace(p, folds=tuple(_break(f, why) if f.axis == dim else f for f in p.folds)) for p in t.parts)
    return TensorType(t.shape, parts, t.axis)


def transpose(t: TensorType, dims: tuple[int, ...], shape: Shape) -> TensorType:
    new = {old: k for k, old in enumerate(dims)}
    parts = tuple(
        replace(p, folds=tuple(replace(f, axis=new[f.axis]) if f.ordered else f for f in p.folds)) for p in t.parts
    )
    return TensorType(shape, parts, new[t.axis])


def regroup(t: TensorType, shape: Shape, why: str) -> TensorType:
    """Reshapes: followed exactly when only axes of size 1 come or go, merged otherwise."""
    old = [k for k, n in enumerate(t.shape) if n != 1]
    new = [k for k, n in enumerate(shape) if n != 1]
    if [t.shape[k] for k in old] != [shape[k] for k in new]:
        return merge(t, why, shape)
    axis_map = dict(zip(old, new, strict=True))
    parts = tuple(
        replace(
            p,
            folds=tuple(replace(f, axis=axis_map[f.axis]) if f.ordered and f.axis in axis_map else f for f in p.folds),
        )
        for p in t.parts
    )
    if len(parts) == 1:
        return TensorType(shape, (replace(parts[0], size=shape[0] if shape else 1),), 0)
    return TensorType(shape, parts, axis_map[t.axis])
