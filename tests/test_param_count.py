"""Parameter counts without torch (`compiler/param_count.py`) equal those of the built modules.

For every model of the examples and of tests/good, each layer's formula count equals
`sum(p.numel() for p in layer.parameters())` of the compiled class, and the total that of the
whole model. Every runtime class of the catalogue must have a formula, and computing counts must
not import torch (`--check` stays fast).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import survae_dsl
from survae_dsl.compiler.backends.codegen import LocalClass
from survae_dsl.compiler.backends.param_count import FORMULAS, file_parameter_counts, parameter_count, total
from survae_dsl.compiler.catalogue import Construct, UserImpl, runtime_names
from survae_dsl.compiler.drivers.driver import check_source

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
FILES = sorted(
    [p for p in (ROOT / "examples").rglob("*.survae") if "user_transform" not in p.parts]
    + sorted((TESTS / "good").glob("*.survae"))
)

# Variants the files above may not reach: each is (source, what it exercises).
EXTRA = {
    "nets": """
model Nets {
    input x: real[4, 6]
    h = affine_coupling(x, net=conv(hidden=5, layers=3, kernel=3))
    h = additive_coupling(h, net=resnet(hidden=7, blocks=2))
    h = spline_coupling(h, net=transformer(dim=8, heads=2, layers=1, positional=true), bins=4)
    h = actnorm(h)
    h = conv1x1(h)
    h ~ normal(per=channel)
}
""",
    "net_options": """
model NetOptions {
    input x: real[4, 6, 6]
    h = affine_coupling(x, net=conv(hidden=[5, 7], kernel=[3, 1, 3], activation=concat_elu, dropout=0.1, norm=batch))
    h = additive_coupling(h, net=resnet(hidden=6, blocks=2, activation=silu, dropout=0.2, norm=layer))
    h = affine_coupling(h, net=densenet(hidden=6, blocks=2, layers=3, growth=4, kernel=5, dropout=0.1))
    h = affine_coupling(h, net=densenet(hidden=6, layers=2, growth=4, transition=gated, residual=true))
    h = affine_coupling(h, net=gated_conv(hidden=5, blocks=2, kernel=1, dropout=0.1))
    h = affine_coupling(h, net=conv(hidden=4, kernel=[1, 3, 5], norm=layer, activation=leaky_relu))
    h = flatten(h)
    h = affine_coupling(h, net=mlp(hidden=[8, 9], activation=concat_elu, norm=layer, dropout=0.5))
    h = affine_coupling(h, net=resnet(hidden=5, blocks=1, norm=batch, activation=elu))
    h = affine_coupling(h, net=mlp(hidden=[8], activation=softplus, norm=batch))
    h = affine_autoregressive(h, net=made(hidden=[8], activation=sigmoid))
    h ~ normal()
}
""",
    "series": """
