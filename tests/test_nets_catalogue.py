"""The nets of the catalogue: per-layer lists, options, and nets that change spatial sizes.

The runtime classes are tested as maths in tests/nn/test_nets.py and their parameter formulas
against the built modules in tests/test_param_count.py; here the compiler side: keyword
validation (E205), the emitted constructor keywords, and the shape rule that lets a strided or
upsampling `conv` connect shapes of different spatial sizes (E309 otherwise).
"""

from __future__ import annotations

import pytest

from survae_dsl.compiler.catalogue import NET_TABLE, NetSlot, ShapeError
from survae_dsl.compiler.catalogue.counts import conv_space
from survae_dsl.compiler.catalogue.distributions import CONV, ConvParams
from survae_dsl.compiler.checks.check_shapes import check_net
from survae_dsl.compiler.core import codes
from survae_dsl.compiler.core.diagnostics import CompileError
from survae_dsl.compiler.drivers.driver import check_source
from survae_dsl.compiler.ir.checked import BoundNet


def _diagnostics(text: str) -> list[tuple[str, str]]:
    """The errors of a model file as (code, message), none if it compiles."""
    try:
        check_source(text, "m.survae")
    except CompileError as exc:
        return [(str(d.code), d.message) for d in exc.diagnostics if d.is_error]
    return []


def _errors(net: str, shape: str = "[2, 4, 4]") -> list[tuple[str, str]]:
    return _diagnostics(
        f"model M {{\n    input x: real{shape}\n    h = affine_coupling(x, net={net})\n    h ~ normal()\n}}\n"
    )


@pytest.mark.parametrize(
    "net",
    [
        "conv(hidden=[512, 512], kernel=[3, 1, 3])",
        "conv(hidden=8, kernel=[3, 1, 3])",
        "conv(hidden=8, layers=3, kernel=[3, 1, 3])",
        "conv(hidden=[4, 5], layers=3)",
        "conv(activation=concat_elu, dropout=0.1, norm=batch)",
        "mlp(hidden=[8], activation=swish, norm=layer, dropout=0.5)",
        "resnet(hidden=4, activation=leaky_relu, norm=layer, dropout=0.2)",
        "densenet(hidden=4, blocks=2, layers=2, growth=2, kernel=5)",
        "densenet(hidden=4, layers=2, growth=2, transition=gated, residual=true)",
        "gated_conv(hidden=4, blocks=1, kernel=1, dropout=0.3)",
        "dense_block(layers=2, growth=2, kernel=5, transition=gated)",
    ],
)
def test_net_options_are_accepted(net: str) -> None:
    assert _errors(net) == []


@pytest.mark.parametrize(
    "net,message",
    [
        ("conv(hidden=[8, 8], kernel=[3, 1])", "`kernel` of `conv` must have one size per convolution: 3, not 2"),
        ("conv(hidden=8, layers=2, kernel=[3, 1, 3])", "one size per convolution: 2, not 3"),
        ("conv(hidden=[8, 8], layers=2)", "`layers` of `conv` must be 3 with 2 hidden widths"),
        ("conv(kernel=[3, 2])", "must be odd"),
        ("conv(hidden=[8, 0])", "must be between 1 and 1000000"),
        ("conv(dropout=1.0)", "`dropout` of `conv` must be < 1.0"),
        ("conv(norm=group)", "`norm` of `conv` must be one of `none`, `batch`, `layer`"),
        ("conv(stride=2, upsample=2)", "cannot be used with `stride`"),
        ("resnet(activation=concat_elu)", "`activation` of `resnet` must be one of"),
        ("made(hidden=[8], activation=concat_elu)", "`activation` of `made` must be one of"),
        ("densenet(kernel=4)", "must be odd"),
        ("densenet(transition=sigmoid)", "`transition` of `densenet` must be one of `plain`, `gated`"),
    ],
)
def test_lists_and_options_that_disagree_are_e205(net: str, message: str) -> None:
    shape = "[4]" if net.startswith("made") else "[2, 4, 4]"
    text = (
        f"model M {{\n    input x: real{shape}\n    h = affine_autoregressive(x, net={net})\n    h ~ normal()\n}}\n"
        if net.startswith("made")
        else None
    )
    if text is not None:
        errors = _diagnostics(text)
    else:
        errors = _errors(net)
    assert len(errors) == 1 and errors[0][0] == "E205", errors
    assert message in errors[0][1]


def test_a_net_with_its_defaults_emits_the_keywords_it_always_did() -> None:
    """New options are emitted only when set, so existing models compile to the same code."""
    emitted = dict(CONV.emit(ConvParams(), (2, 4, 4), (4, 4, 4), None))
    assert emitted == {
        "in_channels": 2,
        "out_channels": 4,
        "hidden": 64,
        "layers": 2,
        "kernel": 3,
        "spatial_dims": 2,
    }
    glow = dict(CONV.emit(ConvParams(hidden=(512, 512), kernel=(3, 1, 3)), (2, 4, 4), (4, 4, 4), None))
    assert (glow["hidden"], glow["layers"], glow["kernel"]) == ((512, 512), 3, (3, 1, 3))
    strided = dict(CONV.emit(ConvParams(stride=2, norm="layer"), (2, 4, 4), (4, 2, 2), None))
    assert (strided["stride"], strided["norm"]) == (2, "layer") and "upsample" not in strided


