"""The checker's semantics (docs/language.md, Statements): lowering, domains, folds, classes."""

from __future__ import annotations

import pytest

from survae_dsl.compiler.checks.check import check_model
from survae_dsl.compiler.core.diagnostics import CompileError
from survae_dsl.compiler.core.source import Source
from survae_dsl.compiler.drivers.driver import check_source
from survae_dsl.compiler.frontend.parse import parse
from survae_dsl.compiler.ir.verify import verify_ir
from survae_dsl.compiler.lowering.lower import lower_module


def model(body: str, input_type: str = "real[2]") -> str:
    lines = "\n".join("    " + line for line in body.strip().splitlines())
    return f"model M {{\n    input x: {input_type}\n{lines}\n}}\n"


def checked(source: str):
    return check_source(source, "m.survae").models[0]


def codes(source: str) -> list[str]:
    with pytest.raises(CompileError) as info:
        check_source(source, "m.survae")
    return [d.code for d in info.value.diagnostics if d.is_error]


def lowered(source: str):
    models, diagnostics = lower_module(parse(Source("m.survae", source)))
    assert not diagnostics
    return models[0]


# --- lowering -------------------------------------------------------------------------------


def test_repeat_unrolls_and_shadowed_names_get_unique_ids() -> None:
    ir = lowered(model("h = x\nrepeat 3 {\n    h = reverse(h)\n}\nh ~ standard_normal()"))
    verify_ir(ir)
    ops = [n for n in ir.graph.nodes if n.startswith("op")]
    assert len(ops) == 3
    assert list(ir.tensors) == ["x", "h", "h_1", "h_2"]
    assert [ir.payload(n).repeat[-1][1] for n in ops] == [0, 1, 2]
    # each tensor is an edge from its producer to its consumer
    assert all(data["tensor"] in ir.tensors for _, _, data in ir.graph.edges(data=True))


def test_pipeline_is_the_same_graph_as_nested_statements() -> None:
    piped = lowered(model("h = x |> abs() |> softplus_inv()\nh ~ standard_normal()"))
    plain = lowered(model("h = abs(x)\nh = softplus_inv(h)\nh ~ standard_normal()"))
    assert [piped.payload(n).__class__ for n in piped.graph] == [plain.payload(n).__class__ for n in plain.graph]
    assert [getattr(piped.payload(n), "op", None) for n in piped.graph] == [
        getattr(plain.payload(n), "op", None) for n in plain.graph
    ]
    verify_ir(piped)


def test_constants_resolve_in_types_kwargs_and_repeat_counts() -> None:
    source = "const D = 4\nconst H = [8]\nconst N = 2\n" + model(
        "repeat N {\n    x = affine_coupling(x, net=mlp(hidden=H))\n}\nx ~ normal()", "real[D]"
    )
    m = checked(source)
    assert m.types["x_2"].shape == (4,)
    assert sum(1 for n in m.ir.graph if n.startswith("op")) == 2


# --- domains and folds ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "input_type", "expected"),
    [
        ("h = abs(x)\nh = softplus_inv(h)\nh ~ standard_normal()", "real[2]", "exact"),
        ("h = abs(x)\nh ~ half_normal()", "real[2]", "exact"),  # the consumer stays inside the fold
        ("h = abs(x)\nh ~ standard_normal()", "real[2]", "lower_bound"),
        ("h = abs(x)\nh = affine_coupling(h, net=mlp())\nh ~ normal()", "real[2]", "lower_bound"),
        # abs on (-4, 4) → (0, 4) → scale 0.25 → unit → logit: the fold ends exactly
        ("h = abs(x)\nh = scale(h, by=0.25)\nh = logit(h)\nh ~ normal()", "interval(-4, 4)[2]", "exact"),
        # a shifted fold (1, ∞) is not closed by softplus_inv alone
        ("h = abs(x)\nh = shift(h, by=1)\nh = softplus_inv(h)\nh ~ normal()", "real[2]", "lower_bound"),
        ("h = abs(x)\nh = shift(h, by=1)\nh = shift(h, by=-1)\nh = softplus_inv(h)\nh ~ normal()", "real[2]", "exact"),
        # sigmoid after abs lands in (0.5, 1): logit then gives (0, ∞), still a fold
        ("h = abs(x)\nh = sigmoid(h)\nh = logit(h)\nh ~ normal()", "real[2]", "lower_bound"),
        ("h = abs(x)\nh = sigmoid(h)\nh = logit(h)\nh = softplus_inv(h)\nh ~ normal()", "real[2]", "exact"),
        # structural ops carry the fold to the consumer
        ("h = abs(x)\nh = reverse(h)\nh ~ normal()", "real[2]", "lower_bound"),
        ("h = dequantize(x)\nh = logit(h)\nh ~ normal()", "int<256>[2]", "lower_bound"),
    ],
)
def test_likelihood_class(body: str, input_type: str, expected: str) -> None:
    assert checked(model(body, input_type)).likelihood == expected


def test_leak_reason_names_surjection_consumer_and_fix() -> None:
    m = checked(model("h = abs(x)\nh = affine_coupling(h, net=mlp())\nh ~ normal()"))
    (reason,) = m.reasons
    assert reason.kind == "leak" and reason.op == "affine_coupling" and reason.span.line == 4
    assert "`abs` (line 3)" in reason.message and "`softplus_inv`" in reason.message


