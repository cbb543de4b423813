"""User nets (`net NAME(k=...) { impl ...; shape ...; parameters ... }`) and user transforms that
take `net=` (docs/language.md, User-defined nets).

The example `examples/user_transform/user_net.survae` is compiled and run: its parameter counts,
computed from the declared formulas without importing the classes, equal the built modules';
a round trip through `forward`/`inverse` is the identity and `log_prob`/`sample` run.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import survae_dsl
from survae_dsl.compiler.backends.param_count import file_parameter_counts, total
from survae_dsl.compiler.core.diagnostics import CompileError
from survae_dsl.compiler.drivers.driver import check_source
from survae_dsl.compiler.frontend.format import format_source

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "user_transform" / "user_net.survae"

NET = """\
net tiny(width=16) {
    impl "mylayers:TinyNet"
    shape [D] -> [E]
    parameters (in_features + context_features + out_features + 1) * width + out_features
}
"""


def _codes(text: str) -> list[str]:
    with pytest.raises(CompileError) as info:
        check_source(text, "m.survae")
    return [str(d.code) for d in info.value.diagnostics if d.is_error]


def test_the_example_counts_what_it_builds() -> None:
    compilation = check_source(EXAMPLE.read_text(), str(EXAMPLE))
    counts = file_parameter_counts(compilation.models)["UserNetFlow"]
    model = survae_dsl.load(EXAMPLE)()
    assert total(counts) == sum(p.numel() for p in model.parameters())
    # Layer by layer too: the coupling with `tiny(width=8)` on 2 → 4 entries, the transforms'
    # nets (2 → 2 entries each) and the normal's 2·4.
    assert [c for _, c in counts] == [60, 0, 22, 42, 8]


def test_the_example_runs() -> None:
    torch.manual_seed(0)
    model = survae_dsl.load(EXAMPLE)().double()
    for p in model.parameters():  # move off the zero-initialised start, so the nets matter
        torch.nn.init.normal_(p, std=0.3)
    x = torch.randn(5, 4, dtype=torch.float64)
    log_prob = model.log_prob(x)
    assert log_prob.shape == (5,) and torch.isfinite(log_prob).all()
    samples = model.sample(3)
    assert samples.shape == (3, 4)
    assert torch.isfinite(model.log_prob(samples)).all()


def test_a_user_transform_passes_its_net_and_inverts() -> None:
    import importlib
    import sys

    sys.path.insert(0, str(EXAMPLE.parent))
    try:
        layers = importlib.import_module("mylayers")
    finally:
        sys.path.remove(str(EXAMPLE.parent))
    torch.manual_seed(1)
    net = layers.TinyNet(in_shape=(3,), out_shape=(3,), width=5).double()
    torch.nn.init.normal_(net.last.weight)
    layer = layers.AdditiveHalves(shape=(6,), net=net)
    x = torch.randn(4, 6, dtype=torch.float64)
    z, ldj = layer(x)
    assert torch.allclose(layer.inverse(z), x)
    jacobian = torch.autograd.functional.jacobian(lambda v: layer(v.unsqueeze(0))[0].squeeze(0), x[0])
    assert torch.allclose(torch.logdet(jacobian), ldj[0])


def test_check_lists_user_nets_and_the_reason_a_count_is_unknown() -> None:
    text = NET.replace("    parameters", "    # parameters") + (
        "model M {\n    input x: real[4]\n    h = affine_coupling(x, net=tiny(width=4))\n    h ~ normal()\n}\n"
    )
    compilation = check_source(text, "m.survae")
    counts = file_parameter_counts(compilation.models)
    from survae_dsl.compiler.backends.report import format_report

    report = format_report(compilation.models, counts)
    assert "`mylayers:TinyNet` (net `tiny`)" in report
    assert "unknown: user net `tiny` declares no parameter formula" in report
    assert counts["M"][0][1] is None


def test_a_user_net_is_emitted_with_the_net_keywords() -> None:
    text = NET + "model M {\n    input x: real[4]\n    h = affine_coupling(x, net=tiny(width=4))\n    h ~ normal()\n}\n"
    from survae_dsl.compiler.backends.codegen import emit_module

    compilation = check_source(text, "m.survae")
    module = emit_module(compilation.models, "m.survae")
    assert "impl_mylayers.TinyNet(in_shape=(2,), out_shape=(4,), context_shape=None, width=4)" in module


def test_a_user_net_whose_rule_does_not_fit_the_slot() -> None:
    text = NET.replace("[D] -> [E]", "[D] -> [D]") + (
        "model M {\n    input x: real[4]\n    h = affine_coupling(x, net=tiny())\n    h ~ normal()\n}\n"
    )
    assert _codes(text) == ["E309"]


def test_a_transform_without_a_net_takes_no_net() -> None:
    text = (
        NET
        + 'transform flip(h): bijective {\n    impl "mylayers:Flip"\n}\n'
        + "model M {\n    input x: real[4]\n    h = flip(x, net=tiny())\n    h ~ normal()\n}\n"
    )
    assert _codes(text) == ["E203"]


def test_an_unknown_keyword_of_a_user_net() -> None:
    text = NET + "model M {\n    input x: real[4]\n    h = affine_coupling(x, net=tiny(depth=3))\n    h ~ normal()\n}\n"
    assert _codes(text) == ["E203"]


def test_an_unknown_net_suggests_a_user_net() -> None:
    text = NET + "model M {\n    input x: real[4]\n    h = affine_coupling(x, net=tinny())\n    h ~ normal()\n}\n"
    with pytest.raises(CompileError) as info:
        check_source(text, "m.survae")
    assert any("`tiny`" in (d.hint or "") for d in info.value.diagnostics)


@pytest.mark.parametrize(
    ("declaration", "message"),
    [
        ('net n() {\n    impl "mylayers:N"\n    parameters depth\n}\n', "neither a numeric keyword"),
        ('net n(in_shape=2) {\n    impl "mylayers:N"\n}\n', "passes to a net's class itself"),
        ('net n() {\n    impl "mylayers:N"\n    shape [D] -> [E + 1]\n}\n', "not a dimension of the input side"),
        ("net n() {\n    shape [D] -> [D]\n}\n", "names no implementation"),
        (
            'transform t(h): bijective {\n    impl "mylayers:T"\n    net [D] -> [D]\n}\n',
            "no shape rule to size it from",
        ),
        (
            'transform t(h): bijective {\n    impl "mylayers:T"\n    shape [D] -> [D]\n    net [K] -> [D]\n}\n',
            "`K` is not a dimension",
        ),
    ],
)
def test_malformed_declarations_are_E215(declaration: str, message: str) -> None:
    text = declaration + "model M {\n    input x: real[4]\n    x ~ normal()\n}\n"
    with pytest.raises(CompileError) as info:
        check_source(text, "m.survae")
    errors = [d for d in info.value.diagnostics if d.is_error]
    assert [str(d.code) for d in errors] == ["E215"] and message in errors[0].message


def test_the_declarations_format_to_the_canonical_text() -> None:
    messy = (
        'net   tiny( width=16 ) {\n  impl "mylayers:TinyNet" ; shape [D]->[E]\n'
        "  parameters (in_features+context_features)*width\n}\n"
        'transform t(h): bijective {\n impl "mylayers:T"\n shape [D] -> [D]\n net [D/2]->[D/2]\n parameters 2*D\n}\n'
    )
    expected = (
        'net tiny(width=16) {\n    impl "mylayers:TinyNet"\n    shape [D] -> [E]\n'
        "    parameters (in_features + context_features) * width\n}\n\n"
        'transform t(h): bijective {\n    impl "mylayers:T"\n    shape [D] -> [D]\n    net [D / 2] -> [D / 2]\n'
        "    parameters 2 * D\n}\n"
    )
    assert format_source(messy) == expected
    assert format_source(expected) == expected


def test_net_is_a_keyword_only_where_declarations_begin() -> None:
    with pytest.raises(CompileError) as info:
        check_source("model M {\n    input x: real[2]\n    net = shift(x, by=1.0)\n    net ~ normal()\n}\n", "m.survae")
    assert any(d.hint == "`net` is a keyword and cannot be used here" for d in info.value.diagnostics)


def test_a_hostile_net_keyword_stays_a_string_literal() -> None:
    """Nothing of a `net` declaration reaches the generated code but validated names and
    repr'd literals (DESIGN.md, generated-code rules)."""
    import ast as pyast

    label = "x\"); __import__('os').system('echo owned'); (\""
    written = label.replace("\\", "\\\\").replace('"', '\\"')
    text = (
        'net tiny(label="a") {\n    impl "edgelayers.nets:Tiny"\n}\n'
        "model M {\n    input x: real[4]\n"
        f'    h = affine_coupling(x, net=tiny(label="{written}"))\n'
        "    h ~ normal()\n}\n"
    )
    from survae_dsl.compiler.backends.codegen import emit_module

    tree = pyast.parse(emit_module(check_source(text, "m.survae").models, "m.survae"))
    assert [n for n in pyast.walk(tree) if isinstance(n, pyast.Constant) and n.value == label]
    names = {n.id for n in pyast.walk(tree) if isinstance(n, pyast.Name)}
    assert "os" not in names and "__import__" not in names


def test_a_user_net_reads_a_context_and_counts_it() -> None:
    """A conditional distribution's user net reads the context as its input; the declared
    count equals the built module's, and `log_prob` runs with the context."""
    text = (
        f"{NET}model M {{\n    input x: real[3]\n    context c: real[2]\n"
        "    x ~ normal(context=c, net=tiny(width=5))\n}\n"
    )
    compilation = check_source(text, "m.survae")
    counts = file_parameter_counts(compilation.models)["M"]
    model = survae_dsl.compile_source(text, search_path=[EXAMPLE.parent])["M"]()
    assert total(counts) == sum(p.numel() for p in model.parameters()) == (2 + 6 + 1) * 5 + 6
    log_prob = model.log_prob(torch.randn(4, 3), c=torch.randn(4, 2))
    assert log_prob.shape == (4,)
