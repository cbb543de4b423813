"""The whole language (issue: graphs, conditioning, blocks, composition, user transforms).

Each example of `examples/language` compiles with the right class and reasons, trains a few
steps without NaN and samples its declared type. The semantics are checked as equalities
between two ways of writing the same model (blocks against their expansion, `split` + `~`
against `slice(decoder=...)`), and conditional models as functions of their context.
"""

from __future__ import annotations

import re
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
import torch  # noqa: E402

import survae_dsl  # noqa: E402
from survae_dsl.compiler.drivers.driver import check_source  # noqa: E402
from survae_dsl.nn import iw_log_prob  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
LANGUAGE = ROOT / "examples" / "language"

# model -> (file, class, ops or models named by the reasons for a bound)
EXPECTED: dict[str, tuple[str, str, set[str]]] = {
    "Glow": ("glow.survae", "lower_bound", {"dequantize"}),
    "ConvVae": ("conv_vae.survae", "lower_bound", {"dequantize", "vae"}),
    "ConditionalFlow": ("conditional.survae", "exact", set()),
    "ClassConditional": ("conditional.survae", "exact", set()),
    "Prior": ("vae_flow_prior.survae", "exact", set()),
    "VaeFlowPrior": ("vae_flow_prior.survae", "lower_bound", {"vae"}),
    "Noise": ("dequantization.survae", "exact", set()),
    "Dequantized": ("dequantization.survae", "lower_bound", {"dequantize"}),
}


def _models() -> dict[str, Any]:
    found = {}
    for path in sorted(LANGUAGE.glob("*.survae")):
        for model in check_source(path.read_text(encoding="utf-8"), path.name).models:
            found[model.name] = model
    return found


CHECKED = _models()


def _load(name: str) -> type[survae_dsl.Model]:
    return survae_dsl.load(LANGUAGE / EXPECTED[name][0], model=name)


def _compile(source: str, name: str = "M") -> type[survae_dsl.Model]:
    return survae_dsl.compile_source(source, "test.survae", model=name)[name]


def _shape(type_text: str) -> tuple[int, ...]:
    return tuple(int(d) for d in type_text[type_text.index("[") + 1 : -1].split(","))


def _value(type_text: str, batch: int, generator: torch.Generator) -> torch.Tensor:
    shape = (batch, *_shape(type_text))
    classes = re.match(r"int<(\d+)>", type_text)
    if classes:
        return torch.randint(0, int(classes.group(1)), shape, generator=generator)
    if type_text.startswith("unit"):
        return torch.rand(shape, generator=generator, dtype=torch.float64) * 0.98 + 0.01
    return torch.randn(shape, generator=generator, dtype=torch.float64)