def test_dequantize_reason_and_types() -> None:
    m = checked(model("h = dequantize(x)\nh = logit(h)\nh ~ normal()", "int<256>[2]"))
    assert [r.op for r in m.reasons] == ["dequantize"]
    assert "generative-surjective" in m.reasons[0].message
    assert str(m.types["h"]) == "unit[2]" and str(m.types["h_1"]) == "real[2]"


def test_interval_images_through_elementwise_maps() -> None:
    m = checked(model("h = abs(x)\nh = scale(h, by=0.25)\nh = logit(h)\nh ~ normal()", "interval(-4, 4)[2]"))
    assert [str(m.types[t].domain) for t in ("x", "h", "h_1", "h_2")] == [
        "interval(-4, 4)",
        "interval(0, 4)",
        "unit",
        "real",
    ]
    assert m.types["h"].fold is not None and m.types["h_2"].fold is None


def test_waste_is_warned_once_where_it_begins() -> None:
    source = model("h = affine_coupling(x, net=mlp())\nh = affine_coupling(h, net=mlp())\nh ~ normal()", "positive[2]")
    compilation = check_source(source, "m.survae")
    assert [(w.code, w.span.line) for w in compilation.warnings] == [("W401", 3)]
    m = compilation.models[0]
    assert m.likelihood == "exact" and not m.types["h"].fills


@pytest.mark.parametrize(
    ("body", "input_type", "code"),
    [
        ("h = logit(x)\nh ~ normal()", "real[2]", "E405"),
        ("h = softplus_inv(x)\nh ~ normal()", "real[2]", "E405"),
        ("h = dequantize(x)\nh ~ normal()", "real[2]", "E405"),
        ("h = affine_coupling(x, net=mlp())\nh ~ normal()", "int<4>[2]", "E405"),
        ("h = scale(x, by=-1)\nh ~ half_normal()", "positive[2]", "E405"),
        ("x ~ normal()", "int<4>[2]", "E403"),
        ("x ~ half_normal()", "real[2]", "E406"),
        ("x ~ standard_uniform()", "positive[2]", "E406"),
    ],
)
def test_domain_errors(body: str, input_type: str, code: str) -> None:
    assert codes(model(body, input_type)) == [code]


def test_negative_scale_is_fine_on_real_data() -> None:
    assert checked(model("h = scale(x, by=-2)\nh ~ normal()")).likelihood == "exact"


# --- shapes and density accounting -------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "input_type", "code"),
    [
        ("h = affine_coupling(x, net=mlp(), dim=1)\nh ~ normal()", "real[2]", "E301"),
        ("h = affine_coupling(x, net=mlp())\nh ~ normal()", "real[1]", "E302"),
        ("h = additive_coupling(x, net=mlp(), split=4)\nh ~ normal()", "real[4]", "E302"),
        ("h = reverse(x, dim=2)\nh ~ normal()", "real[2, 3]", "E301"),
    ],
)
def test_shape_errors(body: str, input_type: str, code: str) -> None:
    assert codes(model(body, input_type)) == [code]


def test_coupling_on_matrices_infers_net_sizes() -> None:
    m = checked(model("h = affine_coupling(x, net=mlp(), dim=1, split=1)\nh ~ normal(per=channel)", "real[2, 3]"))
    assert m.types["h"].shape == (2, 3)


def test_all_errors_of_a_file_are_reported_in_source_order() -> None:
    source = model("h = abs(x)\ny = reverse(x)\nh = logit(h)\nz ~ normal()")
    found = codes(source)
    with pytest.raises(CompileError) as info:
        check_source(source, "m.survae")
    lines = [d.span.line for d in info.value.diagnostics]
    assert lines == sorted(lines)
    assert {"E402", "E202", "E401"} <= set(found)


def test_sampling_order_reverses_a_chain() -> None:
    m = checked(model("h = abs(x)\nh = softplus_inv(h)\nh ~ normal()"))
    payloads = [m.ir.payload(n).__class__.__name__ for n in m.sampling_order]
    assert payloads == ["DistNode", "OpNode", "OpNode"]


def test_sampling_order_follows_context_reads() -> None:
    """The sampling-order example of docs/language.md: `b` is read by the coupling of `a`, so it is sampled first,
    although its `~` comes first in the source and a reversed source order would draw `a` first."""
    m = checked(
        model(
            "a, b = split(x)\nb ~ normal()\na = affine_coupling(a, net=mlp(hidden=[4]), context=b)\na ~ normal()",
            "real[4]",
        )
    )
    lines = [m.ir.payload(n).span.line for n in m.sampling_order]
    assert lines.index(4) < lines.index(5)  # b is drawn before the coupling's inverse reads it
    assert lines.index(6) < lines.index(5)  # ... and so is a, which the coupling inverts
    assert lines[-1] == 3  # split's inverse last


def test_check_model_returns_diagnostics_instead_of_raising() -> None:
    models, _ = lower_module(parse(Source("m.survae", model("h = bogus(x)\nh ~ normal()"))))
    result, diagnostics = check_model(models[0])
    assert result is None and [d.code for d in diagnostics] == ["E201"]


def test_a_context_read_sees_the_tensor_before_the_statement_rebinds_it() -> None:
    """In `a = affine_coupling(a, context=a)` both `a`s are the old one: a cycle (E408), not a
    read of the coupling's own output."""
    source = model(
        "a, b = split(x)\na = affine_coupling(a, net=mlp(hidden=[4]), context=a)\na ~ normal()\nb ~ normal()",
        "real[4]",
    )
    assert codes(source) == ["E408"]
