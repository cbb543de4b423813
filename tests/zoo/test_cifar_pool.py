"""Model zoo, CIFAR-10 pooling group: SurVAE Flows' MaxPoolFlow and its slicing baseline.

From didriknielsen/survae_flows, experiments/image (PoolFlow, CIFAR-10: 2 scales of 12 steps,
DenseNets of 1 block, 64 channels, 10 dense layers, growth 64, gated), with uniform
dequantization (equal to the reference's count) and with its flow dequantization (whose context
net's two DenseBlocks our `densenet` cannot express: 98,192 more parameters). Each file's
`--check` class and parameter count are read without torch and compared with a per-layer count
written here from the reference's modules (not from our formulas); the files must format
canonically and render; the compiled classes (90M and 105M parameters) build and score a batch
of 2 images in `slow` tests.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

import survae_dsl
from survae_dsl.compiler.backends.param_count import file_parameter_counts
from survae_dsl.compiler.drivers.driver import check_source
from survae_dsl.compiler.frontend.format import format_source

ROOT = Path(__file__).resolve().parent.parent.parent
ZOO = ROOT / "examples" / "zoo"

STEPS = 24  # 2 scales x 12 (Conv1x1, Coupling) steps, all on 12 channels
REFERENCE = 89_888_952  # PoolFlow(--num_steps 12 --num_scales 2 --dequant uniform), either pooling


def conv(c_in: int, c_out: int, k: int) -> int:
    """A k×k convolution with a bias."""
    return k * k * c_in * c_out + c_out


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
    out = {}
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
DEQUANT_REFERENCE = 15_135_016  # the reference's DequantizationFlow alone
FLOW_REFERENCE = 105_023_968  # PoolFlow(... --dequant flow), either pooling


def ours_densenet(c_in: int, c_out: int) -> int:
    """Our closest context net: densenet(hidden=64, blocks=1, layers=4, growth=16, gated), which
    adds a 1x1 input convolution to 64 channels and a 1x1 output one, its transition to 3 x 64."""
    n = conv(c_in, 64, 1)
    for i in range(4):
        width = 64 + 16 * i
        n += conv(width, width, 1) + conv(width, 16, 3)
    return n + conv(64 + 4 * 16, 3 * 64, 1) + conv(64, c_out, 1)


def dequantizer_layers() -> dict[str, int]:
    out = {
        "embed_1": ours_densenet(3, 64),  # the reference's DenseBlock(3 -> 64): 32,976
        "embed_2": conv(64 * 4, 64, 1),  # squeeze + 1x1 = the reference's 2x2 stride-2 Conv2d
        "embed_3": ours_densenet(64, 32),  # the reference's DenseBlock(64 -> 32): 95,744
    }
    for k in range(1, 6):
        out[f"conv1x1_{k}"] = 12 * 12
    for k in range(1, 5):
        out[f"affine_coupling_{k}"] = densenet(12) + 32 * 64  # the 32 context channels read too
    out["normal_1"] = 2 * 12
    return out


DEQUANT_OURS = 15_233_208
FLOW_OURS = 105_122_160


def flow_layers() -> dict[str, int]:
    return {"dequantize_1": DEQUANT_OURS, **layers()}


# model -> (file, likelihood class, ops named by the reasons, warning codes, count, layers)
EXPECTED = {
    "Cifar10MaxPoolFlow": (
        "cifar10_maxpool_flow.survae",
        "lower_bound",
        {"dequantize"},
        ["W401"],  # a flow on (-1/2, 1/2), as the reference
        REFERENCE,  # equal to the reference, to the unit
        layers(),
    ),
    "Cifar10SliceFlow": ("cifar10_slice_flow.survae", "lower_bound", {"dequantize"}, ["W401"], REFERENCE, layers()),
    "MaxPoolDequantizer": ("cifar10_maxpool_flowdeq.survae", "exact", set(), [], DEQUANT_OURS, dequantizer_layers()),
    "Cifar10MaxPoolFlowDeq": (
        "cifar10_maxpool_flowdeq.survae",
        "lower_bound",
        {"dequantize"},
        ["W401"],
        FLOW_OURS,
        flow_layers(),
    ),
    "SliceDequantizer": ("cifar10_slice_flowdeq.survae", "exact", set(), [], DEQUANT_OURS, dequantizer_layers()),
    "Cifar10SliceFlowDeq": (
        "cifar10_slice_flowdeq.survae",
        "lower_bound",
        {"dequantize"},
        ["W401"],
        FLOW_OURS,
        flow_layers(),
    ),
}
FILES = sorted({entry[0] for entry in EXPECTED.values()})


def _models(file: str):  # noqa: ANN202  # the checked models of the compiler
    path = ZOO / file
    return check_source(path.read_text(encoding="utf-8"), str(path)).models


def test_the_formulas_give_the_references() -> None:
    assert sum(layers().values()) == REFERENCE
    assert CONTEXT_REFERENCE == 145_168
    reference_dequantizer = dict(dequantizer_layers())
    for name in ("embed_1", "embed_2", "embed_3"):
        del reference_dequantizer[name]
    assert sum(reference_dequantizer.values()) + CONTEXT_REFERENCE == DEQUANT_REFERENCE
    assert REFERENCE + DEQUANT_REFERENCE == FLOW_REFERENCE
    assert sum(dequantizer_layers().values()) == DEQUANT_OURS
    assert DEQUANT_OURS - DEQUANT_REFERENCE == FLOW_OURS - FLOW_REFERENCE == 98_192
    assert sum(flow_layers().values()) == FLOW_OURS


@pytest.mark.parametrize("file", FILES)
def test_each_file_holds_exactly_the_listed_models(file: str) -> None:
    names = {m.name for m in _models(file)}
    assert names == {name for name, entry in EXPECTED.items() if entry[0] == file}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_class_and_per_layer_parameter_count(name: str) -> None:
    file, likelihood, culprits, codes, count, expected_layers = EXPECTED[name]
    models = _models(file)
    model = next(m for m in models if m.name == name)
    assert model.likelihood == likelihood
    assert {r.op for r in model.reasons} == culprits
    assert [w.code for w in model.warnings] == codes
    assert model.parameter_total == count == sum(expected_layers.values())
    table = file_parameter_counts(models)[name]
    assert {attr: n for attr, n in table if n} == expected_layers


@pytest.mark.parametrize(
    "name", ["Cifar10MaxPoolFlow", "Cifar10MaxPoolFlowDeq", "Cifar10SliceFlow", "Cifar10SliceFlowDeq"]
)
def test_the_downsampling_layers(name: str) -> None:
    models = _models(EXPECTED[name][0])
    ops = {attr for attr, _ in file_parameter_counts(models)[name]}
    if "MaxPool" in name:
        assert "max_pool_1" in ops and "slice_1" not in ops
    else:
        assert {"slice_1", "squeeze2d_2"} <= ops and "max_pool_1" not in ops


def test_the_public_check_agrees() -> None:
    for name, (file, likelihood, _, _, count, _) in EXPECTED.items():
        model = next(m for m in survae_dsl.check(ZOO / file).models if m.name == name)
        assert (model.likelihood, model.parameter_total) == (likelihood, count)


@pytest.mark.parametrize("file", FILES)
def test_formatted_and_rendered(file: str) -> None:
    path = ZOO / file
    text = path.read_text(encoding="utf-8")
    assert format_source(text, str(path)) == text
    for name, entry in EXPECTED.items():
        if entry[0] == file:
            assert name in survae_dsl.render(path, model=name).source


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", ["Cifar10MaxPoolFlow", "Cifar10MaxPoolFlowDeq", "Cifar10SliceFlow", "Cifar10SliceFlowDeq"]
)
def test_builds_and_scores(name: str) -> None:
    warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
    import torch

    cls = survae_dsl.load(ZOO / EXPECTED[name][0], model=name)
    torch.manual_seed(0)
    model = cls()
    assert sum(p.numel() for p in model.parameters()) == EXPECTED[name][4]
    x = torch.randint(0, 256, (2, 3, 32, 32))
    with torch.no_grad():
        model.initialize(x)
        lp = model.log_prob(x)
    assert lp.shape == (2,) and lp.dtype == torch.float32
    assert torch.isfinite(lp).all()
