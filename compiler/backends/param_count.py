"""Parameter counts for `--check`, computed without torch.

`parameter_count(construct)` is the number of scalar parameters (the sum of `numel` of every
`nn.Parameter`) of the runtime object that `snn.<runtime>(**kwargs)` builds. The formula of
each runtime class is the `parameters` of the catalogue entry that builds it
(catalogue/counts.py); this module walks the constructs, counts nested objects (nets,
encoders, decoders, used models) recursively and totals them. The formulas are checked
against the built modules by `tests/test_param_count.py`, which also fails when a runtime
class of the catalogue has no formula.

A count is None where it cannot be known without running user code: a user transform or net
(`module:Class`) that declares no `parameters` rule, or anything that contains one (a model
used as a distribution included).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..catalogue import (
    RUNTIME_TABLE,
    CallValue,
    Construct,
    Count,
    Formula,
    Nested,
    TensorRef,
    add_counts,
    no_parameters,
)
from ..core import codes
from ..core.diagnostics import Diagnostic, error
from ..core.namespace import Namespace
from ..ir.checked import Bound, CheckedModel
from ..ir.graph import OpNode
from .codegen import LocalClass, ModelEmitter


class _Nested:
    """Counts a keyword's nested object (a net, an encoder, a decoder, a used model)."""

    def __init__(self, models: Mapping[str, Count] | None) -> None:
        self.models = models

    def __call__(self, value: Any) -> Count:
        if value is None:
            return 0
        if isinstance(value, Construct):
            return parameter_count(value, self.models)
        if isinstance(value, LocalClass):
            if self.models is None or value.name not in self.models:
                return None
            return self.models[value.name]
        raise TypeError(f"not a nested runtime object: {value!r}")


def _as_distribution(k: dict[str, Any], nested: Nested) -> Count:
    """A model of the same file used as a distribution: that model's total."""
    return nested(k["model"])


def _formulas() -> dict[str, Formula]:
    """Runtime class name → its formula: the catalogue entries' own, and `AsDistribution`."""
    formulas = {runtime: entry.parameters for runtime, entry in RUNTIME_TABLE.items() if entry.parameters is not None}
    return {**formulas, "AsDistribution": _as_distribution}


FORMULAS: dict[str, Formula] = _formulas()


def parameter_count(construct: Construct, models: Mapping[str, Count] | None = None) -> Count:
    """Scalar parameters of the object `construct` builds; None if unknown (user code without a
    declared `parameters` rule).

    `models`: model class name → its total, for models used as distributions (`AsDistribution`);
    a used model missing from it counts as unknown. An unknown runtime name is a KeyError.
    """
    if construct.user is not None:  # the declaration's `parameters` rule, if it gives one
        user_formula = construct.user.parameters
        return user_formula(dict(construct.kwargs), _Nested(models)) if user_formula is not None else None
    formula = FORMULAS[construct.runtime]
    return formula(dict(construct.kwargs), _Nested(models))


def total(counts: list[tuple[str, Count]]) -> Count:
    """The sum of per-layer counts; None if any is unknown."""
    return add_counts(*(count for _, count in counts))


def model_parameter_counts(
    checked_model: CheckedModel, class_names: dict[str, str], models_totals: Mapping[str, Count] | None = None
) -> list[tuple[str, Count]]:
    """(layer attribute, count) for each layer of the model's generated class, in the order of
    its `__init__`. `class_names`: model name → class name, as `codegen.emit_module` gives them;
    `models_totals`: class name → total of each model this one uses."""
    return [(attr, count) for attr, _node, count in _layer_counts(checked_model, class_names, models_totals)]


def _layer_counts(
    checked_model: CheckedModel, class_names: dict[str, str], models_totals: Mapping[str, Count] | None
) -> list[tuple[str, str, Count]]:
    """(layer attribute, graph node, count) for each layer, in `__init__` order. A layer of a
    runtime class without parameters or nested objects counts 0 without building its
    arguments (most of a long chain: permutations, fixed maps, standard distributions)."""
    emitter = ModelEmitter(checked_model, class_names, "model.survae")
    out: list[tuple[str, str, Count]] = []
    seen: dict[Any, Count] = {}  # the layers of a `repeat` body count the same every time
    for node, layer in emitter.layers.items():
        call = checked_model.bound[node]
        if FORMULAS.get(call.entry.runtime) is no_parameters:
            out.append((layer.attr, node, 0))
            continue
        key = _layer_key(checked_model, node, call)
        if key is None or key not in seen:
            count = parameter_count(emitter._construct(node, call), models_totals)
            if key is not None:
                seen[key] = count
        else:
            count = seen[key]
        out.append((layer.attr, node, count))
    return out


