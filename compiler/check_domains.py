"""Pass 3: data domains, fills and folds (LANGUAGE.md §6.3).

Walks the graph in inference order. For every consumption it checks that the consumer accepts
the tensor's domain (E405, E403, E404, E406), records fold leaks (they make the model a lower
bound) and warns about waste (W401: the model can generate values outside the data's domain).
"""

from __future__ import annotations

from dataclasses import dataclass

from .catalogue import DistEntry, DistSlot, OpEntry
from .catalogue.base import DomainRule
from .check_args import Bound
from .composition import ModelDist
from .diagnostics import Diagnostic, error, warning
from .domains import INF, ORDERED, POSITIVE, REAL, UNIT, Domain, Fold, TensorType, image, interval
from .ir import ContextNode, DistNode, InputNode, ModelIR, OpNode
from .source import Span


@dataclass(frozen=True)
class Leak:
    """A consumer that accepts values outside an upstream surjection's fold."""

    surjection: str
    surjection_line: int
    consumer: str
    span: Span
    region: Domain
    scrambled: bool

    @property
    def fix(self) -> str:
        return closing_maps(self.region)

    def message(self) -> str:
        if self.scrambled:
            return (
                f"fold leak: `{self.consumer}` at line {self.span.line} sees the output of `{self.surjection}` "
                f"(line {self.surjection_line}) after its sorted axis was rearranged; only {self.fix} keeps it exact"
            )
        return (
            f"fold leak: `{self.consumer}` at line {self.span.line} accepts values outside the {self.region} fold of "
            f"`{self.surjection}` (line {self.surjection_line}), whose exact formula then misses terms; "
            f"close the fold first with {self.fix}"
        )


def closing_maps(region: Domain) -> str:
    """The maps that end a fold of this region (for hints)."""
    if region.kind == "ordered":
        return "`sorted_to_real`"
    if region == POSITIVE:
        return _available("`softplus_inv`", "`log`")
    if region.hi == INF:
        return f"`shift(by={-region.lo:g})` then " + _available("`softplus_inv`", "`log`")
    if region == UNIT:
        return "`logit`"
    return "`shift` and `scale` onto (0, 1), then `logit`"


def _available(*maps: str) -> str:
    """The maps of this list that the catalogue has, joined with "or"."""
    from .catalogue import OP_TABLE

    return " or ".join(m for m in maps if m.strip("`") in OP_TABLE)


@dataclass
class DomainResult:
    types: dict[str, TensorType]
    leaks: list[Leak]
    diagnostics: list[Diagnostic]


def check_domains(model: ModelIR, bound: dict[str, Bound], shapes: dict[str, tuple[int, ...]]) -> DomainResult:
    result = DomainResult({}, [], [])
    for node in model.graph.nodes:
        payload = model.payload(node)
        if isinstance(payload, (InputNode, ContextNode)) and payload.tensor in shapes:
            result.types[payload.tensor] = TensorType(payload.domain, payload.shape)
        elif node not in bound:
            continue
        elif isinstance(payload, OpNode) and all(t in result.types for t in payload.inputs) and all(
            t in shapes for t in payload.outputs  # its shape check passed, so its slots are well formed
        ):
            _op(model, payload, bound[node], shapes, result)
        elif isinstance(payload, DistNode) and payload.input in result.types:
            _dist(model, payload, bound[node], result)
    return result


