"""Model zoo, CIFAR-10 group: SurVAE Flows' augmented flow, Glow and RealNVP at their real sizes.

Each file's `--check` class and parameter count are read without torch and compared with a
per-layer count written here from the published architecture (not from our formulas), the
files must format canonically and render, and the compiled classes must build and score a batch
of 2 images (the augmented flow, 3.6M parameters, also samples; Glow and RealNVP are
`slow`).
"""

from __future__ import annotations

import pytest

from survae_dsl.compiler.backends.param_count import total

from .common import (
    Expected,
    assert_class_warnings_and_count,
    assert_file_holds_exactly_the_listed_models,
    assert_formatted_and_rendered,
    assert_public_check_agrees,
    build,
    conv,
    files,
    initialize_and_score,
    sample,
)

# --- SurVAE Flows, examples/cifar10_aug_flow.py -------------------------------------------------
AUG_CHANNELS = [6] * 4 + [12] * 4 + [24] * 4  # the coupling steps' channels, in order


def aug_densenet(c: int) -> int:
    """DenseNet(in=c/2, out=c, 1 block, mid 64, depth 8, growth 16, gated_conv=True): the
    reference's block ends in a GatedConv2d (1×1 to 3·64 channels); its residual adds nothing."""
    n = conv(c // 2, 64, 1)
    for i in range(8):
        width = 64 + 16 * i
        n += conv(width, width, 1) + conv(width, 16, 3)
    n += conv(64 + 8 * 16, 3 * 64, 1)
    return n + conv(64, c, 1)


def aug_layers() -> dict[str, int]:
    layers: dict[str, int] = {}
    for k, c in enumerate(AUG_CHANNELS, start=1):
        layers[f"affine_coupling_{k}"] = aug_densenet(c)
        layers[f"actnorm_{k}"] = 2 * c
        layers[f"conv1x1_{k}"] = c * c
    return layers


AUG_REFERENCE = 3_648_456  # the module examples/cifar10_aug_flow.py builds


# --- Glow (Kingma & Dhariwal 2018), CIFAR-10: L = 3, K = 32, width 512 --------------------------
def glow_layers() -> dict[str, int]:
    layers: dict[str, int] = {}
    k = 0
    for c in (12, 24, 48):  # channels after each level's squeeze
        for _ in range(32):
            k += 1
            layers[f"actnorm_{k}"] = 2 * c  # a log-scale and a shift per channel
            layers[f"conv1x1_{k}"] = c * c  # the C×C matrix
            # the coupling net: 3×3 (C/2 -> 512), 1×1 (512 -> 512), 3×3 (512 -> C: shift and scale)
            layers[f"affine_coupling_{k}"] = conv(c // 2, 512, 3) + conv(512, 512, 1) + conv(512, c, 3)
    layers["normal_1"] = conv(6, 12, 3)  # split prior: mean and log-scale of 6 channels from 6
    layers["normal_2"] = conv(12, 24, 3)
    layers["normal_3"] = 2 * 48  # learned top prior, per channel
    return layers


GLOW_OURS = 43_951_788


# --- RealNVP (Dinh et al. 2017), CIFAR-10: 2 scales, resnets of 8 blocks × 64 -------------------
def resnet(c_in: int, c_out: int) -> int:
    return conv(c_in, 64, 3) + 8 * 2 * conv(64, 64, 3) + conv(64, c_out, 3)


def realnvp_layers() -> dict[str, int]:
    nets = [resnet(3, 6)] * 3 + [resnet(6, 12)] * 3 + [resnet(6, 12)] * 4  # checker, channel, checker
    return {f"affine_coupling_{k}": n for k, n in enumerate(nets, start=1)}


REALNVP_OURS = 5_997_350

EXPECTED: dict[str, Expected] = {
    "Cifar10AugFlow": Expected(
        "cifar10_aug_flow.survae",
        "lower_bound",
        frozenset({"dequantize", "augment"}),
        ("W401",),  # couplings on unit values, as the reference (no logit)
        AUG_REFERENCE,  # equal to the reference, to the unit
        aug_layers(),
    ),
    "GlowCifar10": Expected(
        "glow_cifar10.survae",
        "lower_bound",
        frozenset({"dequantize"}),
        ("W401",),  # a flow on (-1/2, 1/2), as Glow
        GLOW_OURS,
        glow_layers(),
    ),
    "RealNVPCifar10": Expected(
        "realnvp_cifar10.survae", "lower_bound", frozenset({"dequantize"}), (), REALNVP_OURS, realnvp_layers()
    ),
}
FILES = files(EXPECTED)


def test_the_formulas_give_the_references() -> None:
    assert total(list(aug_layers().items())) == AUG_REFERENCE
    assert sum(glow_layers().values()) == GLOW_OURS
    assert sum(realnvp_layers().values()) == REALNVP_OURS


@pytest.mark.parametrize("file", FILES)
def test_each_file_holds_exactly_the_listed_models(file: str) -> None:
    assert_file_holds_exactly_the_listed_models(EXPECTED, file)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_class_warnings_and_per_layer_parameter_count(name: str) -> None:
    assert_class_warnings_and_count(EXPECTED, name)


@pytest.mark.parametrize("file", FILES)
def test_the_public_check_agrees(file: str) -> None:
    assert_public_check_agrees(EXPECTED, file)


@pytest.mark.parametrize("file", FILES)
def test_formatted_and_rendered(file: str) -> None:
    assert_formatted_and_rendered(EXPECTED, file)


def _build_and_score(name: str, *, sample_too: bool) -> None:
    """Build `name`, score 2 random images (2, 3, 32, 32) int64 in 0..255 in training mode (RealNVP's
    batch norms use the batch's statistics) and, if `sample_too`, draw 2 images of that kind."""
    model = build(EXPECTED, name)
    import torch

    x = torch.randint(0, 256, (2, 3, 32, 32))
    initialize_and_score(model, x, eval_mode=False)
    if sample_too:
        s = sample(model, 2)
        assert s.shape == (2, 3, 32, 32) and not s.is_floating_point()
        assert ((s >= 0) & (s < 256)).all()


def test_aug_flow_builds_scores_and_samples() -> None:
    _build_and_score("Cifar10AugFlow", sample_too=True)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["GlowCifar10", "RealNVPCifar10"])
def test_big_models_build_and_score(name: str) -> None:
    _build_and_score(name, sample_too=False)