def test_glow_net_counts_as_glow_does() -> None:
    """Glow's 512-wide 3×3 → 1×1 → 3×3 net on 6 → 12 channels: 3·3·6·512 + 512 + 512·512 + 512 +
    3·3·512·12 + 12 parameters, not the 5.6 times more of three 3×3 layers."""
    formula = CONV.parameters
    assert formula is not None
    kwargs = dict(CONV.emit(ConvParams(hidden=(512, 512), kernel=(3, 1, 3)), (6, 8, 8), (12, 8, 8), None))
    expected = 9 * 6 * 512 + 512 + 512 * 512 + 512 + 9 * 512 * 12 + 12
    assert formula(kwargs, lambda _: 0) == expected


@pytest.mark.parametrize(
    "space,stride,upsample,out",
    [((8, 8), 2, 1, (4, 4)), ((7,), 2, 1, (4,)), ((9, 6), 3, 1, (3, 2)), ((4, 5), 1, 2, (8, 10)), ((3,), 1, 1, (3,))],
)
def test_conv_space_is_the_strided_or_upsampled_size(
    space: tuple[int, ...], stride: int, upsample: int, out: tuple[int, ...]
) -> None:
    assert conv_space(space, stride, upsample) == out
    assert CONV.resize is not None
    assert CONV.resize(ConvParams(stride=stride, upsample=upsample), (3, *space)) == out


def _check(params: ConvParams, in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> None:
    check_net(BoundNet(NET_TABLE["conv"], params), NetSlot(in_shape, out_shape), "net", "encoder")


def test_check_net_accepts_the_declared_change_of_size_only() -> None:
    _check(ConvParams(stride=2), (3, 8, 8), (16, 4, 4))  # a downsampling encoder/context net
    _check(ConvParams(stride=2), (3, 7), (16, 4))
    _check(ConvParams(upsample=2, kernel=(3, 1)), (16, 4, 4), (3, 8, 8))  # an upsampling decoder
    _check(ConvParams(), (3, 8, 8), (16, 8, 8))
    with pytest.raises(ShapeError) as caught:
        _check(ConvParams(stride=2), (3, 8, 8), (16, 8, 8))
    assert caught.value.code is codes.E309 and caught.value.param == "net"
    assert "`conv(..., stride=2)` turns the spatial sizes [8, 8] into [4, 4]" in caught.value.message
    assert "[16, 8, 8]" in caught.value.message
    with pytest.raises(ShapeError, match="upsample=2"):
        _check(ConvParams(upsample=2), (3, 4, 4), (3, 4, 4))
    with pytest.raises(ShapeError, match="keeps every size but the first"):
        _check(ConvParams(), (3, 8, 8), (3, 4, 4))
    with pytest.raises(ShapeError, match="works on"):
        _check(ConvParams(stride=2), (3, 8, 8), (48, 16))


def test_a_coupling_refuses_a_strided_conv() -> None:
    """A coupling's net must give parameters at its input's size: a stride cannot fit."""
    (error,) = _errors("conv(stride=2)")
    assert error[0] == "E309" and "turns the spatial sizes [4, 4] into [2, 2]" in error[1]


def test_a_residual_dense_block_keeps_the_channels() -> None:
    """`dense_block(residual=true)` adds its input to its output: an embed to other channels is E309."""
    text = (
        "model M {\n    context c: real[3, 4, 4]\n    input x: real[2, 4, 4]\n"
        "    f = embed(c, net=dense_block(residual=true), channels=8)\n"
        "    h = affine_coupling(x, net=conv(), context=f)\n    h ~ normal()\n}\n"
    )
    (error,) = _diagnostics(text)
    assert error == (
        "E309",
        "`dense_block(residual=true)` adds its input to its output, so it keeps the channels, "
        "but here 3 channels go in and 8 must come out",
    )
    assert _diagnostics(text.replace("channels=8", "channels=3")) == []


def test_every_net_documents_its_options() -> None:
    for name in ("mlp", "conv", "resnet", "densenet", "dense_block", "gated_conv"):
        assert NET_TABLE[name].details, name
    assert "eval mode" in NET_TABLE["conv"].details and "batch" in NET_TABLE["conv"].details


def test_batch_norm_in_a_net_is_noted_and_keeps_the_class() -> None:
    """Conservative words on `norm=batch`: the verdict is the eval-mode model's, and `--check`
    says that training-mode values depend on the batch; `layer` mixes no examples: no note."""
    text = (
        "model M {\n    input x: real[2, 4, 4]\n"
        "    h = affine_coupling(x, net=conv(norm=batch))\n"
        "    h = affine_coupling(h, net=conv(norm=layer))\n"
        "    a, b = split(h)\n"
        "    a ~ normal(context=b, net=resnet(hidden=4, norm=batch))\n"
        "    b ~ normal()\n}\n"
    )
    (model,) = check_source(text, "m.survae").models
    assert model.likelihood == "exact"
    assert [n.message.split(" uses")[0] for n in model.notes] == [
        "the `conv` net of `affine_coupling` at line 3",
        "the `resnet` net of `normal` at line 6",
    ]
    assert all("evaluation mode only" in n.message for n in model.notes)
