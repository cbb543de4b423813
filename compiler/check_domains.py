"""Pass 3: data domains, fills and folds (LANGUAGE.md §6.3).

Walks the graph in inference order. For every consumption it checks that the consumer accepts
the tensor's domain (E405, E403, E404, E406), records fold leaks (they make the model a lower
bound) and warns about waste (W401: the model can generate values outside the data's domain).
"""

from __future__ import annotations

from dataclasses import dataclass

from .catalogue import DistEntry, OpEntry
from .catalogue.base import DomainRule
from .check_args import Bound
from .diagnostics import Diagnostic, error, warning
from .domains import INF, ORDERED, POSITIVE, UNIT, Domain, Fold, TensorType, image
from .ir import DistNode, InputNode, ModelIR, OpNode
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
        if isinstance(payload, InputNode) and payload.tensor in shapes:
            result.types[payload.tensor] = TensorType(payload.domain, payload.shape)
        elif node not in bound:
            continue
        elif isinstance(payload, OpNode) and all(t in result.types for t in payload.inputs):
            _op(model, payload, bound[node], shapes, result)
        elif isinstance(payload, DistNode) and payload.input in result.types:
            _dist(model, payload, bound[node], result)
    return result


def _op(model: ModelIR, node: OpNode, call: Bound, shapes: dict[str, tuple[int, ...]], out: DomainResult) -> None:
    entry = call.entry
    assert isinstance(entry, OpEntry)
    t = out.types[node.inputs[0]]
    rule = entry.domain
    accepts = rule.accepts(call.params)
    name = model.tensors[node.inputs[0]].name
    problem = _refusal(entry.name, accepts, t, name) or (rule.requires(t.domain, call.params) if rule.requires else None)
    if problem:
        out.diagnostics.append(error("E405", node.input_spans[0], problem, _accept_hint(accepts, t.domain)))
        return
    domain, fills = rule.produce(t, call.params)
    fold = _next_fold(rule, call, t, accepts, node, out)
    if rule.role in ("net", "surjection") and (t.fold is None or fold_respected(t.fold, accepts)):
        generated = rule.regenerates(domain) if rule.regenerates else accepts
        _waste(entry.name, generated, t, name, node.span, out)
    if rule.sets_fold is not None:
        fold = Fold(rule.sets_fold, entry.name, node.span.line)
    for tensor in node.outputs:
        if tensor in shapes:
            out.types[tensor] = TensorType(domain, shapes[tensor], fills, fold)


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


def _dist(model: ModelIR, node: DistNode, call: Bound, out: DomainResult) -> None:
    entry = call.entry
    assert isinstance(entry, DistEntry)
    t = out.types[node.input]
    name = model.tensors[node.input].name
    span = node.input_span or node.span
    if t.domain.is_discrete and not entry.discrete:
        out.diagnostics.append(
            error(
                "E403",
                span,
                f"`{entry.name}` is a density, but `{name}` is discrete ({t}): a density on discrete data is not a likelihood",
                f"dequantize it first: `{name} = dequantize({name})`",
            )
        )
        return
    if not t.domain.is_discrete and entry.discrete:
        out.diagnostics.append(
            error("E404", span, f"`{entry.name}` is a discrete distribution, but `{name}` is continuous ({t})", None)
        )
        return
    if not entry.support.contains(t.domain):
        out.diagnostics.append(
            error(
                "E406",
                span,
                f"`{entry.name}` gives density only to {entry.support} values, but `{name}` is {t.domain}: "
                "valid data would get log-density −∞",
                _accept_hint(entry.support, t.domain),
            )
        )
        return
    if t.fold is not None and not fold_respected(t.fold, entry.support):
        out.leaks.append(Leak(t.fold.source, t.fold.line, entry.name, node.span, t.fold.region, t.fold.scrambled))
    else:
        _waste(entry.name, entry.support, t, name, node.span, out)


def _refusal(op: str, accepts: Domain, t: TensorType, name: str) -> str | None:
    if accepts.contains(t.domain):
        return None
    return f"`{op}` accepts {_domain_words(accepts)}, but `{name}` is {t.domain}"


def _domain_words(domain: Domain) -> str:
    if domain.kind == "int":
        return "only discrete int<K> data"
    return f"{domain} values"


def _accept_hint(accepts: Domain, found: Domain) -> str | None:
    if found.is_discrete:
        return "dequantize discrete data first: `h = dequantize(h)`"
    if accepts.is_discrete:
        return "this tensor is already continuous; `dequantize` belongs right after an int<K> input"
    if accepts == UNIT:
        return "map it onto (0, 1) first, e.g. with `sigmoid`, or `shift` and `scale` for a bounded interval"
    if accepts == POSITIVE:
        return "map it onto positive values first, e.g. with `softplus` or `abs`"
    return None


def _waste(op: str, accepts: Domain, t: TensorType, name: str, span: Span, out: DomainResult) -> None:
    """W401 where the model first becomes able to generate values outside the data's domain."""
    if t.domain.is_discrete or not t.fills or accepts == t.domain or not accepts.contains(t.domain):
        return
    out.diagnostics.append(
        warning(
            "W401",
            span,
            f"`{op}` can generate {accepts} values in the sampling direction, but `{name}` is {t.domain}: "
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
