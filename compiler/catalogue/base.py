"""What a catalogue entry is: one op, distribution or net, described once.

An entry carries everything the rest of the compiler needs — kind, parameter schema (a
pydantic model), shape rule, domain rule, runtime class, diagram style and emitter — so no
other module branches on op names (the catalogue is the single source of truth).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any, ClassVar, Union

from pydantic import BaseModel, ConfigDict

from ..core import codes
from ..core.domains import POSITIVE, REAL, UNIT, Domain, TensorType, hull, image
from ..core.parts import Movement
from ..core.source import Span
from .counts import Formula


class Kind(str, Enum):
    """The four transformation kinds of SurVAE Flows (docs/language.md)."""

    BIJECTIVE = "bijective"
    INFERENCE_SURJECTIVE = "inference_surjective"
    GENERATIVE_SURJECTIVE = "generative_surjective"
    STOCHASTIC = "stochastic"

    @property
    def exact(self) -> bool:
        return self in (Kind.BIJECTIVE, Kind.INFERENCE_SURJECTIVE)

    @property
    def label(self) -> str:
        return self.value.replace("_", "-")


@dataclass(frozen=True)
class CallValue:
    """A nested call used as a keyword value (`net=mlp(hidden=[64])`), consts resolved.

    `kwargs` values are plain Python values (int, float, bool, str, tuples, CallValue).
    """

    name: str
    kwargs: tuple[tuple[str, Any], ...]
    span: Any  # source.Span; Any keeps pydantic's schema generation away from it


@dataclass(frozen=True)
class TensorRef:
    """A tensor read by `context=NAME` (not consumed): its id in the model and its name."""

    tensor: str
    name: str


class Params(BaseModel):
    """Base of every parameter schema: strict types, no unknown keywords, immutable."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, arbitrary_types_allowed=True)

    # keyword → role of the nested call it takes ("net" or "distribution")
    nested: ClassVar[dict[str, str]] = {}
    # keyword → an example value, shown when the keyword is missing
    examples: ClassVar[dict[str, str]] = {}
    # keyword → what leaving it out means, for each keyword whose default is None (the default
    # column of docs/catalogue.md: `⌈n/2⌉` for a split, `none` for an optional context)
    unset: ClassVar[dict[str, str]] = {}
    # keyword → the hint where it is given but not taken (a user transform declaring no net)
    not_taken: ClassVar[dict[str, str]] = {}


class NoParams(Params):
    pass


# --------------------------------------------------------------------------------------------
# What back ends build: a runtime constructor call with literal arguments


Arg = Union[int, float, bool, str, None, tuple["Arg", ...], "Construct", Any]  # Any: codegen's LocalClass


@dataclass(frozen=True)
class UserImpl:
    """The PyTorch class of a user transform (`impl "module:Class"`), which the generated
    module imports; the compiler never does."""

    module: str
    cls: str
    # The `impl "..."` string in the model file, for diagnostics about the module (the API's
    # E216, the command line's W404); not part of what the class is.
    span: Span | None = field(default=None, compare=False)
    # The declaration's `parameters` rule as a formula on the constructor's keywords (what
    # `--check` counts without importing the class); None where the user declared none.
    parameters: Formula | None = field(default=None, compare=False)

    @property
    def path(self) -> str:
        """`module:Class`, as the user wrote it."""
        return f"{self.module}:{self.cls}"


@dataclass(frozen=True)
class Construct:
    """`snn.<runtime>(**kwargs)`: a runtime object the generated module builds; with `user`,
    `<module>.<Class>(**kwargs)` for a user transform's class instead."""

    runtime: str
    kwargs: tuple[tuple[str, Arg], ...]
    user: UserImpl | None = None


