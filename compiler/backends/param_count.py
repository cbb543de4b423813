"""Parameter counts for `--check`, computed without torch.

`parameter_count(construct)` is the number of scalar parameters (the sum of `numel` of every
`nn.Parameter`) of the runtime object that `snn.<runtime>(**kwargs)` builds. Each runtime class
has one small formula below that mirrors its constructor in `survae_dsl/nn` (defaults
included); nested objects (nets, encoders, decoders) are counted recursively. The formulas are
checked against the built modules by `tests/test_param_count.py`, which also fails when a
runtime class of the catalogue has no formula here.

A count is None where it cannot be known without running user code: a user transform
(`module:Class`), or anything that contains one (a model used as a distribution included).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..catalogue import CallValue, Construct, TensorRef
from ..core import codes
from ..core.diagnostics import Diagnostic, error
from ..core.namespace import Namespace
from ..ir.checked import Bound, CheckedModel
from ..ir.graph import OpNode
from .codegen import LocalClass, ModelEmitter

Count = int | None
Kwargs = dict[str, Any]
Formula = Callable[[Kwargs, "_Nested"], Count]


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


def _add(*counts: Count) -> Count:
    """The sum, or None if any part is unknown."""
    known = [c for c in counts if c is not None]
    return sum(known) if len(known) == len(counts) else None


def _numel(shape: tuple[int, ...]) -> int:
    count = 1
    for size in shape:
        count *= size
    return count


def _dense(width_in: int, width_out: int) -> int:
    """`nn.Linear(width_in, width_out)`: weight and bias."""
    return width_in * width_out + width_out


def _conv(width_in: int, width_out: int, kernel: int, spatial_dims: int) -> int:
    """`nn.Conv1d`/`nn.Conv2d(width_in, width_out, kernel)`: weight and bias."""
    window: int = kernel**spatial_dims  # int ** int is typed Any (a negative power is a float)
    return width_in * width_out * window + width_out


def _chain(widths: tuple[int, ...], layer: Callable[[int, int], int]) -> int:
    """Layers between consecutive widths."""
    return sum(layer(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True))


# --------------------------------------------------------------------------------------------
# One formula per runtime class (k: the constructor's keywords; nested: counts a nested object)


def _none(_k: Kwargs, _nested: _Nested) -> Count:
    """A layer without parameters (fixed maps, structural ops, StandardNormal, ...)."""
    return 0


def _mlp(k: Kwargs, _nested: _Nested) -> Count:
    widths = (k["in_features"], *k.get("hidden", (64,)), k["out_features"])
    return _chain(widths, _dense)


def _conv_net(k: Kwargs, _nested: _Nested) -> Count:
    layers, hidden, kernel, spatial = (
        k.get("layers", 2),
        k.get("hidden", 64),
        k.get("kernel", 3),
        k.get("spatial_dims", 2),
    )
    widths = (k["in_channels"], *([hidden] * (layers - 1)), k["out_channels"])
    return _chain(widths, lambda a, b: _conv(a, b, kernel, spatial))


def _resnet(k: Kwargs, _nested: _Nested) -> Count:
    hidden: int = k.get("hidden", 64)
    blocks: int = k.get("blocks", 2)
    spatial: int = k.get("spatial_dims", 2)

    def layer(a: int, b: int) -> int:
        return _dense(a, b) if spatial == 0 else _conv(a, b, 3, spatial)

    return layer(k["in_channels"], hidden) + 2 * blocks * layer(hidden, hidden) + layer(hidden, k["out_channels"])


def _transformer(k: Kwargs, _nested: _Nested) -> Count:
    dim: int = k.get("dim", 64)
    layers: int = k.get("layers", 2)
    norm = 2 * dim  # LayerNorm: weight and bias
    block = norm + _dense(dim, 3 * dim) + _dense(dim, dim) + norm + _dense(dim, 4 * dim) + _dense(4 * dim, dim)
    position: int = k["length"] * dim if k.get("positional", False) else 0
    return _dense(k["in_features"], dim) + position + layers * block + norm + _dense(dim, k["out_features"])


def _made(k: Kwargs, _nested: _Nested) -> Count:
    # Masked linear layers are full nn.Linear layers: the masked-out weights are parameters too.
    features = k["features"]
    widths = (
        features + k.get("context_features", 0),
        *k.get("hidden", (64,)),
        k.get("params_per_feature", 2) * features,
    )
    return _chain(widths, _dense)


def _with_net(k: Kwargs, nested: _Nested) -> Count:
    """A layer whose only parameters are its net's (couplings, autoregressive flows)."""
    return nested(k["net"])