def _layer_key(checked_model: CheckedModel, node: str, call: Bound) -> Any:
    """What a layer's arguments depend on but its ordinal (which only seeds permutations):
    the call bound with its parameters and nested calls, its input types and the context it
    reads. None if some part cannot be hashed."""
    payload = checked_model.ir.call(node)
    inputs = payload.inputs if isinstance(payload, OpNode) else (payload.input,)
    context = checked_model.types[payload.context].shape if payload.context else None
    key = (_bound_key(call), tuple(checked_model.types[t] for t in inputs), context)
    try:
        hash(key)
    except TypeError:
        return None
    return key


def _bound_key(call: Bound) -> Any:
    # Nested calls (`net=mlp(...)`, with the span of where they are written) and tensors read
    # (`context=`) enter through `nets`, `dists` and the context's shape instead.
    own = tuple((k, v) for k, v in call.params if not isinstance(v, (CallValue, TensorRef)))
    nets = tuple((k, id(n.entry), n.params) for k, n in call.nets.items())
    dists = tuple((k, _bound_key(d)) for k, d in call.dists.items())
    return (id(call.entry), own, nets, dists)


# E506: a model whose parameters alone would take 64 GiB in float32 (and four times that to
# train with Adam) is a typo in a size, not a model; catching it here keeps it from reaching
# a module whose constructor would exhaust memory.
MAX_PARAMETERS = 2**34


def check_parameter_limit(checked_model: CheckedModel, used: Mapping[str, CheckedModel | None]) -> Diagnostic | None:
    """E506 at the model's largest layer if its parameters total over MAX_PARAMETERS (a used
    model contributes its total); else None. Records the per-layer counts on the model, which
    `file_parameter_counts` reuses."""
    if any(tensor not in checked_model.types for tensor in checked_model.ir.tensors):
        return None  # lowering reported an error in this model (a bad type): its layers cannot be built
    names = checked_model.uses()
    totals = {name: m.parameter_total for name in names - {checked_model.name} if (m := used.get(name)) is not None}
    counts = _layer_counts(checked_model, {name: name for name in names}, totals)
    checked_model.parameter_counts = [(attr, count) for attr, _node, count in counts]
    known = [(count, node) for _attr, node, count in counts if count is not None]
    over = sum(count for count, _node in known)
    if over <= MAX_PARAMETERS:
        return None
    largest, node = max(known, key=lambda item: item[0])
    payload = checked_model.ir.call(node)
    if isinstance(payload, OpNode):
        what = f"`{payload.op}`"
        hint = (
            "a dense map on n entries has about n² weights (`linear`, `mlp`, `made`): use smaller `hidden` "
            "widths, couple along channels with `conv`, or `conv1x1` instead of `linear` on images"
        )
    else:
        what = f"`~ {payload.dist}`"
        hint = (
            "a distribution with learned parameters has some for every entry: use `standard_normal()`, "
            'or `normal(per="channel")`, on a large tensor'
        )
    return error(
        codes.E506,
        payload.span,
        f"model `{checked_model.name}` has {over:,} parameters, over the limit of 2**34 ({MAX_PARAMETERS:,}); "
        f"the largest layer, {what} here, has {largest:,}",
        hint,
    )


def file_parameter_counts(models: list[CheckedModel]) -> dict[str, list[tuple[str, Count]]]:
    """Per model name, its layers' counts, for the models of one file (in the order
    `emit_module` gets them, which names their classes); a model used as a distribution is
    counted first and contributes its total to each use."""
    classes = Namespace()
    class_names = {m.name: classes.name(m.name) for m in models}
    by_name = {m.name: m for m in models}
    counts: dict[str, list[tuple[str, Count]]] = {}
    totals: dict[str, Count] = {}

    def visit(model: CheckedModel) -> None:
        if model.name in counts:
            return
        if model.parameter_counts is not None:  # counted by the checker (E506)
            counts[model.name] = model.parameter_counts
            totals[class_names[model.name]] = total(model.parameter_counts)
            return
        for used in sorted(model.uses() - {model.name}):
            if used in by_name:
                visit(by_name[used])
        counts[model.name] = model_parameter_counts(model, class_names, totals)
        totals[class_names[model.name]] = total(counts[model.name])

    for model in models:
        visit(model)
    return {m.name: counts[m.name] for m in models}