class ShapeError(Exception):
    """Raised by a shape rule; becomes an E3xx diagnostic pointing at `param` if given."""

    def __init__(self, code: codes.Code, message: str, hint: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.hint, self.param = code, message, hint, param


def check_axis(shape: tuple[int, ...], dim: int, op: str) -> int:
    """The axis `dim` of an event shape, or a ShapeError naming the op."""
    if not 0 <= dim < len(shape):
        raise ShapeError(
            codes.E301,
            f"`{op}` has no axis dim={dim} on a tensor of shape [{', '.join(map(str, shape))}]",
            f"`dim` counts the non-batch axes from 0; use 0..{len(shape) - 1}",
            param="dim",
        )
    return shape[dim]


Shape = tuple[int, ...]
# Per index along axis 0, the distinct elementwise maps its entries get (DomainRule.entry_maps).
ChannelMaps = tuple[tuple[Callable[[float], float], ...], ...]


# --------------------------------------------------------------------------------------------
# Domain rules (docs/language.md, What the checker enforces)


@dataclass(frozen=True)
class DomainRule:
    """How an op treats data domains and folds.

    - `accepts(params)`: the values its inference direction takes; anything else is E405
      (None: any domain, checked elsewhere, as a vae's decoder is).
    - `role`: "elementwise" (a fixed monotone map: maps domains and carries folds through its
      image), "structural" (moves entries as `structure` says: keeps each entry's domain, fill
      and folds), "net" (learned, real → real), or "surjection" (its own output domain; may set
      a fold).
    - `point_map`: the elementwise map on numbers, for interval images.
    - `entry_maps(params, shape)`: where entries get maps of their own (`scale(by=[...])`),
      for each index along axis 0 the distinct maps of its entries (`ChannelMaps`); None where
      `point_map` is every entry's map.
    - `output`: for non-elementwise roles, the produced domain given the input domain.
    - `sets_fold`: the fold region an inference surjection puts on its output; ORDERED for an
      op that sorts (it permutes entries, so the folds they carry come along).
    - `structure(params, input shapes)`: how a structural op moves entries (`parts.Movement`).
    - `closes_order`: the op maps the ascending run of an ordered fold onto all reals
      (`sorted_to_real`), the one consumer that respects an ordered fold.
    """

    # The params of these callables are each op's own Params subclass, hence Any.
    accepts: Callable[[Any], Domain | None]
    role: str
    point_map: Callable[[Any], Callable[[float], float]] | None = None
    entry_maps: Callable[[Any, Shape], ChannelMaps | None] | None = None
    output: Callable[[Domain, Any], Domain] | None = None
    sets_fold: Domain | None = None
    structure: Callable[[Any, tuple[Shape, ...]], Movement] | None = None
    closes_order: bool = False
    requires: Callable[[Domain, Any], str | None] | None = None  # extra condition → E405 text
    # The values the generative direction can produce from the output domain (for waste,
    # W401); None means everything the op accepts (learned maps can reach all of it).
    regenerates: Callable[[Domain], Domain] | None = None
    # Maps finite numbers to finite numbers (`shift`, `scale`): an infinite output bound where
    # the input's was finite is float overflow (E411), not a property of the map.
    finite: bool = False

    def produce(self, t: TensorType, params: Params) -> tuple[Domain, bool]:
        """(domain, fills) of the output for an input of type `t` that passed `accepts`."""
        if self.role == "elementwise":
            maps = {fn for channel in self.channel_maps(params, t.shape) for fn in channel}
            images = {image(t.domain, fn) for fn in maps}
            return hull(list(images)), t.fills and len(images) == 1
        if self.role == "structural":
            return t.domain, t.fills
        if self.role == "net":
            return REAL, t.fills and t.domain == REAL
        assert self.output is not None
        return self.output(t.domain, params), t.fills

    def channel_maps(self, params: Params, shape: Shape) -> ChannelMaps:
        """The maps of an elementwise op's entries, per index along axis 0; one tuple holding
        `point_map` alone where every entry gets it."""
        maps = self.entry_maps(params, shape) if self.entry_maps is not None else None
        if maps is not None:
            return maps
        assert self.point_map is not None
        return ((self.point_map(params),),)


def always(domain: Domain) -> Callable[[Any], Domain]:
    return lambda _params: domain


def structural(structure: Callable[[Any, tuple[Shape, ...]], Movement]) -> DomainRule:
    """The rule of an op that only moves entries, as `structure` describes."""
    return DomainRule(accepts=always(REAL), role="structural", structure=structure)


NET_BASED = DomainRule(accepts=always(REAL), role="net")


# --------------------------------------------------------------------------------------------
# Entries


@dataclass(frozen=True)
class Style:
    """Graphviz node attributes for a kind of node."""

    shape: str
    fillcolor: str
    fontcolor: str = "black"


KIND_STYLES: dict[str, Style] = {
    Kind.BIJECTIVE.value: Style("box", "#cfe2f3"),
    Kind.INFERENCE_SURJECTIVE.value: Style("invhouse", "#d9ead3"),
    Kind.GENERATIVE_SURJECTIVE.value: Style("house", "#fce5cd"),
    Kind.STOCHASTIC.value: Style("octagon", "#f4cccc"),
    "distribution": Style("ellipse", "#eeeeee"),
    "input": Style("parallelogram", "#ffffff"),
    "context": Style("parallelogram", "#fff2cc"),
    # ops computed from contexts alone (structural ops, `embed`): context-side, never modelled
    "context_side": Style("box", "#fff2cc"),
}


Kwargs = tuple[tuple[str, Arg], ...]


@dataclass(frozen=True)
class NetSlot:
    """A net an op builds: the shape it reads and the shape it must produce (no batch axis).

    Nets keep their own layout: an MLP flattens both, a convolutional net keeps channels
    first. `autoregressive` slots need a net whose outputs respect the input order (`made`).
    """

    in_shape: Shape
    out_shape: Shape
    autoregressive: bool = False
    context: Shape | None = None  # a tensor the net also reads (`context=` on its op)


@dataclass(frozen=True)
class DistSlot:
    """An op's own encoder or decoder (docs/catalogue.md): a distribution over `event`.

    `context` is the shape of what it is conditioned on when it has a `net=` (the kept part
    of `slice`, the pooled tensor of `max_pool`, the input of `dequantize`/`augment`/a vae's
    encoder, the latent of a vae's decoder). `values` says what it models:
    - "input": part of the op's input, with its domain and fold (decoders of `slice`, `vae`);
    - "gaps": positive values the op itself folds (`max_pool`'s decoder);
    - "unit" / "real": noise the encoder draws, which must lie in that domain.
    """

    role: str  # "encoder" | "decoder"
    event: Shape
    context: Shape
    values: str

    def domain(self, source: Domain) -> Domain:
        """Where the modelled (decoders) or drawn (encoders) values lie; `source` is the
        domain of the op's input, which "input" decoders model part of."""
        return {"input": source, "gaps": POSITIVE, "unit": UNIT}.get(self.values, REAL)


Slot = NetSlot | DistSlot

# The callables an op entry is made of. Their parameters are typed Any where each entry passes
# its own Params subclass (a rule written for `SplitParams` is stored as a rule of any params).
ShapeRule = Callable[[tuple[Shape, ...], Any], tuple[Shape, ...]]
OneShapeRule = Callable[[Shape, Any], Shape]
SlotRule = Callable[[tuple[Shape, ...], Any], dict[str, Slot]]


@dataclass(frozen=True)
class EmitArgs:
    """What an op's emitter needs: validated params, the input types, the nested objects
    already built for its slots (by keyword), and the layer's ordinal among the model's layers
    of the same op (1, 2, ...), used as a deterministic seed."""

    params: Any
    inputs: tuple[TensorType, ...]
    nested: dict[str, Construct]
    ordinal: int = 1

    @property
    def t(self) -> TensorType:
        return self.inputs[0]


Emitter = Callable[[EmitArgs], Kwargs]


def no_slots(_shapes: tuple[Shape, ...], _params: Any) -> dict[str, Slot]:
    return {}


@dataclass(frozen=True)
class OpEntry:
    """One transform of docs/catalogue.md.

    `infer_shape` maps the input shapes to the output shapes (raising ShapeError);
    `num_inputs` is None for "two or more" (`concat`); `num_outputs(params)` may depend on the
    parameters (`split`). `slots` names the nets and distributions the op builds, with their
    shapes, so that checking and code generation read one description. `user_impl` is set
    for a user's `transform` declaration (its `runtime` is then `module:Class`), None for
    the catalogue's own ops.
    """

    name: str
    kind: Kind
    params: type[Params]
    runtime: str
    summary: str
    maths: str
    infer_shape: ShapeRule
    domain: DomainRule
    emit: Emitter
    num_inputs: int | None = 1
    num_outputs: Callable[[Any], int] = field(default=lambda _params: 1)
    slots: SlotRule = no_slots
    user_impl: UserImpl | None = None
    parameters: Formula | None = None
    # Runs on contexts only (`embed`): a deterministic map of what the model is conditioned on,
    # never part of the flow; its `kind` is then only nominal.
    context_only: bool = False
    # A caveat on the op's exactness that `--check` prints under `note:` after "`op` at line
    # N" (`batchnorm`: exact in evaluation mode only); it does not change the likelihood class.
    note: str | None = None

    @property
    def style(self) -> Style:
        return KIND_STYLES[self.kind.value]

    @property
    def runs_on_contexts(self) -> bool:
        """Whether the op may map contexts (docs/language.md, Conditioning): the context-only
        ops, and the catalogue's structural bijections, which only move entries. Anything
        that gives a density or changes the likelihood (couplings, surjections, user
        transforms) may not: a context is never modelled (E409)."""
        structural = self.kind is Kind.BIJECTIVE and self.domain.role == "structural"
        return self.context_only or (self.user_impl is None and structural)


@dataclass(frozen=True)
class DistEntry:
    """A distribution: after `~`, or as an op's encoder or decoder.

    `params_per_entry(params, t)` is how many numbers its net gives per modelled entry when
    it is conditional (`net=`), or 0 if it cannot be. `parameters` counts the runtime object's
    parameters from its constructor's keywords (catalogue/counts.py).
    """

    name: str
    params: type[Params]
    runtime: str
    support: Domain
    discrete: bool
    summary: str
    maths: str
    emit: Callable[[Any, TensorType], Kwargs] = field(default=lambda p, t: ())
    params_per_entry: Callable[[Any, TensorType], int] = field(default=lambda p, t: 0)
    parameters: Formula | None = None


@dataclass(frozen=True)
class NetEntry:
    """A conditioner network; its input and output shapes are inferred by the op using it.

    `check(in_shape, out_shape)` raises ShapeError where the net cannot connect them (a
    convolution between different spatial sizes); `emit` gives its constructor's keywords, and
    `parameters` counts the parameters it builds from them (catalogue/counts.py).
    """

    name: str
    params: type[Params]
    runtime: str
    summary: str
    emit: Callable[[Any, Shape, Shape, Shape | None], Kwargs]  # (params, in, out, context)
    check: Callable[[Any, Shape, Shape], None] = field(default=lambda p, i, o: None)
    autoregressive: bool = False
    parameters: Formula | None = None
    # Keeps every axis but the first (conv, resnet on [C, ...], transformer): a context with
    # axes of its own must have the input's, or the runtime flattens and broadcasts it.
    keeps_space: bool = False
    # (params, in_shape) → the sizes after the first axis that the net produces: a strided or
    # upsampling `conv` changes them; None where the net keeps them (or flattens, as `mlp`).
    # `check` accepts an out shape whose trailing sizes differ from the input's only when this
    # gives exactly them; ops that size a tensor from a net (a vae's decoder) may call it.
    resize: Callable[[Any, Shape], Shape] | None = None
    # What the net computes, its options and their caveats (docs/catalogue.md).
    details: str = ""
    # params → a caveat on exactness that `--check` prints under `note:` (`norm=batch`: exact
    # in evaluation mode only), or None; like an op's `note`, it keeps the likelihood class.
    note: Callable[[Any], str | None] = field(default=lambda p: None)
    # The user's PyTorch class for a `net` declaration (its `runtime` is then `module:Class`).
    user_impl: UserImpl | None = None


def op_slots(entry: OpEntry, inputs: tuple[Shape, ...], params: Any, context: Shape | None) -> dict[str, Slot]:
    """The op's slots; with `context=`, its nets also read the context."""
    slots = entry.slots(inputs, params)
    if context is None:
        return slots
    return {k: replace(s, context=context) if isinstance(s, NetSlot) else s for k, s in slots.items()}


def single(rule: OneShapeRule) -> ShapeRule:
    """Lift a one-input, one-output shape rule to the general form."""
    return lambda shapes, params: (rule(shapes[0], params),)