def _contexts(model_class: Any, batch: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    ir = CHECKED[model_class.model_name].ir
    out = {}
    for node in ir.contexts:
        payload = ir.payload(node)
        shape = ", ".join(map(str, payload.shape))
        out[payload.name] = _value(f"{payload.domain}[{shape}]", batch, generator)
    return out


def test_every_example_is_listed() -> None:
    assert set(CHECKED) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_class_and_reasons(name: str) -> None:
    model = CHECKED[name]
    _, likelihood, culprits = EXPECTED[name]
    assert (model.likelihood, {r.op for r in model.reasons}) == (likelihood, culprits)
    assert model.warnings == []


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.slow
def test_trains_and_samples(name: str) -> None:
    model_class = _load(name)
    torch.manual_seed(0)
    model = model_class().double()
    generator = torch.Generator().manual_seed(1)
    (input_name,) = model_class.input_names
    data = _value(str(model_class.input_types[input_name]), 32, generator)
    contexts = _contexts(model_class, 32, generator)
    model.initialize(data, **contexts)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(15):
        loss = -model.log_prob(data, **contexts).mean()
        assert torch.isfinite(loss)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    drawn = model.sample(None if contexts else 6, **{k: v[:6] for k, v in contexts.items()})
    assert drawn.shape == (6, *data.shape[1:]) and drawn.dtype == data.dtype
    assert torch.isfinite(model.log_prob(drawn, **{k: v[:6] for k, v in contexts.items()})).all()


# --------------------------------------------------------------------------------------------
# Graphs: several outputs, `~` on any tensor


MULTI_SCALE = """
model Split {
    input x: real[4]
    h = affine_coupling(x, net=mlp(hidden=[8]))
    h, d = split(h)
    d ~ normal(context=h, net=mlp(hidden=[8]))
    h = affine_coupling(h, net=mlp(hidden=[8]))
    h ~ normal()
}

model Sliced {
    input x: real[4]
    h = affine_coupling(x, net=mlp(hidden=[8]))
    h = slice(h, keep=2, decoder=normal(net=mlp(hidden=[8])))
    h = affine_coupling(h, net=mlp(hidden=[8]))
    h ~ normal()
}
"""


def test_split_and_tilde_equals_slice_with_a_decoder() -> None:
    """Factoring out half with `split` + a conditional `~` is `slice(decoder=...)` (§7)."""
    split = _compile(MULTI_SCALE, "Split")().double()
    sliced = _compile(MULTI_SCALE, "Sliced")().double()
    torch.manual_seed(2)
    with torch.no_grad():
        for parameter in split.parameters():
            parameter.normal_(0.0, 0.3)
    renamed = {
        k.replace("normal_1.net", "slice_1.decoder.net").replace("normal_2", "normal_1"): v
        for k, v in split.state_dict().items()
    }
    sliced.load_state_dict(renamed)
    x = torch.randn(16, 4, dtype=torch.float64)
    torch.testing.assert_close(split.log_prob(x), sliced.log_prob(x))
    assert not torch.allclose(split.log_prob(x), torch.distributions.Normal(0, 1).log_prob(x).sum(1))


def test_joint_model_of_two_inputs() -> None:
    source = (
        "model J {\n input x: real[2]\n input y: real[3]\n"
        " x ~ normal()\n y ~ normal(context=x, net=mlp(hidden=[8]))\n}\n"
    )
    joint = _compile(source, "J")().double()
    x, y = torch.randn(5, 2, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64)
    assert joint.log_prob(x, y).shape == (5,)
    drawn = joint.sample(4)
    assert isinstance(drawn, tuple) and [t.shape for t in drawn] == [(4, 2), (4, 3)]


# --------------------------------------------------------------------------------------------
# Conditioning


def test_conditional_log_prob_depends_on_the_context() -> None:
    model = _load("ConditionalFlow")().double()
    torch.manual_seed(3)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    x = torch.randn(8, 2, dtype=torch.float64)
    c = torch.randn(8, 2, dtype=torch.float64)
    assert not torch.allclose(model.log_prob(x, c=c), model.log_prob(x, c=c + 1.0))
    assert model.sample(c=c[:5]).shape == (5, 2)
    with pytest.raises(ValueError, match="context `c`"):
        model.log_prob(x)
    with pytest.raises(ValueError, match="one sample per row"):
        model.sample(3, c=c)


@pytest.mark.slow
def test_a_conditional_density_integrates_to_one_for_each_context() -> None:
    model = _load("ConditionalFlow")().double()
    torch.manual_seed(4)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    half, points = 9.0, 360
    step = 2 * half / points
    axis = torch.linspace(-half + step / 2, half - step / 2, points, dtype=torch.float64)
    grid = torch.cartesian_prod(axis, axis)
    for context in ([0.0, 0.0], [1.5, -2.0]):
        c = torch.tensor([context], dtype=torch.float64).expand(grid.shape[0], 2)
        with torch.no_grad():
            mass = float(torch.exp(model.log_prob(grid, c=c)).sum() * step * step)
        assert mass == pytest.approx(1.0, abs=0.01)


def test_integer_contexts_are_cell_centres() -> None:
    # Validation refuses float labels for an int<K> context; inside a model (an op's encoder)
    # they arrive converted, and this checks that conversion.
    model = _load("ClassConditional")(validate_args=False).double()
    torch.manual_seed(5)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    x = torch.randn(4, 2, dtype=torch.float64)
    label = torch.tensor([[0], [1], [2], [3]])
    as_centres = (2.0 * label.double() + 1.0) / 4 - 1.0
    torch.testing.assert_close(model.log_prob(x, label=label), model.log_prob(x, label=as_centres))


# --------------------------------------------------------------------------------------------
# Blocks


BLOCKS = """
block step(h, hidden=8, scale=tanh_exp) {
    h = affine_coupling(h, net=mlp(hidden=[hidden]), scale=scale)
    h = reverse(h)
    return h
}

block halves(h) {
    a, b = split(h)
    b ~ normal(context=a, net=mlp(hidden=[4]))
    return a
}

model WithBlocks {
    input x: real[4]
    h = step(x, hidden=16)
    h = h |> step(scale=exp)
    h = halves(h)
    h ~ normal()
}

model Expanded {
    input x: real[4]
    h = affine_coupling(x, net=mlp(hidden=[16]), scale=tanh_exp)
    h = reverse(h)
    h = affine_coupling(h, net=mlp(hidden=[8]), scale=exp)
    h = reverse(h)
    a, b = split(h)
    b ~ normal(context=a, net=mlp(hidden=[4]))
    a ~ normal()
}
"""


def test_a_block_is_its_expansion() -> None:
    """Same layers, same parameter names, same log_prob as the model written out."""
    blocks = _compile(BLOCKS, "WithBlocks")().double()
    expanded = _compile(BLOCKS, "Expanded")().double()
    assert list(blocks.state_dict()) == list(expanded.state_dict())
    torch.manual_seed(6)
    with torch.no_grad():
        for parameter in blocks.parameters():
            parameter.normal_(0.0, 0.3)
    expanded.load_state_dict(blocks.state_dict())
    x = torch.randn(8, 4, dtype=torch.float64)
    torch.testing.assert_close(blocks.log_prob(x), expanded.log_prob(x))


# --------------------------------------------------------------------------------------------
# Composition


def test_a_used_model_is_its_own_copy_and_its_class_carries_through() -> None:
    vae = _load("VaeFlowPrior")
    assert vae.likelihood == "lower_bound"
    first, second = vae(), vae()
    assert first.Prior_1.model is not second.Prior_1.model
    source = (LANGUAGE / "vae_flow_prior.survae").read_text(encoding="utf-8")
    bound = (
        source.replace("z ~ normal()\n}", "z = augment(z, size=1)\n    z ~ normal()\n}")
        .replace("input z: real[4]", "input z: real[3]")
        .replace("latent=[4]", "latent=[3]")
    )
    (prior, user) = check_source(bound).models
    assert prior.likelihood == "lower_bound" and user.likelihood == "lower_bound"
    assert any("`Prior`" in r.message for r in user.reasons)


def test_a_model_as_the_dequantizer() -> None:
    """The ELBO with a flow as q(u | x) averages below the IW bound, and samples are counts."""
    model = _load("Dequantized")().double()
    torch.manual_seed(7)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.2 * torch.randn_like(parameter))
    x = torch.randint(0, 17, (64, 4))
    with torch.no_grad():
        assert model.log_prob(x).mean() < iw_log_prob(model, x, k=64).mean()
    drawn = model.sample(10)
    assert drawn.dtype == torch.long and 0 <= drawn.min() and drawn.max() <= 16