def _op(model: ModelIR, node: OpNode, call: Bound, shapes: dict[str, tuple[int, ...]], out: DomainResult) -> None:
    entry = call.entry
    assert isinstance(entry, OpEntry)
    types = [out.types[t] for t in node.inputs]
    rule = entry.domain
    accepts = rule.accepts(call.params)
    for index, (tensor, one) in enumerate(zip(node.inputs, types, strict=True)):
        name = model.tensors[tensor].name
        problem = None
        if accepts is not None:
            extra = rule.requires(one.domain, call.params) if rule.requires else None
            problem = _refusal(entry.name, accepts, one, name) or extra
        if problem:
            out.diagnostics.append(error("E405", node.input_spans[index], problem, _accept_hint(accepts, one.domain)))
            return
    t = types[0] if len(types) == 1 else _joined(types)
    name = model.tensors[node.inputs[0]].name
    for key, slot in entry.slots(tuple(x.shape for x in types), call.params).items():
        if isinstance(slot, DistSlot) and key in call.dists:
            _nested(model, node, key, slot, call.dists[key], t, name, out)
    if accepts is None:  # the op's decoder models the input and was checked against it above
        domain, fills, fold = rule.produce(t, call.params)[0], True, None
    else:
        domain, fills = rule.produce(t, call.params)
        fold = _next_fold(rule, call, t, accepts, node, out)
        if rule.role in ("net", "surjection") and (t.fold is None or fold_respected(t.fold, accepts)):
            generated = rule.regenerates(domain) if rule.regenerates else accepts
            _waste(entry.name, generated, t, f"`{name}`", node.span, out)
    if rule.sets_fold is not None:
        fold = Fold(rule.sets_fold, entry.name, node.span.line)
    overflow = _overflow(entry.name, rule, t.domain, domain, name)
    if overflow is not None:
        out.diagnostics.append(error("E411", node.span, overflow, _OVERFLOW_HINT))
        return
    for tensor in node.outputs:
        if tensor in shapes:
            out.types[tensor] = TensorType(domain, shapes[tensor], fills, fold)


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
        return f"`{op}` maps `{name}` ({before}) past the largest float: its bounds overflow to infinity, giving {after}"
    return None


def _joined(types: list[TensorType]) -> TensorType:
    """The type of several tensors side by side (`concat`): the smallest domain holding each,
    filled if each fills the same domain, and the first fold (each part must respect its own)."""
    domains = {t.domain for t in types}
    if len(domains) == 1:
        domain = types[0].domain
    else:
        domain = interval(min(t.domain.lo for t in types), max(t.domain.hi for t in types))
    fills = len(domains) == 1 and all(t.fills for t in types)
    fold = next((t.fold for t in types if t.fold is not None), None)
    return TensorType(domain, types[0].shape, fills, fold)


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
                    "E407",
                    span,
                    f"`{op}` needs its encoder to draw {required} values, "
                    f"but `{entry.name}` draws {entry.support} values",
                    "use `logit_normal(net=...)` or `standard_uniform()`" if required == UNIT else None,
                )
            )
        return
    if slot.values == "gaps":
        values = TensorType(POSITIVE, slot.event, True, Fold(POSITIVE, op, node.span.line))
        label = f"the gaps of `{op}`"
    else:
        values = TensorType(t.domain, slot.event, t.fills, t.fold)
        label = f"`{name}`"
    _score(entry, values, label, span, out)


def _next_fold(rule: DomainRule, call: Bound, t: TensorType, accepts: Domain, node: OpNode, out: DomainResult) -> Fold | None:
    """The fold the op's output carries, recording a leak if the op does not respect it."""
    fold = t.fold
    if fold is None:
        return None
    if rule.role == "structural":
        return Fold(fold.region, fold.source, fold.line, fold.scrambled or (fold.region == ORDERED and rule.rearranges))
    if rule.role == "elementwise" and fold.region.kind == "interval":
        assert rule.point_map is not None
        mapped = image(fold.region.intersect(accepts), rule.point_map(call.params))
        whole = image(accepts, rule.point_map(call.params))
        return None if mapped.contains(whole) else Fold(mapped, fold.source, fold.line)
    if rule.role == "elementwise":  # monotone maps keep an ordering
        return fold
    if not fold_respected(fold, accepts):
        out.leaks.append(Leak(fold.source, fold.line, call.entry.name, node.span, fold.region, fold.scrambled))
    return None