def _actnorm(k: Kwargs, _nested: _Nested) -> Count:
    channels: int = k["shape"][0]
    return 2 * channels  # shift and log_scale per channel


def _lu(k: Kwargs, _nested: _Nested) -> Count:
    # `lower` and `upper` are full (C, C) parameters (only their strict triangles are used)
    # and `log_s` is (C,): 2·C² + C, not the C² of the matrix.
    channels: int = k["shape"][0]
    return 2 * channels * channels + channels


def _own_or_net(per_entry: Callable[[Kwargs], int]) -> Formula:
    """A distribution with `per_entry(k)` learned numbers per entry of its shape, or, with
    `net=`, only its net's parameters."""

    def formula(k: Kwargs, nested: _Nested) -> Count:
        if k.get("net") is not None:
            return nested(k["net"])
        return per_entry(k) * _numel(k["shape"])

    return formula


def _normal(k: Kwargs, nested: _Nested) -> Count:
    if k.get("net") is not None:
        return nested(k["net"])
    shape = k["shape"] if k.get("per", "element") == "element" else k["shape"][:1]
    return 2 * _numel(shape)  # loc and log_scale


def _nested_only(*keys: str) -> Formula:
    """A layer whose parameters are those of its nested objects under `keys` (None: none)."""

    def formula(k: Kwargs, nested: _Nested) -> Count:
        return _add(*(nested(k.get(key)) for key in keys))

    return formula


def _max_pool(k: Kwargs, nested: _Nested) -> Count:
    if k.get("decoder") is not None:
        return nested(k["decoder"])
    # The runtime default is HalfNormal(gap shape), with a learned log_scale per gap.
    shape: tuple[int, ...] = k["shape"]
    kernel: int = k.get("kernel", 2)
    window: int = kernel ** (len(shape) - 1)
    return shape[0] * (window - 1) * _numel(tuple(s // kernel for s in shape[1:]))


def _as_distribution(k: Kwargs, nested: _Nested) -> Count:
    return nested(k["model"])


FORMULAS: dict[str, Formula] = {
    # nets
    "MLP": _mlp,
    "ConvNet": _conv_net,
    "ResNet": _resnet,
    "Transformer": _transformer,
    "MADE": _made,
    # distributions
    "StandardNormal": _none,
    "StandardUniform": _none,
    "Normal": _normal,
    "HalfNormal": _own_or_net(lambda k: 1),
    "TruncatedNormal": _own_or_net(lambda k: 2),
    "LogitNormal": _own_or_net(lambda k: 2),
    "Categorical": _own_or_net(lambda k: k["num_classes"]),
    "Bernoulli": _own_or_net(lambda k: 1),
    "AsDistribution": _as_distribution,
    # bijections with parameters
    "AffineCoupling": _with_net,
    "AdditiveCoupling": _with_net,
    "SplineCoupling": _with_net,
    "AffineAutoregressive": _with_net,
    "ActNorm": _actnorm,
    "Linear": _lu,
    "Conv1x1": _lu,
    # surjections and stochastic layers: their nested nets and distributions
    "Abs": _nested_only("net"),
    "Dequantize": _nested_only("encoder"),
    "Slice": _nested_only("decoder"),  # default StandardNormal: none
    "Augment": _nested_only("encoder"),  # default StandardNormal: none
    "VAE": _nested_only("encoder", "decoder"),
    "MaxPool": _max_pool,
    # fixed maps
    **dict.fromkeys(
        (
            "Exp",
            "Log",
            "Logit",
            "Sigmoid",
            "Softplus",
            "SoftplusInv",
            "Shift",
            "Scale",
            "Reverse",
            "Shuffle",
            "Transpose",
            "Squeeze2d",
            "Unsqueeze2d",
            "Reshape",
            "Flatten",
            "Split",
            "Concat",
            "Sort",
            "SortedToReal",
            "StochasticPermutation",
        ),
        _none,
    ),
}


def parameter_count(construct: Construct, models: Mapping[str, Count] | None = None) -> Count:
    """Scalar parameters of the object `construct` builds; None if unknown (a user transform).

    `models`: model class name → its total, for models used as distributions (`AsDistribution`);
    a used model missing from it counts as unknown. An unknown runtime name is a KeyError.
    """
    if construct.user is not None:
        return None
    formula = FORMULAS[construct.runtime]
    return formula(dict(construct.kwargs), _Nested(models))


def total(counts: list[tuple[str, Count]]) -> Count:
    """The sum of per-layer counts; None if any is unknown."""
    return _add(*(count for _, count in counts))


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
        if FORMULAS.get(call.entry.runtime) is _none:
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
