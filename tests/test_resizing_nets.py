"""Nets that change spatial size, used where an op maps between sizes (issue 18).

A strided `conv` is a `vae`'s encoder from an image `[C, H, W]` to a latent `[C', H/2, W/2]`,
an upsampling one its decoder back (the distributions stack their P parameters on the first
axis, `[P·C', H/2, W/2]` and `[P·C, H, W]`), and a strided `embed` net maps a context to the size
a coupling reads it at. The checker accepts an output size that differs from the input's only
when the net's resize rule gives exactly it (E309 otherwise, naming both sizes; the bad model is
tests/bad/E309_strided_latent_size.survae). The example is examples/language/conv_vae.survae
(its class, training and parameter counts are also checked by test_language.py and
test_param_count.py).

The lower bound is checked as maths on a VAE small enough to integrate: a `[1, 2, 2]` image and
a `[1, 1, 1]` latent, where log p(x) = log ∫ p(z) p(x | z) dz is a 1-D quadrature.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

import survae_dsl
from survae_dsl.compiler.backends.param_count import file_parameter_counts, total
from survae_dsl.compiler.drivers.driver import check_source
from survae_dsl.nn import iw_log_prob

ROOT = Path(__file__).resolve().parent.parent
CONV_VAE = ROOT / "examples" / "language" / "conv_vae.survae"

TINY_VAE = """
model Tiny {
    input x: real[1, 2, 2]
    z = vae(
        x,
        latent=[1, 1, 1],
        encoder=normal(net=conv(hidden=4, stride=2)),
        decoder=normal(net=conv(hidden=4, upsample=2)),
    )
    z ~ normal()
}
"""

EMBED = """
model Embedded {
    input x: real[6, 16, 16]
    context c: real[3, 32, 32]
    f = embed(c, net=conv(hidden=8, stride=2), KEYWORD)
    x = affine_coupling(x, net=conv(hidden=8), context=f)
    x ~ normal()
}
"""


def _perturbed(model: torch.nn.Module, seed: int, scale: float) -> torch.nn.Module:
    """The model with every parameter moved off its start (zero last layers would hide the nets)."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(scale * torch.randn_like(parameter))
    return model


def _codes_and_messages(text: str) -> list[tuple[str, str, str]]:
    with pytest.raises(survae_dsl.CompileError) as caught:
        survae_dsl.compile_source(text)
    return [(d.code, d.message, d.hint or "") for d in caught.value.diagnostics if d.is_error]


# --------------------------------------------------------------------------------------------
# The convolutional VAE


def test_the_conv_vae_checks_as_a_bound_with_a_half_size_latent() -> None:
    (model,) = check_source(CONV_VAE.read_text(encoding="utf-8"), CONV_VAE.name).models
    assert model.likelihood == "lower_bound" and {r.op for r in model.reasons} == {"dequantize", "vae"}
    assert [t.shape for t in model.types.values()] == [(1, 8, 8), (1, 8, 8), (1, 8, 8), (4, 4, 4)]


def test_the_conv_vae_runs_and_its_nets_change_size() -> None:
    model = _perturbed(survae_dsl.load(CONV_VAE)().double(), seed=0, scale=0.05)
    x = torch.randint(0, 256, (5, 1, 8, 8))
    with torch.no_grad():
        log_p = model.log_prob(x)
        assert log_p.shape == (5,) and torch.isfinite(log_p).all()
        h = torch.randn(5, 1, 8, 8, dtype=torch.float64)
        # The parameters stacked on the first axis: (loc, log_scale) for each of 4 latent channels.
        assert model.vae_1.encoder.net(h).shape == (5, 8, 4, 4)
        assert model.vae_1.decoder.net(torch.randn(5, 4, 4, 4, dtype=torch.float64)).shape == (5, 2, 8, 8)
        drawn = model.sample(3)
    assert drawn.shape == (3, 1, 8, 8) and drawn.dtype == torch.long
    assert 0 <= int(drawn.min()) and int(drawn.max()) <= 255


