"""Surjections and stochastic layers (docs/catalogue.md), and the ordered-data maps of `sort`.

Inference surjections are exact; generative surjections and stochastic layers make
`log_prob` a one-sample lower bound. Ops with their own encoder or decoder describe it as a
`DistSlot`, so the checker applies the same support and fold rules as to a `~` statement.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from ..core import codes
from ..core.domains import ANY_INT, ORDERED, POSITIVE, REAL, UNIT, Domain, interval
from ..core.parts import Append, Permute, Split
from .base import (
    CallValue,
    DistSlot,
    DomainRule,
    EmitArgs,
    Kind,
    Kwargs,
    NetSlot,
    OneShapeRule,
    OpEntry,
    Params,
    Shape,
    ShapeError,
    Slot,
    always,
    check_axis,
    single,
    structural,
)
from .counts import Count, CountKwargs, Nested, nested_only, no_parameters, numel
from .rules import divisible, need_rank, part_along, same_shape, show, with_size

Dim = Annotated[int, Field(ge=0, description="the axis, from 0")]
Distribution = Annotated[CallValue, Field(description="a distribution, e.g. `normal()`")]


def _with_nested(kwargs: Kwargs, e: EmitArgs, *keys: str) -> Kwargs:
    """`kwargs` plus each nested object the op has built."""
    return kwargs + tuple((key, e.nested[key]) for key in keys if key in e.nested)


# --------------------------------------------------------------------------------------------
# abs


def _abs_output(domain: Domain, _params: object) -> Domain:
    if domain.lo >= 0:
        return domain
    if domain.hi <= 0:
        return interval(-domain.hi, -domain.lo)
    return interval(0.0, max(-domain.lo, domain.hi))


class AbsParams(Params):
    sign: Literal["uniform", "learned"] = "uniform"
    net: Annotated[
        CallValue | None, Field(validate_default=True, description="gives the logit of each sign from |x|")
    ] = None

    nested = {"net": "net"}
    examples = {"net": "mlp(hidden=[32])"}
    unset = {"net": "none (required with `sign=learned`)"}

    @field_validator("net")
    @classmethod
    def _net_with_learned_sign(cls, value: CallValue | None, info: ValidationInfo) -> CallValue | None:
        learned = info.data.get("sign") == "learned"
        if learned and value is None:
            raise ValueError("with sign=learned: a net gives the logit of the sign from |x|")
        if not learned and value is not None and "sign" in info.data:
            raise ValueError("is used only with sign=learned")
        return value


ABS = OpEntry(
    name="abs",
    kind=Kind.INFERENCE_SURJECTIVE,
    params=AbsParams,
    runtime="Abs",
    summary="folds each entry onto its absolute value (exact)",
    maths=(
        "z = |x|. Generative direction: x = s · z with a sign s = ±1, uniform (default) or drawn from "
        "Bernoulli(σ(ℓ)) with logits ℓ = net(z) (`sign=learned`). Contribution log p(s | z): −D · log 2 "
        "(uniform) or Σ log σ(s · ℓ) (learned; a zero net gives −D · log 2). Exact only if the model downstream "
        "puts no mass on z < 0: its output carries the fold `positive` (docs/language.md, What the checker enforces)."
    ),
    infer_shape=single(same_shape),
    domain=DomainRule(
        accepts=always(REAL),
        role="surjection",
        output=_abs_output,
        sets_fold=POSITIVE,
        regenerates=lambda out: interval(-out.hi, out.hi),  # s · z with a random sign
    ),
    emit=lambda e: _with_nested((("shape", e.t.shape), ("sign", e.params.sign)), e, "net"),
    slots=lambda shapes, p: {"net": NetSlot(shapes[0], shapes[0])} if p.net is not None else {},
    parameters=nested_only("net"),
)

# --------------------------------------------------------------------------------------------
# max_pool


class MaxPoolParams(Params):
    kernel: Annotated[int, Field(ge=2, le=1 << 20, description="the window's side")] = 2
    decoder: Distribution = CallValue("half_normal", (), None)

    nested = {"decoder": "distribution"}


def _pooled(shape: Shape, params: MaxPoolParams) -> Shape:
    need_rank(shape, (2, 3), "max_pool", "`[C, L]` or `[C, H, W]` tensors", "reshape the tensor to channels first")
    for axis, size in enumerate(shape[1:], start=1):
        divisible(size, params.kernel, "max_pool", f"axis {axis} (size {size})", "kernel")
    return (shape[0], *(size // params.kernel for size in shape[1:]))


def _max_pool_slots(shapes: tuple[Shape, ...], params: MaxPoolParams) -> dict[str, Slot]:
    pooled = _pooled(shapes[0], params)
    window = params.kernel ** (len(pooled) - 1)
    gaps = (pooled[0] * (window - 1), *pooled[1:])
    return {"decoder": DistSlot("decoder", gaps, pooled, "gaps")}


def _max_pool_parameters(k: CountKwargs, nested: Nested) -> Count:
    if k.get("decoder") is not None:
        return nested(k["decoder"])
    # The runtime default is HalfNormal(gap shape), with a learned log_scale per gap.
    shape: tuple[int, ...] = k["shape"]
    kernel: int = k.get("kernel", 2)
    window: int = kernel ** (len(shape) - 1)
    return shape[0] * (window - 1) * numel(tuple(s // kernel for s in shape[1:]))


MAX_POOL = OpEntry(
    name="max_pool",
    kind=Kind.INFERENCE_SURJECTIVE,
    params=MaxPoolParams,
    runtime="MaxPool",
    summary="keeps each window's maximum; the decoder models the other entries' gaps below it (exact)",
    maths=(
        "Each k×k (or k) window keeps its maximum m. The index of the maximum is uniform: −log(k^d) per "
        "window; the others are given by their gaps m − x > 0 (`[C·(k^d − 1), …]`, window order skipping the "
        "maximum), whose log-density the decoder gives, conditional on the pooled tensor when it has a `net`. "
        "Contribution −(windows)·log(k^d) + log p(gaps | pooled). Exact if the decoder's support is positive "
        "(the gaps carry the fold `positive`; the default `half_normal()` respects it)."
    ),
    infer_shape=single(_pooled),
    domain=DomainRule(accepts=always(REAL), role="surjection", output=lambda d, p: d),
    emit=lambda e: _with_nested((("shape", e.t.shape), ("kernel", e.params.kernel)), e, "decoder"),
    slots=_max_pool_slots,
    parameters=_max_pool_parameters,
)

# --------------------------------------------------------------------------------------------
# sort and its ordered output


class SortParams(Params):
    dim: Dim = 1
    key: Annotated[int, Field(ge=0, description="the row of axis 0 that orders the columns")] = 0


def _sort_layout(op: str) -> OneShapeRule:
    def rule(shape: Shape, params: SortParams) -> Shape:
        if len(shape) == 1:
            if params.dim != 0 or params.key != 0:
                raise ShapeError(
                    codes.E301,
                    f"`{op}` on a vector {show(shape)} sorts its values: it needs dim=0 and key=0",
                    "write `dim=0`; `key` picks a row only for `[F, N]` sets",
                    param="dim" if params.dim != 0 else "key",
                )
            return shape
        need_rank(
            shape,
            (2,),
            op,
            "vectors `[N]` or sets `[F, N]` (N elements of F features)",
            "reshape or `transpose` the tensor to `[F, N]` first",
        )
        if params.dim != 1:
            raise ShapeError(
                codes.E301,
                f"`{op}` on a set {show(shape)} orders its elements along dim=1, found dim={params.dim}",
                "sets are `[F, N]`: write `dim=1` (or `transpose` the tensor first)",
                param="dim",
            )
        if params.key >= shape[0]:
            raise ShapeError(
                codes.E301,
                f"`{op}` has no row key={params.key} on a set of {shape[0]} features",
                f"`key` counts the features from 0; use 0..{shape[0] - 1}",
                param="key",
            )
        return shape

    return rule


SORT = OpEntry(
    name="sort",
    kind=Kind.INFERENCE_SURJECTIVE,
    params=SortParams,
    runtime="Sort",
    summary="sorts the elements of a set by a key (exact); the output is ordered",
    maths=(
        "z = x with its n elements (columns of `[F, N]`, or the values of `[N]`) sorted ascending by row `key`. "
        "Generative direction: a uniformly random permutation. Contribution −log n!. Exact if the model "
        "downstream respects the order: the output carries the fold `ordered`; `sorted_to_real` ends it."
    ),
    infer_shape=single(_sort_layout("sort")),
    # sorted values keep their domain; the order is a fold on the key entries
    domain=DomainRule(accepts=always(REAL), role="surjection", output=lambda d, p: d, sets_fold=ORDERED),
    emit=lambda e: (("shape", e.t.shape), ("dim", e.params.dim), ("key", e.params.key)),
    parameters=no_parameters,
)

SORTED_TO_REAL = OpEntry(
    name="sorted_to_real",
    kind=Kind.BIJECTIVE,
    params=SortParams,
    runtime="SortedToReal",
    summary="ordered → real: keeps the first key and logs each later key's gap to the previous one",
    maths=(
        "On the key row y_0 = x_0 and y_i = log(x_i − x_{i−1}) for i ≥ 1; other rows pass through. "
        "log|det J| = −Σ_{i≥1} log(x_i − x_{i−1}). A gap of exactly 0 (a tie) is moved to the smallest "
        "positive gap so log_prob stays finite; no other gap is changed. Ends the `ordered` fold of the `sort` "
        "with the same `dim` and `key`, over its whole run."
    ),
    infer_shape=single(_sort_layout("sorted_to_real")),
    domain=DomainRule(accepts=always(REAL), role="surjection", output=lambda d, p: REAL, closes_order=True),
    emit=lambda e: (("shape", e.t.shape), ("dim", e.params.dim), ("key", e.params.key)),
    parameters=no_parameters,
)


class PermutationParams(Params):
    dim: Dim = 1


STOCHASTIC_PERMUTATION = OpEntry(
    name="stochastic_permutation",
    kind=Kind.STOCHASTIC,
    params=PermutationParams,
    runtime="StochasticPermutation",
    summary="a uniformly random permutation along `dim` (a lower bound)",
    maths=(
        "z = x permuted along `dim` by a uniformly random permutation, both ways. Contribution 0: log_prob is a "
        "one-sample lower bound of the density of the set, tight when the model downstream is invariant."
    ),
    infer_shape=single(lambda shape, p: (check_axis(shape, p.dim, "stochastic_permutation"), shape)[1]),
    domain=structural(lambda p, shapes: Permute(p.dim)),
    emit=lambda e: (("shape", e.t.shape), ("dim", e.params.dim)),
    parameters=no_parameters,
)

# --------------------------------------------------------------------------------------------
# slice


class SliceParams(Params):
    keep: Annotated[int, Field(ge=1, description="entries kept along `dim`")]
    dim: Dim = 0
    decoder: Distribution = CallValue("standard_normal", (), None)

    nested = {"decoder": "distribution"}
    examples = {"keep": "2"}


def _slice_parts(shape: Shape, params: SliceParams) -> tuple[Shape, Shape]:
    kept, dropped = part_along(shape, params.dim, params.keep, "slice", "keep")
    return with_size(shape, params.dim, kept), with_size(shape, params.dim, dropped)


def _slice_decoder(shape: Shape, params: SliceParams) -> DistSlot:
    kept, dropped = _slice_parts(shape, params)
    return DistSlot("decoder", dropped, kept, "input")


SLICE = OpEntry(
    name="slice",
    kind=Kind.INFERENCE_SURJECTIVE,
    params=SliceParams,
    runtime="Slice",
    summary="keeps the first `keep` entries; the decoder models the rest given them (exact)",
    maths=(
        "z = the first `keep` entries along `dim`; the dropped part d gets log p(d | z) from the decoder "
        "(conditional when it has a `net`). Generative direction: d ~ p(d | z). The same as "
        "`z, d = split(x, sizes=[keep, n − keep])` then `d ~ decoder(context=z)`."
    ),
    infer_shape=single(lambda shape, p: _slice_parts(shape, p)[0]),
    # the kept piece is the output; the dropped one is what the decoder models
    domain=structural(lambda p, shapes: Split(p.dim, (p.keep, shapes[0][p.dim] - p.keep))),
    emit=lambda e: _with_nested((("shape", e.t.shape), ("keep", e.params.keep), ("dim", e.params.dim)), e, "decoder"),
    slots=lambda shapes, p: {"decoder": _slice_decoder(shapes[0], p)},
    parameters=nested_only("decoder"),  # default StandardNormal: none
)

# --------------------------------------------------------------------------------------------
# Generative surjections


class DequantizeParams(Params):
    encoder: Annotated[CallValue | None, Field(description="q(u | x) on (0, 1), e.g. `logit_normal(net=...)`")] = None

    nested = {"encoder": "distribution"}
    unset = {"encoder": "uniform noise"}


def _dequantize_emit(e: EmitArgs) -> Kwargs:
    return _with_nested((("shape", e.t.shape), ("num_classes", e.t.domain.classes)), e, "encoder")


DEQUANTIZE = OpEntry(
    name="dequantize",
    kind=Kind.GENERATIVE_SURJECTIVE,
    params=DequantizeParams,
    runtime="Dequantize",
    summary="int<K> → unit by adding noise u in (0, 1): uniform, or variational with an encoder (a lower bound)",
    maths=(
        "z = (x + u) / K with u ~ q(u | x) on (0, 1)^D: uniform by default, or the encoder conditioned on the "
        "cell centres (2x + 1)/K − 1. Generative direction: x = ⌊K · z⌋, clamped to {0, …, K − 1}. Contribution "
        "−D · log K − log q(u | x) (−D · log K for uniform noise): log_prob is a one-sample lower bound (ELBO) "
        "of the discrete log-likelihood."
    ),
    infer_shape=single(same_shape),
    domain=DomainRule(accepts=always(ANY_INT), role="surjection", output=lambda d, p: UNIT),
    emit=_dequantize_emit,
    slots=lambda shapes, p: {"encoder": DistSlot("encoder", shapes[0], shapes[0], "unit")} if p.encoder else {},
    parameters=nested_only("encoder"),
)


class AugmentParams(Params):
    size: Annotated[int, Field(ge=1, le=1 << 40, description="entries appended along `dim`")]
    dim: Dim = 0
    encoder: Distribution = CallValue("standard_normal", (), None)

    nested = {"encoder": "distribution"}
    examples = {"size": "2"}


def _augmented(shape: Shape, params: AugmentParams) -> Shape:
    n = check_axis(shape, params.dim, "augment")
    return with_size(shape, params.dim, n + params.size)


AUGMENT = OpEntry(
    name="augment",
    kind=Kind.GENERATIVE_SURJECTIVE,
    params=AugmentParams,
    runtime="Augment",
    summary="appends `size` entries of noise a ~ q(a | h) along `dim` (a lower bound)",
    maths=(
        "z = (h, a) joined along `dim`, a ~ q(a | h) (the encoder, conditional on h when it has a `net`). "
        "Generative direction: drop a. Contribution −log q(a | h)."
    ),
    infer_shape=single(_augmented),
    # h passes through unchanged: its entries keep their domain, fill and folds, and the noise
    # follows as entries of the encoder's support (what the model downstream must generate)
    domain=structural(lambda p, shapes: Append(p.dim, "encoder")),
    emit=lambda e: _with_nested((("shape", e.t.shape), ("size", e.params.size), ("dim", e.params.dim)), e, "encoder"),
    slots=lambda shapes, p: {"encoder": DistSlot("encoder", with_size(shapes[0], p.dim, p.size), shapes[0], "real")},
    parameters=nested_only("encoder"),  # default StandardNormal: none
)

# --------------------------------------------------------------------------------------------
# Stochastic


class VaeParams(Params):
    latent: Annotated[
        tuple[Annotated[int, Field(ge=1, le=1 << 40)], ...], Field(min_length=1, description="the latent's shape")
    ]
    encoder: Annotated[CallValue, Field(description="q(z | h), e.g. `normal(net=mlp(hidden=[64]))`")]
    decoder: Annotated[CallValue, Field(description="p(h | z), e.g. `normal(net=mlp(hidden=[64]))`")]

    nested = {"encoder": "distribution", "decoder": "distribution"}
    examples = {"latent": "[2]", "encoder": "normal(net=mlp(hidden=[64]))", "decoder": "normal(net=mlp(hidden=[64]))"}


def _vae_slots(shapes: tuple[Shape, ...], params: VaeParams) -> dict[str, Slot]:
    latent = tuple(params.latent)
    return {
        "encoder": DistSlot("encoder", latent, shapes[0], "real"),
        "decoder": DistSlot("decoder", shapes[0], latent, "input"),
    }


def _vae_emit(e: EmitArgs) -> Kwargs:
    classes: Any = e.t.domain.classes if e.t.domain.is_discrete else None
    kwargs: Kwargs = (("shape", e.t.shape), ("latent", tuple(e.params.latent)), ("num_classes", classes))
    return _with_nested(kwargs, e, "encoder", "decoder")


VAE = OpEntry(
    name="vae",
    kind=Kind.STOCHASTIC,
    params=VaeParams,
    runtime="VAE",
    summary="a VAE layer: z ~ q(z | h), scored by the decoder p(h | z) (a lower bound)",
    maths=(
        "z ~ q(z | h) (the encoder, conditional on h); contribution log p(h | z) − log q(z | h). Generative "
        "direction: h ~ p(h | z). The decoder's family must fit h's domain (`categorical`/`bernoulli` for "
        "int<K> data)."
    ),
    infer_shape=single(lambda shape, p: tuple(p.latent)),
    # Any domain: the decoder, which models h, is checked against it instead.
    domain=DomainRule(accepts=lambda p: None, role="surjection", output=lambda d, p: REAL),
    emit=_vae_emit,
    slots=_vae_slots,
    parameters=nested_only("encoder", "decoder"),
)

SURJECTIVE_OPS: tuple[OpEntry, ...] = (
    ABS,
    MAX_POOL,
    SORT,
    SLICE,
    DEQUANTIZE,
    AUGMENT,
    VAE,
    STOCHASTIC_PERMUTATION,
    SORTED_TO_REAL,
)
