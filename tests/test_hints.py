"""The help lines of diagnostics say what would fix the model as written (issue 17): never to
transform a context, never to add a map that is already there, never to blame an op that only
passes its input through, and never a did-you-mean between two different real names."""

from __future__ import annotations

import re

import pytest

from survae_dsl.compiler.core.diagnostics import CompileError, Diagnostic
from survae_dsl.compiler.core.suggest import typo_of
from survae_dsl.compiler.drivers.driver import check_source


def model(body: str, declarations: str = "input x: real[2]") -> str:
    lines = "\n".join("    " + line for line in (declarations + "\n" + body).strip().splitlines())
    return f"model M {{\n{lines}\n}}\n"


def errors(source: str) -> list[Diagnostic]:
    with pytest.raises(CompileError) as caught:
        check_source(source, "m.survae")
    return list(caught.value.diagnostics)


def warnings(source: str) -> list[Diagnostic]:
    return list(check_source(source, "m.survae").warnings)


def only(diagnostics: list[Diagnostic], code: str) -> Diagnostic:
    (found,) = [d for d in diagnostics if d.code == code]
    return found


def suggested(hint: str | None) -> str:
    """The pipeline a W401 hint proposes (`x |> ...` after `write`, or after `h =`)."""
    assert hint is not None
    match = re.search(r"write `([^`]+)` instead", hint) or re.search(r"`h = ([^`]+)`", hint)
    assert match, hint
    return match.group(1)


# --- a context is read, never transformed -----------------------------------------------------

CONTEXT = "input x: real[2]\ncontext c: {type}"


@pytest.mark.parametrize(
    ("context", "statement", "code"),
    [
        ("int<4>[2]", "h = logit(c)", "E405"),  # once said: dequantize it
        ("int<4>[2]", "h = affine_coupling(c, net=mlp(hidden=[8]))", "E405"),
        ("real[2]", "h = dequantize(c)", "E405"),  # once said: dequantize belongs after an int input
        ("real[2]", "h = logit(c)", "E405"),  # once said: map it onto (0, 1) with sigmoid
        ("int<4>[2]", "c ~ normal()", "E403"),  # once said: dequantize it
        ("real[2]", "c ~ half_normal()", "E406"),  # once said: map it onto positive values
    ],
)
def test_a_refused_context_is_told_to_be_read_not_transformed(context: str, statement: str, code: str) -> None:
    tail = "" if statement.startswith("c ~") else "\nh ~ normal()"
    source = model(f"{statement}{tail}\nx ~ normal(context=c, net=mlp(hidden=[8]))", CONTEXT.format(type=context))
    found = errors(source)
    refusal = only(found, code)
    assert refusal.span.line == 4  # after `input x` and `context c`
    assert refusal.hint is not None
    assert "`c` is a context" in refusal.hint and "`context=c`" in refusal.hint
    for misleading in ("dequantize", "sigmoid", "softplus", "abs", "first"):
        assert misleading not in refusal.hint, refusal.hint
    assert only(found, "E409").span.line == 4  # the real problem, reported beside it


def test_an_input_of_the_same_type_still_gets_the_data_hint() -> None:
    (refusal,) = errors(model("h = logit(x)\nh ~ normal()", "input x: int<4>[2]"))
    assert refusal.code == "E405" and refusal.hint == "dequantize discrete data first: `h = dequantize(h)`"


# --- W401: the maps that would fill the domain, computed, never the ones already there -------------

FLOW = "h = affine_coupling(h, net=mlp(hidden=[16]))\nh ~ standard_normal()"


def test_maps_that_fall_short_get_the_numbers_that_fill_the_reals() -> None:
    source = model(f"h = x |> scale(by=0.1) |> shift(by=0.5) |> logit()\n{FLOW}", "input x: interval(-4, 4)[2]")
    (waste,) = warnings(source)
    assert waste.code == "W401" and waste.span.line == 4
    assert waste.message.startswith("`affine_coupling` can generate real values")
    assert waste.hint == (
        "`x |> scale(by=0.1) |> shift(by=0.5) |> logit()` (line 3) maps `x` (interval(-4, 4)) onto "
        "interval(-2.19722, 2.19722) only: write `x |> scale(by=0.125) |> shift(by=0.5) |> logit()` instead, "
        "which maps it onto the reals"
    )


@pytest.mark.parametrize(
    ("declared", "maps"),
    [
        ("interval(-4, 4)", "h = x |> scale(by=0.1) |> shift(by=0.5) |> logit()"),  # short of the reals
        ("interval(-4, 4)", "h = x"),  # no map at all
        ("interval(2, 5)", "h = x"),  # 1/3: the numbers must read back exactly
        ("interval(0.001, 7.7)", "h = x |> scale(by=0.1)"),
        ("interval(-1e-6, 1e6)", "h = x |> shift(by=3)"),
        ("unit", "h = x |> scale(by=0.5) |> logit()"),
        ("positive", "h = x |> shift(by=1)"),  # (1, inf): a shift that keeps `log` from the reals
        ("positive", "h = x"),
    ],
)
def test_the_suggested_maps_remove_the_waste(declared: str, maps: str) -> None:
    """Whatever W401 proposes, written in place of what was there, compiles without it."""
    (waste,) = warnings(model(f"{maps}\n{FLOW}", f"input x: {declared}[2]"))
    assert waste.code == "W401"
    pipeline = suggested(waste.hint)
    assert pipeline != maps.removeprefix("h = "), "the hint repeats the maps already there"
    assert warnings(model(f"h = {pipeline}\n{FLOW}", f"input x: {declared}[2]")) == []


