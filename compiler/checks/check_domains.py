"""Pass 3: data domains, fills and folds, part by part (docs/language.md, What the checker enforces).

Walks the graph in inference order. A tensor's type is a list of parts (`domains.TensorType`);
for every consumption it checks that the consumer accepts each part's domain (E405, E403,
E404, E406), records fold leaks — every fold of every part that the consumer does not respect,
with the identity of both ends (they make the model a lower bound) — and warns about waste
(W401: the model can generate values outside the data's domain).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from ..catalogue import DistEntry, DistSlot, OpEntry
from ..catalogue.base import ChannelMaps, DomainRule
from ..core import codes
from ..core.diagnostics import Diagnostic, error, warning
from ..core.domains import (
    INF,
    ORDERED,
    POSITIVE,
    REAL,
    UNIT,
    Domain,
    Fold,
    Origin,
    Part,
    TensorType,
    hull,
    image,
    interval,
)
from ..core.parts import Append, Split, merge, move, with_parts
from ..core.source import Span
from ..ir.checked import EXACT, Bound, ModelDist
from ..ir.graph import ContextNode, DistNode, InputNode, ModelIR, OpNode


@dataclass(frozen=True)
class Leak:
    """A consumer that accepts values outside an upstream surjection's fold.

    `fix` is the hint that closes it; `used` is (name, line of its W401) of a used model
    whose own waste is the leak (docs/language.md, What the checker enforces).
    """

    fold: Fold
    consumer_origin: Origin
    span: Span
    fix: str
    used: tuple[str, int] | None = None

    @property
    def consumer(self) -> str:
        return self.consumer_origin.op

    def message(self) -> str:
        fold, consumer = self.fold, self.consumer_origin.describe()
        if self.used is not None:
            name, line = self.used
            return (
                f"fold leak: model `{name}`, used at {self.consumer_origin.where()}, can generate values outside its "
                f"{fold.region} input domain (its own W401 at line {line}), where {fold.origin.describe()} needs the "
                f"latent to stay: that exact formula then misses terms; {self.fix}"
            )
        if fold.ordered and fold.broken is not None:
            return (
                f"fold leak: {consumer} sees the output of {fold.origin.describe()} after its order was broken "
                f"({fold.broken}); {self.fix}"
            )
        if fold.ordered and not fold.whole:
            return (
                f"fold leak: {consumer} sees entries {fold.start}..{fold.stop - 1} of the {fold.length} that "
                f"{fold.origin.describe()} sorted together, so nothing keeps them in order with the rest; {self.fix}"
            )
        if fold.ordered:
            return f"fold leak: {consumer} does not keep the order that {fold.origin.describe()} needs; {self.fix}"
        return (
            f"fold leak: {consumer} accepts values outside the {fold.region} fold of {fold.origin.describe()}, "
            f"whose exact formula then misses terms; {self.fix}"
        )


def closing_maps(region: Domain) -> str:
    """The maps that end a fold of this region (for hints)."""
    if region.kind == "ordered":
        return "`sorted_to_real` on the whole sorted run (same `dim` and `key`)"
    if region == POSITIVE:
        return _available("`softplus_inv`", "`log`")
    if region.hi == INF:
        return f"`shift(by={-region.lo:g})` then " + _available("`softplus_inv`", "`log`")
    if region == UNIT:
        return "`logit`"
    return "`shift` and `scale` onto (0, 1), then `logit`"


def _close_hint(fold: Fold) -> str:
    if fold.ordered and fold.broken is not None:
        return "keep the sorted entries together and in order until `sorted_to_real`"
    if fold.ordered and not fold.whole:
        return "close the whole sorted run with one `sorted_to_real` before cutting it"
    if fold.uneven is not None:
        return (
            f"since {fold.uneven} mapped its entries by different numbers, each has a fold of its own: "
            "close the fold before that map, or `split` the entries and close each part"
        )
    return f"close the fold first with {closing_maps(fold.region)}"


def _available(*maps: str) -> str:
    """The maps of this list that the catalogue has, joined with "or"."""
    from ..catalogue import OP_TABLE

    return " or ".join(m for m in maps if m.strip("`") in OP_TABLE)


@dataclass
class DomainResult:
    types: dict[str, TensorType]
    leaks: list[Leak]
    diagnostics: list[Diagnostic]
    # output tensor → (input tensor, node, call) of each fixed elementwise map, so that a
    # waste warning can say which maps led to a domain and what would replace them
    maps: dict[str, tuple[str, OpNode, Bound]] = field(default_factory=dict)


def check_domains(model: ModelIR, bound: dict[str, Bound], shapes: dict[str, tuple[int, ...]]) -> DomainResult:
    result = DomainResult({}, [], [])
    context_side = model.context_side()
    for node in model.graph.nodes:
        payload = model.payload(node)
        if isinstance(payload, (InputNode, ContextNode)) and payload.tensor in shapes:
            result.types[payload.tensor] = TensorType.uniform(payload.domain, payload.shape)
        elif node not in bound:
            continue
        elif node in context_side and isinstance(payload, OpNode):
            _context_op(payload, bound[node], shapes, result)
        elif (
            isinstance(payload, OpNode)
            and all(t in result.types for t in payload.inputs)
            and all(
                t in shapes
                for t in payload.outputs  # its shape check passed, so its slots are well formed
            )
        ):
            _op(model, payload, bound[node], shapes, result)
        elif isinstance(payload, DistNode) and payload.input in result.types:
            _dist(model, payload, bound[node], result)
    return result


def origin(node: OpNode | DistNode, name: str) -> Origin:
    """The unrolled identity of a node: its op, line, and the block calls and `repeat`
    iterations that produced it."""
    chain = [f"in `{block}` called at line {call.line}" for block, call in reversed(node.span.via)]
    chain += [f"iteration {i + 1} of the `repeat` at line {line}" for line, i in node.repeat]
    return Origin(name, node.span.line, tuple(chain))


# --------------------------------------------------------------------------------------------
# Ops


def _op(model: ModelIR, node: OpNode, call: Bound, shapes: dict[str, tuple[int, ...]], out: DomainResult) -> None:
    entry = call.entry
    assert isinstance(entry, OpEntry)
    types = [out.types[t] for t in node.inputs]
    rule = entry.domain
    accepts = rule.accepts(call.params)
    me = origin(node, entry.name)
    for index, (tensor, one) in enumerate(zip(node.inputs, types, strict=True)):
        if accepts is None:  # any domain
            continue
        extra = rule.requires(one.domain, call.params) if rule.requires else None
        problem = _refusal(entry.name, accepts, one, model.tensors[tensor].name) or extra
        if problem:
            name = model.tensors[tensor].name
            hint = _context_hint(name) if _is_context(model, tensor) else _accept_hint(accepts, one.domain)
            out.diagnostics.append(error(codes.E405, node.input_spans[index], problem, hint))
            return
    name = model.tensors[node.inputs[0]].name
    t = types[0] if len(types) == 1 else merge(_side(types), f"joined by `{entry.name}` (line {node.span.line})")
    made = _outputs(model, node, call, types, t, accepts, me, shapes, out)
    if made is None:
        return
    results, dropped = made
    _nested_slots(model, node, call, types, dropped, name, out)
    overflow = _overflow(entry.name, rule, t.domain, results[0].domain, name)
    if overflow is not None:
        out.diagnostics.append(error(codes.E411, node.span, overflow, _OVERFLOW_HINT))
        return
    for tensor, result in zip(node.outputs, results, strict=False):
        if tensor in shapes:
            out.types[tensor] = result
    if rule.role == "elementwise":
        out.maps[node.outputs[0]] = (node.inputs[0], node, call)


def _context_op(node: OpNode, call: Bound, shapes: dict[str, tuple[int, ...]], out: DomainResult) -> None:
    """An op computed from contexts alone (docs/language.md, Conditioning): never modelled, so
    nothing to accept, leak or waste; only the types to follow, for the table and the nets
    that read them. Structural ops move parts (an `int<K>` context stays `int<K>`, as its
    entries are; the runtime holds them as cell centres); a context net makes real features."""
    entry = call.entry
    assert isinstance(entry, OpEntry)
    if not all(t in out.types for t in node.inputs) or not all(t in shapes for t in node.outputs):
        return
    types = [out.types[t] for t in node.inputs]
    out_shapes = [shapes[o] for o in node.outputs]
    structure = entry.domain.structure
    if entry.domain.role == "structural" and structure is not None:
        why = f"moved by `{entry.name}` (line {node.span.line})"
        results = move(structure(call.params, tuple(t.shape for t in types)), types, out_shapes, why)
    else:
        results = [TensorType.uniform(REAL, shape) for shape in out_shapes]
    out.types.update(zip(node.outputs, results, strict=True))


def _side(types: list[TensorType]) -> TensorType:
    """Several inputs of a non-structural op as one type (each input's parts, side by side)."""
    return TensorType(types[0].shape, tuple(p for t in types for p in t.parts), 0)


def _outputs(
    model: ModelIR,
    node: OpNode,
    call: Bound,
    types: list[TensorType],
    t: TensorType,
    accepts: Domain | None,
    me: Origin,
    shapes: dict[str, tuple[int, ...]],
    out: DomainResult,
) -> tuple[list[TensorType], TensorType | None] | None:
    """The output types and, for `slice`, the type of the entries its decoder models;
    recording leaks and waste. None after an error."""
    entry = call.entry
    assert isinstance(entry, OpEntry)
    rule = entry.domain
    out_shapes = [shapes.get(o, ()) for o in node.outputs]
    why = f"moved by `{entry.name}` (line {node.span.line})"
    if accepts is None:  # the op's decoder models the input and is checked against it
        return [TensorType.uniform(rule.produce(t, call.params)[0], shape) for shape in out_shapes], None
    if rule.role == "elementwise":
        mapped = _elementwise(rule, call, t, accepts, me)
        _unequal_images(entry.name, model.tensors[node.inputs[0]].name, t, mapped, node.span, out)
        return [mapped], None
    if rule.role == "structural":
        assert rule.structure is not None
        movement = rule.structure(call.params, tuple(x.shape for x in types))
        if isinstance(movement, Append):  # `augment`: its noise joins the input as entries of its own
            types = [*types, _appended(call, movement, types[0].shape, out_shapes[0])]
        moved = move(movement, types, out_shapes, why)
        _mixed_domains(entry.name, types, moved, node.span, out)
        if isinstance(movement, Split) and len(node.outputs) == 1:  # `slice`: its decoder models the rest
            return moved[:1], moved[1]
        return moved, None
    if rule.closes_order:
        closed = _close_order(model, node, call, t, me, out)
        return None if closed is None else ([closed], None)
    if rule.sets_fold == ORDERED:
        for fold in t.folds:  # a sort is no closing map: an earlier order reaching it leaks
            if fold.ordered:
                out.leaks.append(Leak(fold, me, node.span, _close_hint(fold)))
        sorted_ = _sort(call, t, me, why, out_shapes[0])
        _mixed_domains(entry.name, types, [sorted_], node.span, out)
        return [sorted_], None
    label = f"`{model.tensors[node.inputs[0]].name}`"
    source = Source(model, node.inputs[0]) if len(node.inputs) == 1 else None
    made = _consume(rule, call, t, accepts, me, node, label, out, out_shapes[0], source)
    part = made.parts[0]
    return [
        TensorType(shape, (Part(shape[0] if shape else 1, part.domain, part.fills, part.folds),))
        for shape in out_shapes
    ], None


def _appended(call: Bound, movement: Append, before: tuple[int, ...], after: tuple[int, ...]) -> TensorType:
    """The type of the entries an op appends: noise its distribution `movement.slot` draws,
    filling that distribution's support."""
    shape = (*after[: movement.dim], after[movement.dim] - before[movement.dim], *after[movement.dim + 1 :])
    drawn = call.dists.get(movement.slot)
    support = drawn.entry.support if drawn is not None and isinstance(drawn.entry, DistEntry) else REAL
    return TensorType.uniform(support, shape)


def _unequal_images(op: str, name: str, before: TensorType, after: TensorType, span: Span, out: DomainResult) -> None:
    """W401 where entries mapped by different numbers (`scale(by=[...])` on a bounded domain)
    land on different intervals: their part gets the hull, which no entry fills, so whatever
    models it can put mass where no value lies (as where `_mixed_domains` warns)."""
    changed = [b for b, a in zip(before.parts, after.parts, strict=True) if b.fills and not a.fills]
    if not changed:
        return
    out.diagnostics.append(
        warning(
            codes.W401,
            span,
            f"`{op}` maps the entries of `{name}` ({changed[0].domain}) by different numbers onto different "
            f"intervals, whose hull {after.domain} none of them fills: the model can put mass where no data value "
            "lies, so its density integrates to less than 1",
            "give the entries one number, or `split` them and map each part onto the same domain",
        )
    )


def _mixed_domains(op: str, inputs: list[TensorType], outputs: list[TensorType], span: Span, out: DomainResult) -> None:
    """W401 where an op that moves entries mixes parts of different domains into one: each entry
    may then hold a value of either, so the part's values no longer fill the hull it gets, and
    whatever models it can put mass where no data value lies (a merge must never hide waste)."""
    if not all(p.fills for t in inputs for p in t.parts) or all(p.fills for t in outputs for p in t.parts):
        return
    domains = ", ".join(dict.fromkeys(str(p.domain) for t in inputs for p in t.parts))
    out.diagnostics.append(
        warning(
            codes.W401,
            span,
            f"`{op}` mixes entries of different domains ({domains}) in a way the checker cannot follow apart: "
            "the model can put mass where no data value lies, so its density integrates to less than 1",
            "map the parts onto one domain before mixing them (e.g. `softplus_inv` or `log` on a positive part)",
        )
    )


def _elementwise(rule: DomainRule, call: Bound, t: TensorType, accepts: Domain, me: Origin) -> TensorType:
    """A fixed monotone map, part by part: domains and interval folds map through their image;
    an increasing map carries an ordered fold, a decreasing one breaks it.

    Where entries get maps of their own (`scale(by=[...])`) a part takes the maps of the
    entries it holds: its domain is the hull of their images (filled only if they agree), an
    interval fold the region that every entry's image of it contains (what a consumer must
    stay inside for all of them), and an ordered fold survives only maps that all increase and
    agree along its axis."""
    channels = rule.channel_maps(call.params, t.shape)
    parts, start = [], 0
    for part in t.parts:
        held = _held(channels, t, start, part.size)
        start += part.size
        fns = tuple(dict.fromkeys(fn for channel in held for fn in channel))
        images = {image(part.domain, fn) for fn in fns}
        domain = hull(list(images))
        mapped = (_map_fold_all(f, held, fns, accepts, part.domain, me) for f in part.folds)
        parts.append(Part(part.size, domain, part.fills and len(images) == 1, tuple(f for f in mapped if f)))
    return TensorType(t.shape, tuple(parts), t.axis)


def _held(channels: ChannelMaps, t: TensorType, start: int, size: int) -> ChannelMaps:
    """The maps of a part's entries: those of the indices `start`..`start + size − 1` along
    axis 0 where the parts cut axis 0, otherwise of every index."""
    if len(channels) == 1:
        return channels
    if t.axis == 0:
        return channels[start : start + size]
    return channels


def _map_fold_all(
    fold: Fold,
    held: ChannelMaps,
    fns: tuple[Callable[[float], float], ...],
    accepts: Domain,
    domain: Domain,
    me: Origin,
) -> Fold | None:
    """The fold after the maps `fns` of a part's entries (`held`, per index along axis 0);
    None if they end it. One map: `_map_fold`."""
    if len(fns) == 1:
        return _map_fold(fold, fns[0], accepts, domain, me)
    if fold.ordered:
        if fold.broken is not None:
            return fold
        if not all(_increasing(fn, domain) for fn in fns):
            return replace(fold, broken=f"reversed in some entries by {me.describe()}, a decreasing map there")
        # Maps that differ along axis 0, or within one index of it (along any other axis, so
        # perhaps the sorted one), need not keep the sorted entries ascending.
        if fold.axis == 0 or any(len(channel) > 1 for channel in held):
            return replace(fold, broken=f"mapped entry by entry with different numbers by {me.describe()}")
        return replace(fold, maps=(*fold.maps, me.describe()))
    regions = []
    for fn in fns:
        one = _map_fold(fold, fn, accepts, domain, me)
        regions.append(image(accepts, fn) if one is None else one.region)
    common = regions[0]
    for region in regions[1:]:
        common = common.intersect(region)
    if common.lo >= common.hi:  # no value lies in every entry's region: nothing can respect it
        common = interval(common.lo, common.lo)
    if all(common.contains(image(accepts, fn)) for fn in fns):
        return None
    uneven = fold.uneven if len(set(regions)) == 1 else me.describe()
    return replace(fold, region=common, uneven=uneven)


def _map_fold(fold: Fold, fn: Callable[[float], float], accepts: Domain, domain: Domain, me: Origin) -> Fold | None:
    """The fold after a fixed map `fn` (None if the map ends it)."""
    if fold.ordered:
        if fold.broken is not None:
            return fold
        if _increasing(fn, domain):
            return replace(fold, maps=(*fold.maps, me.describe()))
        return replace(fold, broken=f"reversed by {me.describe()}, a decreasing map")
    mapped = image(fold.region.intersect(accepts), fn)
    whole = image(accepts, fn)
    return None if mapped.contains(whole) else replace(fold, region=mapped)


def _increasing(fn: Callable[[float], float], domain: Domain) -> bool:
    """Whether a monotone map increases on `domain` (two points inside it decide)."""
    lo = domain.lo if domain.lo > -INF else min(domain.hi, 0.0) - 2.0
    hi = domain.hi if domain.hi < INF else max(lo, 0.0) + 2.0
    a, b = lo + (hi - lo) / 3, lo + 2 * (hi - lo) / 3
    return fn(a) < fn(b)


def _sort(call: Bound, t: TensorType, me: Origin, why: str, shape: tuple[int, ...]) -> TensorType:
    """`sort`: entries permuted along `dim` (their interval folds come along, parts along it
    mix), values unchanged, and the key entries ascending: an ordered fold over the whole run."""
    dim, key = call.params.dim, call.params.key
    n = shape[dim]
    rows = t if t.axis != dim or len(t.parts) == 1 else merge(t, why)
    rows = replace(rows, parts=tuple(replace(p, folds=tuple(f for f in p.folds if not f.ordered)) for p in rows.parts))
    order = Fold(ORDERED, me, axis=dim, length=n, start=0, stop=n)
    if len(shape) == 1:
        part = rows.parts[0]
        return TensorType(shape, (replace(part, folds=(*part.folds, order)),), 0)
    by_row = [rows.parts[0]] * shape[0] if len(rows.parts) == 1 else _rows(rows)
    parts = [replace(p, size=1, folds=(*p.folds, order) if i == key else p.folds) for i, p in enumerate(by_row)]
    return with_parts(shape, parts, 0)


def _rows(t: TensorType) -> list[Part]:
    """The part holding each row (index along axis 0) of a tensor cut along axis 0."""
    rows: list[Part] = []
    for part in t.parts:
        rows += [part] * part.size
    return rows


def _close_order(
    model: ModelIR, node: OpNode, call: Bound, t: TensorType, me: Origin, out: DomainResult
) -> TensorType | None:
    """`sorted_to_real`: the key entries must be one run sorted by `sort` along `dim` (E405
    otherwise: their gaps could be negative). The whole run closes the fold; a cut run is
    ascending but says nothing of the rest of its run: a leak."""
    dim, key = call.params.dim, call.params.key
    name = model.tensors[node.inputs[0]].name
    span = node.input_spans[0] if node.input_spans else node.span
    rank = len(t.shape)
    covering, single = _key_parts(t, key)
    runs = [f for p in covering for f in p.folds if f.ordered and f.axis == dim]
    problem = _order_problem(runs, single, covering, t, name, key, rank)
    if problem is not None:
        out.diagnostics.append(error(codes.E405, span, problem, _ORDER_HINT))
        return None
    (run,) = runs
    if not run.whole:
        out.leaks.append(Leak(run, me, node.span, _close_hint(run)))
    closed = [replace(p, folds=tuple(f for f in p.folds if f != run)) for p in t.parts]
    after = _after_close(t, closed, key, rank)
    if rank == 2:
        _mixed_key_row(after, key, name, node.span, out)
    return after


_ORDER_HINT = "give `sorted_to_real` the output of `sort` with the same `dim` and `key`, whole and in order"


def _key_parts(t: TensorType, key: int) -> tuple[list[Part], bool]:
    """The parts holding the key entries (a vector's values, or row `key` of a set), and
    whether one part holds exactly them."""
    if len(t.shape) == 1:
        return list(t.parts), len(t.parts) == 1
    if len(t.parts) == 1:
        return list(t.parts), t.shape[0] == 1
    if t.axis == 0:
        row = _rows(t)[key]
        return [row], row.size == 1
    return list(t.parts), False


def _order_problem(
    runs: list[Fold], single: bool, covering: list[Part], t: TensorType, name: str, key: int, rank: int
) -> str | None:
    """Why the key entries are not one ascending run of `sort` (None if they are)."""
    what = f"`{name}`" if rank == 1 else f"row {key} of `{name}`"
    if not runs:
        return _unsorted(t, what, name, rank)
    if len(runs) > 1 or not single or len(covering) > 1:
        sources = list(dict.fromkeys(r.origin.describe() for r in runs))
        if len(sources) == 1 and len(runs) > 1:
            return (
                f"`sorted_to_real` needs {what} in the order `sort` left it, but it holds pieces of the run "
                f"{sources[0]} sorted, not in their order: its gaps can be negative"
            )
        return (
            f"`sorted_to_real` needs {what} to be one sorted run, but it joins entries sorted apart or not "
            f"sorted at all ({', '.join(sources)}): its gaps can be negative"
        )
    if runs[0].broken is not None:
        return f"`sorted_to_real` needs {what} in the order `sort` left it, but it was {runs[0].broken}"
    return None


def _unsorted(t: TensorType, what: str, name: str, rank: int) -> str:
    """E405's text for key entries that no `sort` ordered."""
    if rank == 2 and t.axis == 0:
        for row, part in enumerate(_rows(t)):
            for fold in part.folds:
                if fold.ordered:
                    return (
                        f"`sorted_to_real` needs {what} sorted, "
                        f"but {fold.origin.describe()} sorted `{name}` by row {row}"
                    )
    return f"`sorted_to_real` accepts only values sorted by `sort`, but {what} is not sorted"


def _after_close(t: TensorType, parts: list[Part], key: int, rank: int) -> TensorType:
    """The type after `sorted_to_real`. The first key keeps its domain; each later key is the log
    of a gap to the previous one, real if the keys' domain is unbounded and below log(b − a) on
    an interval (a, b). For a vector the two are parts of their own; on a set's key row they
    share one part (their hull, which they fill only if both are the reals). Interval folds
    stay where they were (conservatively on the whole key row of a set)."""
    if rank == 1:
        (part,) = parts
        first = replace(part, size=1)
        gaps = Part(t.shape[0] - 1, _log_gaps(part.domain), part.fills, ())
        return with_parts(t.shape, [first, gaps], 0) if t.shape[0] > 1 else TensorType(t.shape, (first,), 0)
    rows = _rows(TensorType(t.shape, tuple(parts), t.axis)) if t.axis == 0 else [parts[0]] * t.shape[0]
    new = [replace(p, size=1) for p in rows]
    row = new[key]
    logs = _log_gaps(row.domain)
    domain = row.domain if logs == row.domain else interval(min(row.domain.lo, logs.lo), max(row.domain.hi, logs.hi))
    new[key] = replace(row, domain=domain, fills=row.fills and row.domain == logs)
    return with_parts(t.shape, new, 0)


def _mixed_key_row(t: TensorType, key: int, name: str, span: Span, out: DomainResult) -> None:
    """W401 where a set's closed key row holds the first key and the log-gaps in one part that
    does not fill its hull: the checker cannot follow the two apart, so whatever models the row
    may put mass where neither lies."""
    row = _rows(t)[key] if t.axis == 0 and t.divided else t.parts[0]
    if row.fills or row.domain.is_discrete:
        return
    out.diagnostics.append(
        warning(
            codes.W401,
            span,
            f"`sorted_to_real` keeps the first key of row {key} of `{name}` where the keys lie and makes the later "
            f"ones log-gaps: together they do not fill {row.domain}, so a model of the row can put mass outside "
            "what the data reach",
            "map the keys onto the reals before `sort` (an increasing map such as `log` keeps the order)",
        )
    )


def _log_gaps(keys: Domain) -> Domain:
    """Where log(x_i − x_{i−1}) lies for ascending keys in `keys`."""
    width = keys.hi - keys.lo
    return REAL if width == INF else interval(-INF, math.log(width))


def _consume(
    rule: DomainRule,
    call: Bound,
    t: TensorType,
    accepts: Domain,
    me: Origin,
    node: OpNode,
    label: str,
    out: DomainResult,
    shape: tuple[int, ...],
    source: Source | None,
) -> TensorType:
    """A net-based op or a surjection: it mixes entries, so every fold it does not respect
    leaks, those it respects end there, and the parts merge into its output (with the fold the
    op sets, if any). `source` is where `t` comes from, if it is one tensor (for hints)."""
    entry = call.entry
    for fold in t.folds:
        if not _respected(fold, accepts):
            out.leaks.append(Leak(fold, me, node.span, _close_hint(fold)))
    domain, fills = rule.produce(TensorType.uniform(t.domain, t.shape, t.fills), call.params)
    generated = rule.regenerates(domain) if rule.regenerates else accepts
    for index, (part, where) in enumerate(_located(t, label)):
        if all(_respected(f, accepts) for f in part.folds) and _waste(
            entry.name, generated, part, where, node.span, out, _Place(source, index, t.divided, label.strip("`"))
        ):
            break  # one warning per consumer
    folds = () if rule.sets_fold is None else (Fold(rule.sets_fold, me),)
    return TensorType.uniform(domain, shape, fills, folds)


def _respected(fold: Fold, accepts: Domain) -> bool:
    """Whether a consumer accepting `accepts` stays inside the fold (and so ends it). Only
    `sorted_to_real` respects an ordered fold."""
    return not fold.ordered and fold.region.contains(accepts)


# --------------------------------------------------------------------------------------------
# An op's own encoders and decoders


def _nested_slots(
    model: ModelIR,
    node: OpNode,
    call: Bound,
    types: list[TensorType],
    dropped: TensorType | None,
    name: str,
    out: DomainResult,
) -> None:
    """Check the op's own encoders and decoders; `dropped` is what `slice`'s decoder models."""
    entry = call.entry
    assert isinstance(entry, OpEntry)
    t = dropped or (types[0] if len(types) == 1 else _side(types))
    for key, slot in entry.slots(tuple(x.shape for x in types), call.params).items():
        if isinstance(slot, DistSlot) and key in call.dists:
            _nested(model, node, key, slot, call.dists[key], t, name, out)


def _nested(
    model: ModelIR, node: OpNode, key: str, slot: DistSlot, call: Bound, t: TensorType, name: str, out: DomainResult
) -> None:
    """Check an op's own encoder or decoder like a `~` on the values it models or draws."""
    entry = call.entry
    assert isinstance(entry, DistEntry)
    kwarg = node.kwarg(key)
    span = kwarg.span if kwarg else node.span
    op = node.op
    if slot.role == "encoder" and isinstance(entry, ModelDist):
        _model_encoder(entry, op, slot, span, out)
        return
    if slot.role == "encoder":
        required = slot.domain(REAL)
        if not required.contains(entry.support) or entry.discrete:
            out.diagnostics.append(
                error(
                    codes.E407,
                    span,
                    f"`{op}` needs its encoder to draw {required} values, "
                    f"but `{entry.name}` draws {_domain_text(entry.support)} values",
                    "use `logit_normal(net=...)` or `standard_uniform()`" if required == UNIT else None,
                )
            )
        return
    me = Origin(entry.name, span.line, origin(node, op).chain)
    if slot.values == "gaps":
        gaps = Fold(POSITIVE, origin(node, op))
        values = TensorType.uniform(POSITIVE, slot.event, True, (gaps,))
        _score(entry, values, f"the gaps of `{op}`", span, me, out, fix=_GAP_FIX)
        return
    event = t if t.shape == slot.event else TensorType.uniform(t.domain, slot.event, t.fills, t.folds)
    _score(entry, event, f"`{name}`", span, me, out, tensor_name=name)


_GAP_FIX = "give the gaps a positive decoder such as `half_normal()` or `truncated_normal()`"


def _model_encoder(entry: ModelDist, op: str, slot: DistSlot, span: Span, out: DomainResult) -> None:
    """docs/language.md, What the checker enforces: an encoder model must be exact, warning-free, and model exactly the
    domain its op needs (a bound on log q over-estimates −log q; samples outside the domain
    bound the wrong quantity). Its warnings include those of every model it uses in turn."""
    used = entry.model
    required = slot.domain(REAL)
    if used.likelihood != EXACT or used.warnings:
        why = "is only a lower bound" if used.likelihood != EXACT else "has warnings"
        out.diagnostics.append(
            error(
                codes.E410,
                span,
                f"model `{used.name}` {why}, so it cannot be the encoder of `{op}`: "
                "a bound on log q(u | x) would over-estimate the likelihood",
                f"make `{used.name}` exact and warning-free (`survae-compile --check` lists why it is not)",
            )
        )
    elif entry.support != required:
        out.diagnostics.append(
            error(
                codes.E407,
                span,
                f"`{op}` needs its encoder to draw {required} values, but model `{used.name}` models "
                f"{entry.support} values",
                f"declare its input as `{required}[...]`",
            )
        )


# --------------------------------------------------------------------------------------------
# Distributions


def _dist(model: ModelIR, node: DistNode, call: Bound, out: DomainResult) -> None:
    entry = call.entry
    assert isinstance(entry, DistEntry)
    name = model.tensors[node.input].name
    span = node.input_span or node.span
    source = Source(model, node.input)
    me = origin(node, entry.name)
    _score(entry, out.types[node.input], f"`{name}`", span, me, out, fix_name=name, source=source, tensor_name=name)


def _score(
    entry: DistEntry,
    t: TensorType,
    label: str,
    span: Span,
    me: Origin,
    out: DomainResult,
    fix_name: str = "h",
    fix: str | None = None,
    source: Source | None = None,
    tensor_name: str | None = None,
) -> None:
    """Check that `entry` can give a log-density to values of type `t` (called `label`);
    `source` is the tensor's model and id where it is one, `tensor_name` its name where the
    values are (part of) a named tensor (for hints)."""
    # A context is never given a density (E409, reported by the density check): a hint to
    # dequantize or map it would only mislead.
    context = _context_hint(fix_name) if source is not None and _is_context(source.model, source.tensor) else None
    if t.domain.is_discrete and not entry.discrete:
        out.diagnostics.append(
            error(
                codes.E403,
                span,
                f"`{entry.name}` is a density, but {label} is discrete ({t}): "
                "a density on discrete data is not a likelihood",
                context or f"dequantize it first: `{fix_name} = dequantize({fix_name})`, or use `categorical()`",
            )
        )
        return
    if not t.domain.is_discrete and entry.discrete:
        out.diagnostics.append(
            error(
                codes.E404,
                span,
                f"`{entry.name}` is a distribution on int<K> values, but {label} is continuous ({t})",
                context or "use a density such as `normal()` on continuous values",
            )
        )
        return
    if not entry.support.contains(t.domain):
        out.diagnostics.append(
            error(
                codes.E406,
                span,
                f"`{entry.name}` gives density only to {_domain_text(entry.support)} values, but {label} is "
                f"{t.domain}: valid data would get log-density −∞",
                context or _accept_hint(entry.support, t.domain),
            )
        )
        return
    relied = []
    for fold in t.folds:
        if _respected(fold, entry.support):
            relied.append(fold)
        else:
            out.leaks.append(Leak(fold, me, span, fix or _close_hint(fold)))
    for index, (part, where) in enumerate(_located(t, label)):
        if all(_respected(f, entry.support) for f in part.folds) and _waste(
            entry.name, entry.support, part, where, span, out, _Place(source, index, t.divided, tensor_name)
        ):
            break  # one warning per consumer
    if isinstance(entry, ModelDist):
        _used_waste(entry, relied, me, span, out)


def _used_waste(entry: ModelDist, relied: list[Fold], me: Origin, span: Span, out: DomainResult) -> None:
    """docs/language.md, What the checker enforces: a used model that can generate values outside its input domain
    (its own W401) leaks where the user relies on that domain (a fold it closes); elsewhere its
    waste is the user's waste."""
    waste = [w for w in entry.model.warnings if w.code == codes.W401]
    if not waste:
        return
    line = waste[0].span.line
    if relied:
        for fold in relied:
            out.leaks.append(Leak(fold, me, span, f"fix `{entry.name}`'s warning", used=(entry.name, line)))
        return
    out.diagnostics.append(
        warning(
            codes.W401,
            span,
            f"model `{entry.name}` can generate values outside its {entry.support} input domain (its own W401 at "
            f"line {line}): this model's density integrates to less than 1",
            f"fix `{entry.name}`'s warning (`survae-compile --check --model {entry.name}`)",
        )
    )


# --------------------------------------------------------------------------------------------
# Shared checks and hints


# The largest float32 (torch's default dtype): a value past it is stored as inf, and the
# log-density of inf is not a number.
FLOAT32_MAX = 3.4028234663852886e38
_OVERFLOW_HINT = "keep values within float32's range, ±3.4e38: scale or shift by less, or clip the data first"


def _overflow(op: str, rule: DomainRule, before: Domain, after: Domain, name: str) -> str | None:
    """Why ``op`` makes values that overflow float32, if it does; None if it does not."""
    if before.kind != "interval" or after.kind != "interval":
        return None
    if any(FLOAT32_MAX < abs(b) < INF for b in (after.lo, after.hi)):
        return (
            f"`{op}` maps `{name}` ({before}) onto {after}, past float32's largest value (3.4e+38): "
            "such values are stored as inf and their log-density is not a number"
        )
    infinite = sum(abs(b) == INF for b in (before.lo, before.hi)), sum(abs(b) == INF for b in (after.lo, after.hi))
    if rule.finite and infinite[1] > infinite[0]:
        return (
            f"`{op}` maps `{name}` ({before}) past the largest float: its bounds overflow to infinity, giving {after}"
        )
    return None


def _refusal(op: str, accepts: Domain, t: TensorType, name: str) -> str | None:
    if accepts.contains(t.domain):
        return None
    return f"`{op}` accepts {_domain_words(accepts)}, but `{name}` is {t.domain}"


def _domain_words(domain: Domain) -> str:
    if domain.kind == "int":
        return "only discrete int<K> data"
    return f"{domain} values"


def _accept_hint(accepts: Domain, found: Domain) -> str | None:
    if found.is_discrete and accepts.is_discrete:
        return "`categorical()` models int<K> data for any K"
    if found.is_discrete:
        return "dequantize discrete data first: `h = dequantize(h)`"
    if accepts.is_discrete:
        return "this tensor is already continuous; `dequantize` belongs right after an int<K> input"
    if accepts == UNIT:
        return "map it onto (0, 1) first, e.g. with `sigmoid`, or `shift` and `scale` for a bounded interval"
    if accepts == POSITIVE:
        return "map it onto positive values first, e.g. with `softplus` or `abs`"
    return None


def _waste(op: str, accepts: Domain, part: Part, label: str, span: Span, out: DomainResult, place: _Place) -> bool:
    """W401 where the model first becomes able to generate values outside the data's domain
    (for one part of a tensor); whether it warned."""
    if part.domain.is_discrete or not part.fills or accepts == part.domain or not accepts.contains(part.domain):
        return False
    out.diagnostics.append(
        warning(
            codes.W401,
            span,
            f"`{op}` can generate {accepts} values in the sampling direction, but {label} {part.domain}: "
            f"the model puts mass outside {part.domain}, so its density integrates to less than 1 over it",
            _refill_hint(op, part.domain, accepts, place, out),
        )
    )
    return True


def _located(t: TensorType, label: str) -> list[tuple[Part, str]]:
    """Each part with words for where it is, up to the verb: "`h` is", "entries 2..3 of `h`
    along dim 0 are"."""
    if not t.divided:
        return [(t.parts[0], f"{label} is")]
    located, start = [], 0
    for part in t.parts:
        if part.size == 1:
            where = f"entry {start} of {label} along dim {t.axis} is"
        else:
            where = f"entries {start}..{start + part.size - 1} of {label} along dim {t.axis} are"
        located.append((part, where))
        start += part.size
    return located


# --------------------------------------------------------------------------------------------
# What would remove a waste: fixed maps from the part's domain onto what its consumer generates


@dataclass(frozen=True)
class Source:
    """A consumed tensor: its model and id (to follow the fixed maps that made its domain)."""

    model: ModelIR
    tensor: str


@dataclass(frozen=True)
class _Place:
    """Where a wasted part lies: its tensor (if known) and name (if it has one: not the gaps
    of `max_pool`), its index among the tensor's parts, and whether the tensor has several."""

    source: Source | None
    index: int
    divided: bool
    name: str | None


# A step of a suggested pipeline: an elementwise op of the catalogue and its `by=`, if it takes one.
Step = tuple[str, float | None]


def _refill_hint(op: str, domain: Domain, generated: Domain, place: _Place, out: DomainResult) -> str:
    """W401's hint: the fixed maps that would make the part fill what `op` generates.

    The fixed elementwise maps that led to the part are followed back to where they start:
    if there are some, the hint says what to write instead of them (never the same maps);
    otherwise it gives the maps to add, with the numbers computed from the domains."""
    chain: list[tuple[OpNode, Bound]] = []
    start, name = domain, place.name
    if place.source is not None:
        model, tensor = place.source.model, place.source.tensor
        while tensor in out.maps:
            tensor, node, call = out.maps[tensor]
            chain.append((node, call))
        chain.reverse()
        parts = out.types[tensor].parts if tensor in out.types else ()
        start = parts[place.index].domain if place.index < len(parts) else domain
        name = model.tensors[tensor].name
    route = _route(start, generated)
    # `softplus_inv` maps positive values onto the reals as `log` does
    peer = "; `softplus_inv()` may replace `log()`" if route and route[-1][0] == "log" else ""
    if not chain:
        if route is None:
            return f"map it onto {_onto(generated)} first, with a fixed bijection from {domain} onto it"
        if place.divided:
            return (
                f"map these entries onto {_onto(generated)} on their own (`split` them off, or map them before "
                f"they are joined to the rest): `{_pipeline(None, route)}`{peer}"
            )
        if name is None:
            return f"map it onto {_onto(generated)} first: `{_pipeline(None, route)}`{peer}"
        return f"map `{name}` onto {_onto(generated)} first: `h = {_pipeline(name, route)}`{peer}"
    assert name is not None
    present = " |> ".join([name, *(_call_text(node.op, call.params) for node, call in chain)])
    lines = sorted({node.span.line for node, _ in chain})
    at = f"line{'s' * (len(lines) > 1)} {', '.join(map(str, lines))}"
    if route == []:
        return f"drop `{present}` ({at}): `{name}` itself is {_domain_text(start)}, exactly what `{op}` generates"
    reach = f"`{present}` ({at}) maps `{name}` ({start}) onto {domain} only"
    if route is None:
        return f"{reach}: map it onto the whole of {_onto(generated)} instead"
    return f"{reach}: write `{_pipeline(name, route)}` instead, which maps it onto {_onto(generated)}{peer}"


def _route(start: Domain, target: Domain) -> list[Step] | None:
    """Fixed maps of the catalogue taking `start` exactly onto `target` (both intervals,
    `start` inside `target`), checked by the maps' own arithmetic; None if none is found."""
    if start.kind != "interval" or target.kind != "interval":
        return None
    if start == target:
        return []
    bounded = math.isfinite(start.lo) and math.isfinite(start.hi)
    candidates: list[list[Step]] = []
    if bounded and math.isfinite(target.lo) and math.isfinite(target.hi):
        candidates = _affine(start, target)
    elif bounded and target == REAL:
        candidates = [[*steps, ("logit", None)] for steps in _affine(start, UNIT)]
    elif bounded and math.isfinite(target.lo) and target.hi == INF:
        candidates = [[*steps, ("logit", None), ("exp", None), *_shift(target.lo)] for steps in _affine(start, UNIT)]
    elif math.isfinite(start.lo) and start.hi == INF and target == REAL:
        candidates = [[*_shift(-start.lo), ("log", None)]]
    elif math.isfinite(start.lo) and start.hi == INF and math.isfinite(target.lo) and target.hi == INF:
        candidates = [_shift(target.lo - start.lo)]
    return next((steps for steps in candidates if _maps_onto(steps, start, target)), None)


def _affine(start: Domain, target: Domain) -> list[list[Step]]:
    """`scale` and `shift` from one bounded interval onto another, in two orders (float
    rounding may make one of them miss the target's ends)."""
    by = (target.hi - target.lo) / (start.hi - start.lo)
    scale: list[Step] = [] if by == 1 else [("scale", by)]
    return [
        [*scale, *_shift(target.lo - start.lo * by)],
        [*_shift(-start.lo), *scale, *_shift(target.lo)],
    ]


def _shift(by: float) -> list[Step]:
    return [] if by == 0 else [("shift", by)]


def _maps_onto(steps: list[Step], start: Domain, target: Domain) -> bool:
    """Whether `steps`, each accepting what it is given, take `start` exactly onto `target`."""
    from ..catalogue import OP_TABLE

    domain = start
    for op, by in steps:
        entry = OP_TABLE.get(op)
        if entry is None or (by is not None and not (math.isfinite(by) and by != 0)):
            return False
        rule = entry.domain
        params = entry.params.model_validate({} if by is None else {"by": by})
        accepts = rule.accepts(params)
        if accepts is None or not accepts.contains(domain) or rule.point_map is None:
            return False
        if rule.requires is not None and rule.requires(domain, params) is not None:
            return False
        domain = image(domain, rule.point_map(params))
    return domain == target


def _pipeline(name: str | None, steps: list[Step]) -> str:
    """`x |> scale(by=0.125) |> shift(by=0.5) |> logit()`, as a model file writes it (without
    `x |>` when there is no name)."""
    calls = [f"{op}(by={_number(by)})" if by is not None else f"{op}()" for op, by in steps]
    return " |> ".join([name, *calls] if name else calls)


def _call_text(op: str, params: object) -> str:
    """A fixed map's call as a model file writes it: `scale(by=0.5)`, `shift(by=[1, 2], per=channel)`."""
    by = getattr(params, "by", None)
    if by is None:
        return f"{op}()"
    if not isinstance(by, tuple):
        return f"{op}(by={_number(by)})"
    per = getattr(params, "per", None)
    return f"{op}(by=[{', '.join(_number(v) for v in by)}]" + (f", per={per})" if per else ")")


def _number(value: float) -> str:
    """A number as a model file can write it, exactly (the shortest text that reads back as
    the same float)."""
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(float(value))


def _domain_text(domain: Domain) -> str:
    """A domain's text for messages, `int<K>` for any number of classes (which the catalogue
    writes int<0>)."""
    return "int<K>" if domain.kind == "int" and domain.classes == 0 else str(domain)


def _onto(domain: Domain) -> str:
    """A domain as the object of "onto": `the reals`, or its text."""
    return "the reals" if domain == REAL else _domain_text(domain)


def _is_context(model: ModelIR, tensor: str) -> bool:
    """A context, or a tensor computed from contexts alone."""
    return tensor in model.context_tensors()


def _context_hint(name: str) -> str:
    return (
        f"`{name}` is a context (or computed from one), which is only read, never given a density: pass it as "
        f"`context={name}` to a coupling or a conditional distribution, whose net reads it whatever its domain "
        "(to map it before it is read: `embed(..., net=...)` or a structural op)"
    )
