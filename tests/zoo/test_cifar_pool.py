"""Model zoo, CIFAR-10 pooling group: SurVAE Flows' MaxPoolFlow and its slicing baseline.

From didriknielsen/survae_flows, experiments/image (PoolFlow, CIFAR-10: 2 scales of 12 steps,
DenseNets of 1 block, 64 channels, 10 dense layers, growth 64, gated), with uniform
dequantization and with its flow dequantization (its context net's two DenseBlocks written as
`dense_block`), both equal to the reference's counts to the unit. Each file's
`--check` class and parameter count are read without torch and compared with a per-layer count
written here from the reference's modules (not from our formulas); the files must format
canonically and render; the compiled classes (90M and 105M parameters) build and score a batch
of 2 images in `slow` tests.
"""

from __future__ import annotations

import pytest

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
    layer_counts,
)

STEPS = 24  # 2 scales x 12 (Conv1x1, Coupling) steps, all on 12 channels
REFERENCE = 89_888_952  # PoolFlow(--num_steps 12 --num_scales 2 --dequant uniform), either pooling


def densenet(c: int) -> int:
    """The reference's DenseNet(in=c/2, out=c, 1 block, mid 64, depth 10, growth 64, gated_conv):
    a 1×1 in, 10 dense layers (1×1 keeping the width, 3×3 adding 64), a GatedConv2d 1×1 to
    3·64 channels, a 1×1 out; the block's residual adds nothing."""
    n = conv(c // 2, 64, 1)
    for i in range(10):
        width = 64 + 64 * i
        n += conv(width, width, 1) + conv(width, 64, 3)
    n += conv(64 + 10 * 64, 3 * 64, 1)
    return n + conv(64, c, 1)


def layers() -> dict[str, int]:
    out: dict[str, int] = {}
    for k in range(1, STEPS + 1):
        out[f"conv1x1_{k}"] = 12 * 12  # Conv1x1(12): the C×C matrix
        out[f"affine_coupling_{k}"] = densenet(12)
    out["normal_1"] = 2 * 12  # ConvNormal2d((12, 8, 8)): a location and log-scale per channel
    return out


# --- flow dequantization: model/dequantization_flow.py (4 steps, 32 context channels) -------------
def dense_block(c_in: int, c_out: int) -> int:
    """The reference's context DenseBlock(c_in -> c_out, depth 4, growth 16, gated, no residual)."""
    n = 0
    for i in range(4):
        width = c_in + 16 * i
        n += conv(width, width, 1) + conv(width, 16, 3)
    return n + conv(c_in + 4 * 16, 3 * c_out, 1)


CONTEXT_REFERENCE = dense_block(3, 64) + conv(64, 64, 2) + dense_block(64, 32)  # 145,168
DEQUANT = 15_135_016  # the reference's DequantizationFlow alone
FLOW_REFERENCE = 105_023_968  # PoolFlow(... --dequant flow), either pooling


def dequantizer_layers() -> dict[str, int]:
    out = {
        "embed_1": dense_block(3, 64),  # 32,976
        "embed_2": conv(64 * 4, 64, 1),  # squeeze + 1x1 = the reference's 2x2 stride-2 Conv2d
        "embed_3": dense_block(64, 32),  # 95,744
    }
    for k in range(1, 6):
        out[f"conv1x1_{k}"] = 12 * 12
    for k in range(1, 5):
        out[f"affine_coupling_{k}"] = densenet(12) + 32 * 64  # the 32 context channels read too
    out["normal_1"] = 2 * 12
    return out


def flow_layers() -> dict[str, int]:
    return {"dequantize_1": DEQUANT, **layers()}


# The reference's counts, to the unit, layer by layer.
DEQUANTIZED = frozenset({"dequantize"})  # the reason for each bound
EXPECTED: dict[str, Expected] = {
    "Cifar10MaxPoolFlow": Expected(
        "cifar10_maxpool_flow.survae",
        "lower_bound",
        DEQUANTIZED,
        ("W401",),  # a flow on (-1/2, 1/2), as the reference
        REFERENCE,  # equal to the reference, to the unit
        layers(),
    ),
    "Cifar10SliceFlow": Expected(
        "cifar10_slice_flow.survae", "lower_bound", DEQUANTIZED, ("W401",), REFERENCE, layers()
    ),
    "MaxPoolDequantizer": Expected(
        "cifar10_maxpool_flowdeq.survae", "exact", frozenset(), (), DEQUANT, dequantizer_layers()
    ),
    "Cifar10MaxPoolFlowDeq": Expected(
        "cifar10_maxpool_flowdeq.survae", "lower_bound", DEQUANTIZED, ("W401",), FLOW_REFERENCE, flow_layers()
    ),
    "SliceDequantizer": Expected(
        "cifar10_slice_flowdeq.survae", "exact", frozenset(), (), DEQUANT, dequantizer_layers()
    ),
    "Cifar10SliceFlowDeq": Expected(
        "cifar10_slice_flowdeq.survae", "lower_bound", DEQUANTIZED, ("W401",), FLOW_REFERENCE, flow_layers()
    ),
}
FILES = files(EXPECTED)
FLOWS = ["Cifar10MaxPoolFlow", "Cifar10MaxPoolFlowDeq", "Cifar10SliceFlow", "Cifar10SliceFlowDeq"]


def test_the_formulas_give_the_references() -> None:
    assert sum(layers().values()) == REFERENCE
    assert CONTEXT_REFERENCE == 145_168
    assert dense_block(3, 64) == 32_976 and dense_block(64, 32) == 95_744
    context = sum(n for name, n in dequantizer_layers().items() if name.startswith("embed_"))
    assert context == CONTEXT_REFERENCE
    assert sum(dequantizer_layers().values()) == DEQUANT
    assert REFERENCE + DEQUANT == FLOW_REFERENCE
    assert sum(flow_layers().values()) == FLOW_REFERENCE


@pytest.mark.parametrize("file", FILES)
def test_each_file_holds_exactly_the_listed_models(file: str) -> None:
    assert_file_holds_exactly_the_listed_models(EXPECTED, file)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_class_warnings_and_per_layer_parameter_count(name: str) -> None:
    assert_class_warnings_and_count(EXPECTED, name)


@pytest.mark.parametrize("name", FLOWS)
def test_the_downsampling_layers(name: str) -> None:
    ops = {attr for attr, _ in layer_counts(EXPECTED[name].file)[name]}
    if "MaxPool" in name:
        assert "max_pool_1" in ops and "slice_1" not in ops
    else:
        assert {"slice_1", "squeeze2d_2"} <= ops and "max_pool_1" not in ops


@pytest.mark.parametrize("file", FILES)
def test_the_public_check_agrees(file: str) -> None:
    assert_public_check_agrees(EXPECTED, file)


@pytest.mark.parametrize("file", FILES)
def test_formatted_and_rendered(file: str) -> None:
    assert_formatted_and_rendered(EXPECTED, file)


@pytest.mark.slow
@pytest.mark.parametrize("name", FLOWS)
def test_builds_and_scores(name: str) -> None:
    model = build(EXPECTED, name)
    import torch

    initialize_and_score(model, torch.randint(0, 256, (2, 3, 32, 32)), eval_mode=False)