@pytest.mark.parametrize("source", [CONV_VAE.read_text(encoding="utf-8"), TINY_VAE])
def test_parameter_counts_equal_the_built_module(source: str) -> None:
    models = check_source(source, "m.survae").models
    counts = file_parameter_counts(models)
    for name, cls in survae_dsl.compile_source(source, "m.survae").items():
        module = cls()
        for attr, count in counts[name]:
            assert count == sum(p.numel() for p in getattr(module, attr).parameters()), attr
        assert total(counts[name]) == sum(p.numel() for p in module.parameters())


def _exact_log_p(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """log ∫ p(z) p(x | z) dz by the midpoint rule over z ∈ [-10, 10] (the 1-D latent), `(B,)`."""
    points, half = 4000, 10.0
    step = 2 * half / points
    z = torch.linspace(-half + step / 2, half - step / 2, points, dtype=torch.float64).reshape(points, 1, 1, 1)
    out = []
    for row in x:
        joint = model.normal_1.log_prob(z) + model.vae_1.decoder.log_prob(row.expand(points, 1, 2, 2), context=z)
        out.append(torch.logsumexp(joint, 0) + math.log(step))
    return torch.stack(out)


def test_the_strided_vae_stays_a_lower_bound() -> None:
    """E_q[log p(x|z) + log p(z) − log q(z|x)] ≤ log p(x), and importance weighting closes the gap."""
    torch.manual_seed(0)  # the layers' initial values, then the perturbation
    model = _perturbed(survae_dsl.compile_source(TINY_VAE, model="Tiny")["Tiny"]().double(), seed=2, scale=0.2)
    torch.manual_seed(2)
    x = torch.randn(4, 1, 2, 2, dtype=torch.float64)
    with torch.no_grad():
        exact = _exact_log_p(model, x)
        draws = model.log_prob(x.repeat_interleave(20000, 0)).reshape(4, 20000)
        elbo, error = draws.mean(1), draws.std(1) / math.sqrt(20000)
        assert torch.isfinite(exact).all()
        assert (elbo <= exact + 4 * error).all(), (elbo, exact)
        assert (exact - elbo > 0.1).all(), "a perturbed encoder is not the posterior: the gap must show"
        # The importance-weighted bound tends to log p(x) as k grows: the same joint density.
        iw = iw_log_prob(model, x, k=20000)
    torch.testing.assert_close(iw, exact, atol=0.05, rtol=0.0)


# --------------------------------------------------------------------------------------------
# A downsampling context net


@pytest.mark.parametrize("keyword", ["shape=[16, 16, 16]", "channels=16"])
def test_a_strided_embed_net_makes_the_context_at_the_couplings_size(keyword: str) -> None:
    source = EMBED.replace("KEYWORD", keyword)
    (checked,) = check_source(source, "m.survae").models
    assert checked.likelihood == "exact"
    assert {checked.ir.tensors[k].name: t.shape for k, t in checked.types.items()}["f"] == (16, 16, 16)
    cls = survae_dsl.compile_source(source, "m.survae")["Embedded"]
    model = _perturbed(cls().double(), seed=3, scale=0.05)
    assert checked.parameter_total == sum(p.numel() for p in model.parameters())
    x = torch.randn(4, 6, 16, 16, dtype=torch.float64)
    c = torch.randn(4, 3, 32, 32, dtype=torch.float64)
    with torch.no_grad():
        log_p = model.log_prob(x, c=c)
        assert torch.isfinite(log_p).all()
        assert not torch.allclose(log_p, model.log_prob(x, c=c + 1.0)), "the context reaches the coupling"
        assert model.sample(c=c[:2]).shape == (2, 6, 16, 16)


# --------------------------------------------------------------------------------------------
# Refusals and their hints


def test_a_net_without_the_stride_is_told_which_one_fits() -> None:
    encoder = TINY_VAE.replace("conv(hidden=4, stride=2)", "conv(hidden=4)")
    ((code, message, hint),) = _codes_and_messages(encoder)
    assert code == "E309" and "[1, 2, 2]" in message and "`conv(..., stride=2)`" in hint
    decoder = TINY_VAE.replace("conv(hidden=4, upsample=2)", "resnet(hidden=4)")
    ((code, message, hint),) = _codes_and_messages(decoder)
    assert code == "E309" and "`resnet`" in message and "`resnet(..., upsample=2)`" in hint


def test_a_coupling_still_needs_its_inputs_size() -> None:
    """A coupling's net must give x_b's scale and shift at x_b's size: a stride is refused."""
    source = EMBED.replace("KEYWORD", "channels=16").replace(
        "conv(hidden=8), context", "conv(hidden=8, stride=2), context"
    )
    ((code, message, _),) = _codes_and_messages(source)
    assert code == "E309" and "[16, 16] into [8, 8]" in message and "must be [16, 16]" in message


# --------------------------------------------------------------------------------------------
# `resnet` resizes as `conv` does


RESNET_VAE = """
model ResVae {
    input x: real[2, 6, 5]
    z = vae(
        x,
        latent=[3, 3, 3],
        encoder=normal(net=resnet(hidden=6, blocks=1, stride=2)),
        decoder=normal(net=resnet(hidden=6, blocks=1, upsample=2)),
    )
    z ~ normal()
}
"""


def test_a_resnet_vae_checks_runs_and_counts() -> None:
    """6x5 → ⌈6/2⌉x⌈5/2⌉ = 3x3 by the strided input layer; the decoder's 3x3 → 6x6 is refused
    for a 6x5 image, so the image here is 6x6."""
    ((code, message, _),) = _codes_and_messages(RESNET_VAE)
    assert code == "E309" and "`resnet(..., upsample=2)` turns the spatial sizes [3, 3] into [6, 6]" in message
    source = RESNET_VAE.replace("real[2, 6, 5]", "real[2, 6, 6]")
    (checked,) = check_source(source, "m.survae").models
    model = _perturbed(survae_dsl.compile_source(source)["ResVae"]().double(), seed=4, scale=0.05)
    assert checked.parameter_total == sum(p.numel() for p in model.parameters())
    with torch.no_grad():
        assert model.vae_1.encoder.net(torch.randn(3, 2, 6, 6, dtype=torch.float64)).shape == (3, 6, 3, 3)
        assert torch.isfinite(model.log_prob(torch.randn(3, 2, 6, 6, dtype=torch.float64))).all()
        assert model.sample(2).shape == (2, 2, 6, 6)


@pytest.mark.parametrize(("spatial", "stride", "upsample", "size"), [(1, 2, 1, 4), (1, 1, 3, 21), (2, 3, 1, 3)])
def test_the_resnet_runtime_resizes_like_the_shape_rule(spatial: int, stride: int, upsample: int, size: int) -> None:
    from survae_dsl.compiler.catalogue.counts import conv_space
    from survae_dsl.nn import ResNet

    net = ResNet(2, 5, hidden=4, blocks=1, spatial_dims=spatial, stride=stride, upsample=upsample)
    out = net(torch.randn(3, 2, *(7,) * spatial))
    assert out.shape == (3, 5, *(size,) * spatial) and conv_space((7,) * spatial, stride, upsample) == (size,) * spatial
    with pytest.raises(ValueError, match="both 1 on vectors"):
        ResNet(2, 5, spatial_dims=0, stride=2)


def test_a_resnet_on_vectors_cannot_resize() -> None:
    source = "model M {\n input x: real[4]\n h = affine_coupling(x, net=resnet(hidden=4, stride=2))\n h ~ normal()\n}\n"
    ((code, message, hint),) = _codes_and_messages(source)
    assert code == "E309" and "`resnet(..., stride=2)` works on `[C, L]` or `[C, H, W]`" in message
    assert "without `stride=2`" in hint