model Series {
    input x: real[3, 8]
    h = affine_coupling(x, net=resnet(hidden=4, blocks=1))
    h = max_pool(h, kernel=2)
    h = flatten(h)
    h = linear(h)
    h = softplus(h)
    h ~ half_normal()
}
""",
}


def _cases() -> list[tuple[str, str, str]]:
    cases = [(str(p.relative_to(ROOT)), p.read_text(encoding="utf-8"), str(p)) for p in FILES]
    return cases + [(f"<{name}>", text, f"{name}.survae") for name, text in EXTRA.items()]


CASES = _cases()


def test_the_files_are_found() -> None:
    assert len(FILES) >= 5


@pytest.mark.parametrize(("label", "text", "filename"), CASES, ids=[c[0] for c in CASES])
def test_counts_equal_the_built_modules(label: str, text: str, filename: str) -> None:
    counts = file_parameter_counts(check_source(text, filename).models)
    classes = survae_dsl.compile_source(text, filename)
    assert set(counts) == set(classes)
    for name, cls in classes.items():
        model = cls()
        layers = counts[name]
        assert layers, f"{name} has no layers"
        for attr, count in layers:
            expected = sum(p.numel() for p in getattr(model, attr).parameters())
            assert count == expected, f"{label}: {name}.{attr}: formula {count}, module {expected}"
        assert total(layers) == sum(p.numel() for p in model.parameters()), f"{label}: total of {name}"


def test_the_files_reach_every_runtime_class() -> None:
    """Each formula is checked above against a real module at least once."""
    seen: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, Construct):
            seen.add(value.runtime)
            for _, arg in value.kwargs:
                walk(arg)

    from survae_dsl.compiler.backends.codegen import ModelEmitter

    for _, text, filename in CASES:
        models = check_source(text, filename).models
        names = {m.name: m.name for m in models}
        for model in models:
            for _, _, built in ModelEmitter(model, names, filename).layer_constructs():
                walk(built)
    assert runtime_names() - seen == set()


def _build(value: object) -> object:
    """The runtime object a Construct describes (what the generated module would build)."""
    import survae_dsl.nn as snn

    if isinstance(value, Construct):
        return getattr(snn, value.runtime)(**{key: _build(arg) for key, arg in value.kwargs})
    return value


def C(runtime: str, **kwargs: object) -> Construct:  # noqa: N802
    return Construct(runtime, tuple(kwargs.items()))


# Constructor defaults (keywords left out) and branches the compiler does not emit.
DIRECT = [
    C("MLP", in_features=5, out_features=3),
    C("MLP", in_features=5, out_features=3, hidden=()),
    C("ConvNet", in_channels=3, out_channels=4),
    C("ConvNet", in_channels=3, out_channels=4, hidden=6, layers=1, kernel=5, spatial_dims=1),
    C("ConvNet", in_channels=3, out_channels=4, hidden=(6, 5), kernel=(3, 1, 5), activation="concat_elu"),
    C("ConvNet", in_channels=3, out_channels=4, layers=None, kernel=(1, 3, 3), norm="batch", spatial_dims=1),
    C("ConvNet", in_channels=3, out_channels=4, hidden=6, layers=1, kernel=(5,), stride=2),
    C("ConvNet", in_channels=3, out_channels=4, hidden=6, layers=3, norm="layer", upsample=2),
    C("MLP", in_features=5, out_features=3, hidden=(4, 6), activation="concat_elu", norm="batch", dropout=0.5),
    C("DenseNet", in_channels=3, out_channels=4),
    C("DenseNet", in_channels=3, out_channels=4, hidden=5, blocks=3, layers=2, growth=3, kernel=1, spatial_dims=1),
    C("DenseNet", in_channels=3, out_channels=4, hidden=5, blocks=2, layers=2, growth=3, transition="gated"),
    C("DenseNet", in_channels=3, out_channels=4, hidden=5, layers=3, transition="gated", residual=True, spatial_dims=1),
    C("DenseNet", in_channels=3, out_channels=4, hidden=5, blocks=2, layers=2, growth=3, residual=True),
    C("GatedConvNet", in_channels=3, out_channels=4),
    C("GatedConvNet", in_channels=3, out_channels=4, hidden=5, blocks=0, kernel=5, spatial_dims=1),
    C("ResNet", in_channels=3, out_channels=4),
    C("ResNet", in_channels=3, out_channels=4, hidden=5, blocks=2, spatial_dims=0, norm="layer", activation="gelu"),
    C("ResNet", in_channels=3, out_channels=4, hidden=5, blocks=2, spatial_dims=1, norm="batch", dropout=0.3),
    C("ResNet", in_channels=3, out_channels=4, hidden=5, blocks=0, spatial_dims=0),
    C("ResNet", in_channels=3, out_channels=4, hidden=5, blocks=3, spatial_dims=1),
    C("Transformer", in_features=3, out_features=2),
    C("Transformer", in_features=3, out_features=2, dim=12, heads=3, layers=3, positional=True, length=7),
    C("MADE", features=4),
    C("MADE", features=4, hidden=(8, 9), params_per_feature=3, context_features=5),
    C("Normal", shape=(3, 4, 4), per="channel"),
    C("Normal", shape=(3, 2)),
    C("Normal", shape=(3,), per="channel", net=C("MLP", in_features=2, out_features=6, hidden=(4,))),
    C("Categorical", shape=(2, 3), num_classes=5),
    C("MaxPool", shape=(3, 8)),
    C("MaxPool", shape=(2, 6, 6), kernel=3),
    C("Slice", shape=(4,), keep=1),
    C("Augment", shape=(4,), size=3),
    C("Dequantize", shape=(4,), num_classes=3),
    C("Abs", shape=(4,)),
    C("Linear", shape=(5,)),
    C("Conv1x1", shape=(6, 2, 2), seed=3),
    C("ActNorm", shape=(6, 2, 2)),
]


@pytest.mark.parametrize("construct", DIRECT, ids=[f"{c.runtime}-{i}" for i, c in enumerate(DIRECT)])
def test_counts_with_constructor_defaults(construct: Construct) -> None:
    built = _build(construct)
    assert parameter_count(construct) == sum(p.numel() for p in built.parameters())  # type: ignore[attr-defined]  # _build makes an nn.Module


def test_every_runtime_class_has_a_formula() -> None:
    assert runtime_names() - set(FORMULAS) == set()


def test_unknown_runtime_raises_and_user_transforms_are_unknown() -> None:
    with pytest.raises(KeyError):
        parameter_count(Construct("NoSuchLayer", ()))
    assert (
        parameter_count(Construct("mypkg.layers:SoftClip", (("shape", (3,)),), UserImpl("mypkg.layers", "SoftClip")))
        is None
    )
    assert total([("a", 3), ("b", None)]) is None


def test_a_used_model_counts_its_total() -> None:
    use = Construct("AsDistribution", (("model", LocalClass("Prior")), ("context_name", None)))
    assert parameter_count(use, {"Prior": 17}) == 17
    assert parameter_count(use, {"Prior": None}) is None
    assert parameter_count(use) is None
    vae = Construct("VAE", (("shape", (4,)), ("latent", (2,)), ("encoder", use), ("decoder", use)))
    assert parameter_count(vae, {"Prior": 17}) == 34


def test_counting_does_not_import_torch() -> None:
    code = (
        "import sys, survae_dsl.compiler.backends.param_count as pc\n"
        "from survae_dsl.compiler.drivers.driver import check_source\n"
        f"text = open({str(ROOT / 'examples' / 'coupling_flow.survae')!r}).read()\n"
        "assert pc.file_parameter_counts(check_source(text).models)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, survae_dsl.compiler.backends.param_count; assert 'torch' not in sys.modules",
        ],
        check=True,
    )
    subprocess.run([sys.executable, "-c", code], check=True)
