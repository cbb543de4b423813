"""Context nets: deterministic maps of what a model is conditioned on (docs/language.md, Conditioning).

They run on `context` declarations and tensors derived from them only, before anything reads
them; they are never part of the flow, so they give no density and change no likelihood.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, ValidationError, ValidationInfo, field_validator

from ..core import codes
from .base import (
    CallValue,
    DomainRule,
    EmitArgs,
    Kind,
    Kwargs,
    NetSlot,
    OpEntry,
    Params,
    Shape,
    ShapeError,
    Slot,
    single,
)
from .counts import nested_only
from .distributions import NETS

Size = Annotated[int, Field(ge=1, le=1 << 40)]


class EmbedParams(Params):
    net: Annotated[CallValue, Field(description="the net that maps the context: `mlp(...)`, `conv(...)`, ...")]
    channels: Annotated[
        int | None,
        Field(
            ge=1,
            le=1 << 40,
            description="output channels; the other axes are the input's, at the sizes the net makes of them",
        ),
    ] = None
    shape: Annotated[
        tuple[Size, ...] | None,
        Field(min_length=1, validate_default=True, description="the whole output shape, e.g. `[16]`"),
    ] = None

    nested = {"net": "net"}
    examples = {"net": "mlp(hidden=[64])", "channels": "16", "shape": "[16]"}
    unset = {"channels": "none (give `channels=` or `shape=`)", "shape": "none (give `channels=` or `shape=`)"}

    @field_validator("shape")
    @classmethod
    def _one_size(cls, value: tuple[int, ...] | None, info: ValidationInfo) -> tuple[int, ...] | None:
        channels = info.data.get("channels")
        if value is None and channels is None and "channels" in info.data:
            raise ValueError("(or `channels=`) to say what the net makes: `channels=16` keeps the other axes")
        if value is not None and channels is not None:
            raise ValueError("cannot be given with `channels=`: both set the output's size, keep one")
        return value


def _embed_shape(shape: Shape, params: EmbedParams) -> Shape:
    """`[channels, *space]`, `space` the sizes after the first axis that the net makes of the
    input's (`_net_space`), or `shape=` as given."""
    if params.shape is not None:
        return tuple(params.shape)
    assert params.channels is not None  # the schema requires one of them
    if not shape:
        raise ShapeError(codes.E304, "`embed` with `channels=` needs a tensor with a first axis", param="channels")
    return (params.channels, *_net_space(params.net, shape))


def _net_space(net: CallValue, shape: Shape) -> Shape:
    """The sizes after the first axis that `net` gives for an input of `shape`: its entry's
    `resize` rule where it has one (a strided or upsampling `conv` changes them), else the
    input's. Any net with a resize rule works here, with no case of its own."""
    entry = next((e for e in NETS if e.name == net.name), None)
    if entry is None or entry.resize is None or len(shape) < 2:
        return shape[1:]
    try:
        params = entry.params(**dict(net.kwargs))
    except ValidationError:  # reported where the net is bound; the net check stops the model
        return shape[1:]
    return entry.resize(params, shape)


def _embed_slots(shapes: tuple[Shape, ...], params: EmbedParams) -> dict[str, Slot]:
    # The slot is general: a net that keeps space (conv, resnet, transformer) checks that the
    # axes after the first agree (E309); an mlp maps any shape to any shape.
    return {"net": NetSlot(shapes[0], _embed_shape(shapes[0], params))}


def _emit_embed(e: EmitArgs) -> Kwargs:
    return (("shape", e.t.shape), ("out_shape", _embed_shape(e.t.shape, e.params)), ("net", e.nested["net"]))


EMBED = OpEntry(
    name="embed",
    kind=Kind.BIJECTIVE,  # nominal: a context net is no transform of the flow (`context_only`)
    params=EmbedParams,
    runtime="Embed",
    summary=(
        "a context net: maps a context (or a tensor derived from one) to features that couplings and "
        "conditional distributions read with `context=`"
    ),
    maths=(
        "f = net(c), reshaped to `[channels, *c.shape[1:]]` (`channels=`; a net with `stride`/`upsample` (`conv`, "
        "`resnet`) changes the sizes after the first axis as its resize rule says: `conv(..., stride=2)` on "
        "`[3, 32, 32]` gives `[channels, 16, 16]`) or to `shape=`. Deterministic given "
        "the context and never modelled, so it adds nothing to log p(x | c) and keeps the likelihood class. "
        "It reads only contexts and what structural ops and other context nets derive from them (E412 otherwise); "
        "its output may be read any number of times and is never consumed. An `int<K>` context reaches the net "
        "as cell centres (2c + 1)/K − 1. The net's last layer starts at zero, so a fresh `embed` gives zeros: the "
        "model starts as if it ignored the context."
    ),
    infer_shape=single(_embed_shape),
    domain=DomainRule(accepts=lambda _params: None, role="net"),
    emit=_emit_embed,
    slots=_embed_slots,
    parameters=nested_only("net"),
    context_only=True,
)

CONTEXT_OPS: tuple[OpEntry, ...] = (EMBED,)