# --------------------------------------------------------------------------------------------
# User transforms


def _transform(kind: str, extra: str = "") -> str:
    return f'transform t(h): {kind} {{\n    impl "mylayers:Layer"\n{extra}}}\n'


@pytest.mark.parametrize(
    ("kind", "likelihood"),
    [
        ("bijective", "exact"),
        ("inference_surjective", "exact"),
        ("generative_surjective", "lower_bound"),
        ("stochastic", "lower_bound"),
    ],
)
def test_a_user_transform_counts_by_its_kind(kind: str, likelihood: str) -> None:
    source = _transform(kind) + "model M {\n input x: real[2]\n h = t(x)\n h ~ normal()\n}\n"
    (model,) = check_source(source).models
    assert model.likelihood == likelihood
    assert ({r.op for r in model.reasons} == {"t"}) == (likelihood == "lower_bound")


def test_a_user_surjection_with_a_fold_is_checked_like_abs() -> None:
    rule = "    domain real -> positive\n    fold positive\n"
    leaky = _transform("inference_surjective", rule) + (
        "model M {\n input x: real[2]\n h = t(x)\n h = affine_coupling(h, net=mlp(hidden=[4]))\n h ~ normal()\n}\n"
    )
    closed = leaky.replace(" h = affine_coupling", " h = softplus_inv(h)\n h = affine_coupling")
    (model,) = check_source(leaky).models
    assert model.likelihood == "lower_bound" and [r.kind for r in model.reasons] == ["leak"]
    assert "`t`" in model.reasons[0].message
    (model,) = check_source(closed).models
    assert (model.likelihood, model.reasons) == ("exact", [])


def test_a_user_shape_rule_binds_and_computes_dimensions() -> None:
    rule = "    shape [C, L] -> [C * 2, L / 2]\n"
    source = _transform("bijective", rule) + "model M {\n input x: real[3, 8]\n h = t(x)\n h ~ normal()\n}\n"
    (model,) = check_source(source).models
    assert [t.shape for t in model.types.values()] == [(3, 8), (6, 4)]


def test_the_example_layer_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    folder = ROOT / "examples" / "user_transform"
    monkeypatch.syspath_prepend(str(folder))
    model_class = survae_dsl.load(folder / "soft_clip.survae")
    model = model_class().double()
    x = torch.randn(6, 2, dtype=torch.float64) * 3
    log_p = model.log_prob(x)
    assert torch.isfinite(log_p).all()
    torch.testing.assert_close(model.soft_clip_1.inverse(model.soft_clip_1(x)[0]), x)
    assert model.sample(5).shape == (5, 2)
    sys.modules.pop("mylayers", None)  # imported by the generated module; do not leak it to other tests


def test_every_example_draws_with_context_reads_dashed() -> None:
    from survae_dsl.compiler.backends.render_dot import render

    source = render([CHECKED["ConditionalFlow"]], "dot").decode("utf-8")
    reads = [line for line in source.splitlines() if "context." in line and "->" in line]
    assert len(reads) == 4 and all("style=dashed" in line for line in reads)  # 3 couplings and the `~`
    for name in EXPECTED:
        assert render([CHECKED[name]], "dot").startswith(b"digraph")
