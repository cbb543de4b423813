"""Model zoo, "state them" group: NSF on POWER, an IAF-posterior VAE, class-conditional Glow,
a VAE with a flow prior and Flow++-style variational dequantization, at their published sizes.

These papers publish no parameter count (issue 19's "state them" rows): each file's header
states ours, and it is tested here against a per-layer count written from the architecture
(`conv` and `dense` of `common.py` and the formulas below, not our compiler's formulas). Each
file must format canonically and render, and each model must build, score a batch of 2 and
sample 2 examples (finite, of the right shape and dtype).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from .common import (
    Expected,
    assert_class_warnings_and_count,
    assert_file_holds_exactly_the_listed_models,
    assert_formatted_and_rendered,
    assert_public_check_agrees,
    build,
    conv,
    dense,
    files,
    initialize_and_score,
    sample,
)

if TYPE_CHECKING:
    from torch import Tensor

    from survae_dsl.nn.model import Model


def mlp(n_in: int, hidden: list[int], n_out: int) -> int:
    widths = [n_in, *hidden, n_out]
    return sum(dense(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True))


def dense_resnet(n_in: int, hidden: int, blocks: int, n_out: int) -> int:
    """Input layer, `blocks` pre-activation blocks of two hidden × hidden layers, output layer."""
    return dense(n_in, hidden) + 2 * blocks * dense(hidden, hidden) + dense(hidden, n_out)


def conv_resnet(c_in: int, hidden: int, blocks: int, c_out: int) -> int:
    """The same with 3×3 convolutions (a stride or an upsampling adds nothing)."""
    return conv(c_in, hidden, 3) + 2 * blocks * conv(hidden, hidden, 3) + conv(hidden, c_out, 3)


def made(d: int, hidden: list[int], per_entry: int, context: int = 0) -> int:
    """Masked layers hold full weight matrices; a context enters the first layer, no bias."""
    return mlp(d, hidden, d * per_entry) + context * hidden[0]


# --- Durkan et al. 2019, RQ-NSF on POWER: 10 steps, K = 8 bins (3K - 1 numbers an entry) --------
NSF_LU = 11 * 6 * 6  # 11 LU linear maps of 6 x 6, no bias
NSF_C = 10 * dense_resnet(3, 256, 2, 3 * 23) + NSF_LU
NSF_AR = 10 * made(6, [256] * 5, 23) + NSF_LU

# --- Kingma et al. 2016, IAF posterior (depth 2, width 320) on binary MNIST -----------------------
IAF_POSTERIOR = (
    conv_resnet(1, 64, 2, 32)  # 28 -> 14
    + conv_resnet(32, 64, 2, 32)  # 14 -> 7
    + mlp(32 * 7 * 7, [450], 100)  # the context h
    + 2 * made(32, [320, 320], 2, context=100)
    + mlp(100, [100], 2 * 32)  # mu, log sigma of z0
)
IAF_DECODER = mlp(32, [450], 32 * 7 * 7) + conv_resnet(32, 64, 2, 32) + conv_resnet(32, 64, 2, 1)

# --- Kingma & Dhariwal 2018, Glow on MNIST conditioned on the class: 2 levels x 32 steps --------


def glow_step(c: int, context: int) -> int:
    """actnorm, 1×1 convolution, coupling net 3×3 -> 1×1 -> 3×3 of width 512 reading its half
    and the label's `context` channels."""
    return 2 * c + c * c + conv(c // 2 + context, 512, 3) + conv(512, 512, 1) + conv(512, c, 3)


COND_GLOW = (
    mlp(1, [64], 4 * 14 * 14)  # the label's features at 14 x 14
    + mlp(1, [64], 8 * 7 * 7)  # ... at 7 x 7
    + 32 * glow_step(4, 4)
    + conv(2, 4, 3)  # the split prior
    + 32 * glow_step(8, 8)
    + mlp(1, [64], 2 * 8 * 7 * 7)  # the top prior's mean and log-scale from the label
)

# --- a VAE with a flow prior: SurVAE's MNIST VAE with a MAF(5) prior (VLAE's AF prior) --------
MNIST_VAE = mlp(784, [512, 256], 2 * 20) + mlp(20, [512, 256], 784)  # 887,096
MAF_PRIOR = 5 * made(20, [256, 256], 2)

# --- Ho et al. 2019, Flow++ on CIFAR-10 (run_cifar.py: 32 components, 96 filters, 10 blocks) ----


def gated(c_in: int, hidden: int, blocks: int, c_out: int) -> int:
    """3×3 convolution in; blocks of a 3×3 (2h -> h) and a 1×1 (2h -> 2h) convolution; concat_elu
    and a 3×3 convolution out."""
    block = conv(2 * hidden, hidden, 3) + conv(2 * hidden, 2 * hidden, 1)
    return conv(c_in, hidden, 3) + blocks * block + conv(2 * hidden, c_out, 3)


MIX = 3 * 32 + 2  # numbers per transformed entry: 32 logits, means, log-scales; scale, shift


def flowpp_step(c: int, net: int) -> int:
    return net + c * c + 2 * c  # the coupling, its 1x1 convolution and actnorm


FLOWPP_NOISE = gated(3, 32, 3, 32) + 4 * flowpp_step(3, gated(3 + 32, 96, 2, 3 * MIX))
FLOWPP = (
    FLOWPP_NOISE
    + 4 * flowpp_step(3, gated(3, 96, 10, 3 * MIX))  # checkerboard at [3, 32, 32]
    + 2 * flowpp_step(12, gated(6, 96, 10, 6 * MIX))  # channel halves at [12, 16, 16]
    + 3 * flowpp_step(12, gated(12, 96, 10, 12 * MIX))  # checkerboard at [12, 16, 16]
)
FLOWPP_REFERENCE = 31_443_440  # run_cifar.py's docstring, with attention (which we lack)

EXACT: frozenset[str] = frozenset()
VAE = frozenset({"vae"})
DEQUANTIZED = frozenset({"dequantize"})
# Parameters by hand. The one warning is on purpose: a flow on (-1/2, 1/2) without a logit, as Glow.
EXPECTED: dict[str, Expected] = {
    "NsfCouplingPower": Expected("nsf_power.survae", "exact", EXACT, (), NSF_C),
    "NsfAutoregressivePower": Expected("nsf_power.survae", "exact", EXACT, (), NSF_AR),
    "IafPosterior": Expected("iaf_vae_mnist.survae", "exact", EXACT, (), IAF_POSTERIOR),
    "IafDecoder": Expected("iaf_vae_mnist.survae", "exact", EXACT, (), IAF_DECODER),
    "IafVae": Expected("iaf_vae_mnist.survae", "lower_bound", VAE, (), IAF_POSTERIOR + IAF_DECODER),
    "MafPrior": Expected("flow_prior_vae_mnist.survae", "exact", EXACT, (), MAF_PRIOR),
    "FlowPriorVae": Expected("flow_prior_vae_mnist.survae", "lower_bound", VAE, (), MNIST_VAE + MAF_PRIOR),
    "CondGlowMnist": Expected("cond_glow_mnist.survae", "lower_bound", DEQUANTIZED, ("W401",), COND_GLOW),
    "FlowppNoise": Expected("flowpp_cifar10.survae", "exact", EXACT, (), FLOWPP_NOISE),
    "FlowppCifar10": Expected("flowpp_cifar10.survae", "lower_bound", DEQUANTIZED, (), FLOWPP),
}
# Over ten million parameters: scored in a `slow` test, not sampled.
SLOW = {"CondGlowMnist", "FlowppCifar10"}
# The totals the headers state, to the unit.
STATED = {
    "NsfCouplingPower": 2_819_646,
    "NsfAutoregressivePower": 3_004_656,
    "IafPosterior": 1_450_850,
    "IafDecoder": 1_073_475,
    "IafVae": 2_524_325,
    "MafPrior": 407_240,
    "FlowPriorVae": 1_294_336,
    "CondGlowMnist": 21_398_004,
    "FlowppNoise": 3_866_260,
    "FlowppCifar10": 32_359_984,
}
FILES = files(EXPECTED)


def _inputs(name: str) -> tuple[Tensor, dict[str, Tensor], tuple[int, ...]]:
    """A batch of 2 in the model's domain, the contexts it is conditioned on, the samples' shape."""
    import torch

    binary = torch.randint(0, 2, (2, 1, 28, 28))
    if name.startswith("Nsf"):
        return torch.randn(2, 6), {}, (2, 6)
    if name == "IafPosterior":
        return torch.randn(2, 32), {"x": binary}, (2, 32)
    if name == "IafDecoder":
        return binary, {"z": torch.randn(2, 32)}, (2, 1, 28, 28)
    if name == "MafPrior":
        return torch.randn(2, 20), {}, (2, 20)
    if name in ("IafVae", "FlowPriorVae"):
        return binary, {}, (2, 1, 28, 28)
    if name == "CondGlowMnist":
        pixels = torch.randint(0, 256, (2, 1, 28, 28))
        return pixels, {"label": torch.tensor([[3], [7]])}, (2, 1, 28, 28)
    if name == "FlowppNoise":
        pixels = torch.randint(0, 256, (2, 3, 32, 32))
        return torch.rand(2, 3, 32, 32) * 0.98 + 0.01, {"x": pixels}, (2, 3, 32, 32)
    if name == "FlowppCifar10":
        return torch.randint(0, 256, (2, 3, 32, 32)), {}, (2, 3, 32, 32)
    raise KeyError(name)


def test_the_stated_counts_are_the_per_layer_counts() -> None:
    assert {name: entry.count for name, entry in EXPECTED.items()} == STATED


def test_flowpp_gap_to_the_reference_is_the_stated_one() -> None:
    # Without attention and layer norms, but with a twice-wider output convolution (header).
    assert FLOWPP - FLOWPP_REFERENCE == 916_544


@pytest.mark.parametrize("file", FILES)
def test_each_file_holds_exactly_the_listed_models(file: str) -> None:
    assert_file_holds_exactly_the_listed_models(EXPECTED, file)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_class_warnings_and_parameter_count(name: str) -> None:
    assert_class_warnings_and_count(EXPECTED, name)


@pytest.mark.parametrize("file", FILES)
def test_the_public_check_agrees(file: str) -> None:
    assert_public_check_agrees(EXPECTED, file)


@pytest.mark.parametrize("file", FILES)
def test_formatted_and_rendered(file: str) -> None:
    assert_formatted_and_rendered(EXPECTED, file)


def _build_and_score(name: str) -> tuple[Model, Tensor, dict[str, Tensor], tuple[int, ...]]:
    """The model built and scored on its batch; the batch, its contexts and the samples' shape."""
    model = build(EXPECTED, name)
    x, contexts, shape = _inputs(name)
    initialize_and_score(model, x, contexts)
    return model, x, contexts, shape


@pytest.mark.parametrize("name", sorted(set(EXPECTED) - SLOW))
def test_builds_scores_and_samples(name: str) -> None:
    import torch

    model, x, contexts, shape = _build_and_score(name)
    s = sample(model, 2, contexts)
    assert s.shape == shape and s.dtype == x.dtype
    if s.dtype.is_floating_point:
        assert torch.isfinite(s).all()
        if name == "FlowppNoise":
            assert ((s >= 0) & (s <= 1)).all()
    else:
        assert ((s >= 0) & (s < 256)).all()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SLOW))
def test_big_models_build_and_score(name: str) -> None:
    _build_and_score(name)