def test_a_map_that_needs_undoing_is_named_to_drop() -> None:
    (waste,) = warnings(model(f"h = sigmoid(x)\n{FLOW}"))
    assert waste.code == "W401" and waste.span.line == 4
    assert waste.hint == "drop `x |> sigmoid()` (line 3): `x` itself is real, exactly what `affine_coupling` generates"


def test_waste_on_positive_data_names_log_and_softplus_inv() -> None:
    (waste,) = warnings(
        model("h = affine_coupling(x, net=mlp(hidden=[16]))\nh ~ standard_normal()", "input x: positive[2]")
    )
    assert waste.hint == "map `x` onto the reals first: `h = x |> log()`; `softplus_inv()` may replace `log()`"


# --- W401 after augment: the op that generates the values, not augment ---------------------------


def test_waste_after_augment_names_what_generates_the_values() -> None:
    source = model("h = augment(x, size=2)\nh ~ standard_normal()", "input x: positive[2]")
    (waste,) = warnings(source)
    assert waste.code == "W401" and waste.span.line == 4
    assert waste.message.startswith(
        "`standard_normal` can generate real values in the sampling direction, but entries 0..1 of `h` along dim 0 "
        "are positive"
    )
    assert "augment" not in waste.message


def test_augment_after_the_map_wastes_nothing() -> None:
    source = model("h = log(x)\nh = augment(h, size=2)\n" + FLOW, "input x: positive[2]")
    assert warnings(source) == []


def test_augment_passes_its_input_through() -> None:
    """The input's entries keep their domain and folds after `augment`; the noise is a part of
    the encoder's support. So a positive prior after a positive encoder fits, and a fold leaks
    only where a consumer breaks it."""
    fits = check_source(
        model("h = abs(x)\nh = augment(h, size=2, encoder=half_normal())\nh ~ half_normal()"), "m.survae"
    )
    assert fits.warnings == []
    (checked,) = fits.models
    positive = checked.types["h"].domain
    assert [(p.size, p.domain, p.fills) for p in checked.types["h_1"].parts] == [
        (2, positive, True),
        (2, positive, True),
    ]
    leaky = check_source(model("h = abs(x)\nh = augment(h, size=2)\n" + FLOW), "m.survae").models[0]
    (leak,) = [r for r in leaky.reasons if "fold leak" in r.message]
    assert "`affine_coupling` (line 5)" in leak.message and "augment" not in leak.message


# --- enums: list the choices; did-you-mean only for a slip of the keyboard ---------------------------


def test_an_activation_that_does_not_exist_lists_those_that_do() -> None:
    source = model("h = affine_coupling(x, net=mlp(hidden=[16], activation=mish))\nh ~ standard_normal()")
    (refusal,) = errors(source)
    assert refusal.code == "E205" and refusal.span.line == 3
    assert refusal.message == (
        "`activation` of `mlp` must be one of `relu`, `gelu`, `gelu_sigmoid`, `tanh`, `elu`, `leaky_relu`, "
        "`silu`, `swish`, `softplus`, `sigmoid`, `concat_elu`, found `mish`"
    )
    # A keyword with few choices lists them as a hint too.
    source = model("h = affine_coupling(x, net=mlp(hidden=[16], norm=group))\nh ~ standard_normal()")
    (refusal,) = errors(source)
    assert refusal.hint == "write one of `norm=none`, `norm=batch`, `norm=layer`"


@pytest.mark.parametrize(
    ("typed", "meant"),
    [("rleu", "relu"), ("Relu", "relu"), ("gel", "gelu"), ("tahn", "tanh")],
)
def test_a_slip_of_the_keyboard_gets_did_you_mean(typed: str, meant: str) -> None:
    source = model(f"h = affine_coupling(x, net=mlp(hidden=[16], activation={typed}))\nh ~ standard_normal()")
    (refusal,) = errors(source)
    assert refusal.hint == f"did you mean `{meant}`?"


def test_typo_of_tells_slips_from_other_names() -> None:
    activations = ["relu", "gelu", "tanh"]
    for other in ("elu", "selu", "silu", "swish", "sigmoid", "leaky_relu"):
        assert typo_of(other, activations) is None, other
    scales = ["tanh_exp", "exp", "softplus", "sigmoid"]
    assert typo_of("tanh", scales) == "tanh_exp"  # the start of one choice only
    assert typo_of("tanh-exp", scales) == "tanh_exp"
    assert typo_of("softpuls", scales) == "softplus"
    assert typo_of("sigmod", scales) == "sigmoid"
    assert typo_of("linear", scales) is None
    assert typo_of("channels", ["element", "channel"]) == "channel"
    assert typo_of("elementwise", ["element", "channel"]) is None


def test_a_categorical_encoder_draws_int_k_not_int_0() -> None:
    source = model("h = dequantize(x, encoder=categorical())\nh = logit(h)\nh ~ normal()", "input x: int<4>[2]")
    (refusal,) = errors(source)
    assert refusal.code == "E407" and refusal.span.line == 3
    assert refusal.message.endswith("but `categorical` draws int<K> values")


@pytest.mark.parametrize(
    ("typed", "hint"),
    [
        ("reel", "did you mean `real`?"),
        ("posiitve", "did you mean `positive`?"),
        ("integer", "the domains are real, positive, unit, interval(a, b) and int<K>"),  # once: `interval`?
        ("natural", "the domains are real, positive, unit, interval(a, b) and int<K>"),  # once: `interval`?
    ],
)
def test_an_unknown_domain_lists_the_domains_unless_misspelt(typed: str, hint: str) -> None:
    (refusal,) = errors(model("x ~ normal()", f"input x: {typed}[2]"))
    assert (refusal.code, refusal.span.line, refusal.message) == ("E207", 2, f"unknown data domain `{typed}`")
    assert refusal.hint == hint