def fold_respected(fold: Fold, accepts: Domain) -> bool:
    """Whether a consumer accepting `accepts` stays inside the fold (and so ends it)."""
    return not fold.scrambled and fold.region.contains(accepts)


def _model_encoder(entry: ModelDist, op: str, slot: DistSlot, span: Span, out: DomainResult) -> None:
    """LANGUAGE.md §6.5: an encoder model must be exact, warning-free, and model exactly the
    domain its op needs (a bound on log q over-estimates −log q; samples outside the domain
    bound the wrong quantity)."""
    used = entry.model
    required = slot.domain(REAL)
    if used.likelihood != "exact" or used.warnings:
        why = "is only a lower bound" if used.likelihood != "exact" else "has warnings"
        out.diagnostics.append(
            error(
                "E410",
                span,
                f"model `{used.name}` {why}, so it cannot be the encoder of `{op}`: "
                "a bound on log q(u | x) would over-estimate the likelihood",
                f"make `{used.name}` exact and warning-free (`survae-compile --check` lists why it is not)",
            )
        )
    elif entry.support != required:
        out.diagnostics.append(
            error(
                "E407",
                span,
                f"`{op}` needs its encoder to draw {required} values, but model `{used.name}` models "
                f"{entry.support} values",
                f"declare its input as `{required}[...]`",
            )
        )


def _dist(model: ModelIR, node: DistNode, call: Bound, out: DomainResult) -> None:
    entry = call.entry
    assert isinstance(entry, DistEntry)
    name = model.tensors[node.input].name
    _score(entry, out.types[node.input], f"`{name}`", node.input_span or node.span, out, fix_name=name)


def _score(entry: DistEntry, t: TensorType, label: str, span: Span, out: DomainResult, fix_name: str = "h") -> None:
    """Check that `entry` can give a log-density to values of type `t` (called `label`)."""
    if t.domain.is_discrete and not entry.discrete:
        out.diagnostics.append(
            error(
                "E403",
                span,
                f"`{entry.name}` is a density, but {label} is discrete ({t}): a density on discrete data is not a likelihood",
                f"dequantize it first: `{fix_name} = dequantize({fix_name})`, or use `categorical()`",
            )
        )
        return
    if not t.domain.is_discrete and entry.discrete:
        out.diagnostics.append(
            error(
                "E404",
                span,
                f"`{entry.name}` is a distribution on int<K> values, but {label} is continuous ({t})",
                "use a density such as `normal()` on continuous values",
            )
        )
        return
    if not entry.support.contains(t.domain):
        out.diagnostics.append(
            error(
                "E406",
                span,
                f"`{entry.name}` gives density only to {entry.support} values, but {label} is {t.domain}: "
                "valid data would get log-density −∞",
                _accept_hint(entry.support, t.domain),
            )
        )
        return
    if t.fold is not None and not fold_respected(t.fold, entry.support):
        out.leaks.append(Leak(t.fold.source, t.fold.line, entry.name, span, t.fold.region, t.fold.scrambled))
    else:
        _waste(entry.name, entry.support, t, label, span, out)


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


def _waste(op: str, accepts: Domain, t: TensorType, label: str, span: Span, out: DomainResult) -> None:
    """W401 where the model first becomes able to generate values outside the data's domain."""
    if t.domain.is_discrete or not t.fills or accepts == t.domain or not accepts.contains(t.domain):
        return
    out.diagnostics.append(
        warning(
            "W401",
            span,
            f"`{op}` can generate {accepts} values in the sampling direction, but {label} is {t.domain}: "
            f"the model puts mass outside {t.domain}, so its density integrates to less than 1 over it",
            _waste_hint(t.domain),
        )
    )


def _waste_hint(domain: Domain) -> str:
    if domain == POSITIVE:
        return "map it onto the reals first with " + _available("`softplus_inv`", "`log`")
    if domain == UNIT:
        return "map it onto the reals first with `logit`"
    return "map it onto (0, 1) with `shift` and `scale`, then onto the reals with `logit`"
