"""Context nets and context-side tensors (docs/language.md, Conditioning; issue 18).

A context may be mapped by structural ops and by `embed` before layers read it. What they make
is computed once at the top of `log_prob` and `sample`, read any number of times, never
consumed or modelled, and never changes the likelihood class; it must not enter the flow
(E409, E412). The good models are tests/good/{context_squeezed,label_embedding,
multiscale_context}.survae (goldens in test_good_models.py); the bad ones tests/bad/E409_*derived*
and tests/bad/E412_*.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import survae_dsl
from survae_dsl.compiler.drivers.driver import check_source
from survae_dsl.compiler.ir.checked import CheckedModel

GOOD = Path(__file__).resolve().parent / "good"
MODELS = ("context_squeezed", "label_embedding", "multiscale_context")


def _checked(name: str) -> CheckedModel:
    (model,) = check_source((GOOD / f"{name}.survae").read_text(encoding="utf-8"), f"{name}.survae").models
    return model


def _codes(text: str) -> list[str]:
    with pytest.raises(survae_dsl.CompileError) as caught:
        survae_dsl.compile_source(text)
    return sorted(d.code for d in caught.value.diagnostics if d.is_error)


@pytest.mark.parametrize("name", MODELS)
def test_context_side_ops_are_outside_the_sampling_order(name: str) -> None:
    model = _checked(name)
    side = model.ir.context_side()
    assert side, "the model maps its context"
    assert not side & set(model.sampling_order), "context-side ops run before the flow, not backwards"
    assert model.likelihood == "exact"


def test_the_multiscale_model_reads_one_derived_tensor_several_times() -> None:
    model = _checked("multiscale_context")
    names = {model.ir.tensors[t].name for t in model.ir.context_tensors()}
    assert names == {"c", "f", "f2", "f2a", "f2b", "g"}
    reads = [p.context for n in model.inference_order if (p := model.ir.payload(n)) and getattr(p, "context", None)]
    assert sorted(model.ir.tensors[t].name for t in reads) == ["f", "f2", "f2a", "g"]


@pytest.mark.parametrize("name", MODELS)
def test_parameter_counts_include_the_context_nets(name: str) -> None:
    model = _checked(name)
    cls = survae_dsl.load(GOOD / f"{name}.survae")
    assert model.parameter_total == sum(p.numel() for p in cls().parameters())


def test_an_int_context_reaches_the_context_net_as_cell_centres() -> None:
    cls = survae_dsl.load(GOOD / "label_embedding.survae")
    model = cls()
    seen: list[torch.Tensor] = []
    model.embed_1.net.register_forward_hook(lambda _m, args, _out: seen.append(args[0]))
    y = torch.tensor([[0], [3], [9]])
    model.log_prob(torch.zeros(3, 2), y=y)
    model.sample(y=y)
    assert len(seen) == 2
    for got in seen:
        assert torch.allclose(got, (2 * y.float() + 1) / 10 - 1)


def _perturbed(cls: type[survae_dsl.Model], seed: int, by: float = 0.5) -> survae_dsl.Model:
    torch.manual_seed(seed)
    model = cls().double()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(by * torch.randn_like(p))
    return model


@pytest.mark.parametrize("label", [0, 7])
def test_the_label_model_integrates_to_one_at_a_fixed_context(label: int) -> None:
    """Conditional exactness is unaffected: ∫ p(x | y) dx = 1 on a grid, with every weight
    (the context net's included) perturbed so that the embedding is not zero."""
    model = _perturbed(survae_dsl.load(GOOD / "label_embedding.survae"), seed=label, by=0.2)
    n, half = 801, 20.0
    axis = torch.linspace(-half, half, n, dtype=torch.float64)
    grid = torch.cartesian_prod(axis, axis)
    y = torch.full((grid.shape[0], 1), label)
    with torch.no_grad():
        density = model.log_prob(grid, y=y).exp()
    cell = (axis[1] - axis[0]).item() ** 2
    assert density.sum().item() * cell == pytest.approx(1.0, abs=2e-3)
    centre = torch.full((1, 1), (2 * label + 1) / 10 - 1, dtype=torch.float64)
    assert model.embed_1(centre).abs().sum() > 0.1, "the embedding is not zero: it matters"


@pytest.mark.parametrize("name", MODELS)
def test_log_prob_and_sample_with_derived_contexts(name: str) -> None:
    cls = survae_dsl.load(GOOD / f"{name}.survae")
    model = _perturbed(cls, seed=1)
    ((context, ctype),) = cls.context_types.items()
    shape = (4, *ctype.shape)
    c = torch.randint(0, ctype.domain.classes, shape) if ctype.domain.is_discrete else torch.randn(shape).double()
    x = model.sample(**{context: c})
    (xtype,) = cls.input_types.values()
    assert x.shape == (4, *xtype.shape)
    log_p = model.log_prob(x, **{context: c})
    assert log_p.shape == (4,) and torch.isfinite(log_p).all()


def test_structural_ops_on_several_contexts() -> None:
    source = """model M {
    context a: int<3>[2]
    context b: real[1]
    input x: real[2]
    ab = concat(a, b)
    a1, a2 = split(ab, sizes=[1, 2])
    x ~ normal(context=a2, net=mlp(hidden=[8]))
}
"""
    (model,) = check_source(source).models
    assert model.likelihood == "exact"
    (ab,) = (t for t, d in model.ir.tensors.items() if d.name == "ab")
    assert [str(p.domain) for p in model.types[ab].parts] == ["int<3>", "real"]
    cls = survae_dsl.compile_source(source)["M"]
    log_p = cls().log_prob(torch.randn(3, 2), a=torch.randint(0, 3, (3, 2)), b=torch.randn(3, 1))
    assert torch.isfinite(log_p).all()


@pytest.mark.parametrize(
    ("body", "codes"),
    [
        # a density-bearing op on a derived context: dequantize, abs, a user-less surjection
        ("c2 = reshape(c, shape=[2])\n    d = dequantize(c2)\n    d ~ normal()", ["E409"]),
        ("e = embed(c, net=mlp(hidden=[4]), shape=[2])\n    e2 = abs(e)\n    e2 ~ half_normal()", ["E409"]),
        # the flow joined with a derived context, in either order
        ("e = embed(c, net=mlp(hidden=[4]), shape=[2])\n    h = concat(e, x)\n    h ~ normal()", ["E412"]),
        # a context net needs the size of what it makes
        ("e = embed(c, net=mlp(hidden=[4]))\n    x ~ normal(context=e, net=mlp(hidden=[4]))", ["E204"]),
        # a convolutional net keeps space: it cannot make a flat vector out of an image
        ("e = embed(m, net=conv(hidden=4), shape=[3])\n    x ~ normal(context=e, net=mlp(hidden=[4]))", ["E309"]),
    ],
)
def test_refusals(body: str, codes: list[str]) -> None:
    source = f"""model M {{
    context c: int<3>[2]
    context m: real[1, 2, 2]
    input x: real[2]
    {body}
}}
"""
    if "x ~" not in body and "concat" not in body:
        source = source.replace("\n}\n", "\n    x ~ normal()\n}\n")
    assert _codes(source) == codes


def test_e409_still_holds_for_the_context_itself() -> None:
    source = """model M {
    context c: real[2]
    input x: real[2]
    h = affine_coupling(c, net=mlp(hidden=[4]))
    h ~ normal()
    x ~ normal()
}
"""
    assert _codes(source) == ["E409"]
