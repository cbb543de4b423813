"""CIFAR-10 MaxPoolFlow, uniform dequantization: ours vs experiments/image/model/pool_flow.py."""

from __future__ import annotations

import math
import os
import sys
import time

import torch

import survae_dsl
from common import REFERENCE, ZOO, Pair, count, randomise, report, transfer

sys.path.insert(0, os.path.join(REFERENCE, "experiments", "image"))

from model.pool_flow import PoolFlow  # noqa: E402

C_HALF = 6  # the coupling transforms 6 of the 12 channels after the squeeze
# Reference Coupling: ElementwiseParams2d(2, mode='sequential') reads output channel 2c + p as
# parameter p (0 unconstrained scale, 1 shift) of channel c; ours reshapes to (B, 2, 6, H, W):
# channel p*6 + c. So our output row o takes the reference's row OUT_PERM[o].
OUT_PERM = [2 * c + p for p in range(2) for c in range(C_HALF)]


def ref_model() -> PoolFlow:
    """PoolFlow as experiments/image/model/model.py builds it with --num_steps 12 --num_scales 2
    --pooling max --dequant uniform, other options at their defaults (actnorm False, densenet
    1 block x 64 channels, depth 10, growth 64, dropout 0, gated_conv True), CIFAR-10 8 bit."""
    return PoolFlow(
        data_shape=(3, 32, 32),
        num_bits=8,
        num_scales=2,
        num_steps=12,
        actnorm=False,
        pooling="max",
        dequant="uniform",
        dequant_steps=4,
        dequant_context=32,
        densenet_blocks=1,
        densenet_channels=64,
        densenet_depth=10,
        densenet_growth=64,
        dropout=0.0,
        gated_conv=True,
    )


def ref_index(step: int) -> tuple[int, int]:
    """Reference transform indices (conv1x1, coupling) of step 0..23: 0 dequant, 1 shift,
    2 squeeze, 3..26 the first 12 steps, 27 max pool, 28..51 the last 12."""
    base = 3 + 2 * step if step < 12 else 28 + 2 * (step - 12)
    return base, base + 1


def pairs_and_maps(ours: torch.nn.Module) -> tuple[list[Pair], dict]:
    pairs: list[Pair] = []
    maps: dict = {}
    for s in range(24):
        ci, ki = ref_index(s)
        k = s + 1
        pairs.append(Pair(f"transforms.{ci}.weight", f"conv1x1_{k}.lu", "LU of W (buffers perm/sign set too)"))
        maps[f"conv1x1_{k}.lu"] = None  # filled by set_conv1x1 (needs the buffers too)
        r = f"transforms.{ki}.coupling_net.0"
        o = f"affine_coupling_{k}.net"
        for w in ("weight", "bias"):
            pairs.append(Pair(f"{r}.0.{w}", f"{o}.blocks.0.{w}"))
            for layer in range(10):
                for j in (0, 2):
                    pairs.append(Pair(f"{r}.1.dense.{layer}.nn.{j}.{w}", f"{o}.blocks.1.inner.{layer}.layers.{j}.{w}"))
            # gated transition: both split the 3*64 outputs as chunk(3) = (a, b, c), a + b*sigmoid(c)
            pairs.append(Pair(f"{r}.1.dense.10.conv.{w}", f"{o}.blocks.1.inner.10.conv.{w}"))
            pairs.append(Pair(f"{r}.2.{w}", f"{o}.output.{w}", "rows permuted: ours[o] = ref[OUT_PERM[o]]"))
            maps[f"{o}.output.{w}"] = lambda rp, n=f"{r}.2.{w}": rp[n][OUT_PERM]
    # ConvNormal2d (1, 12, 1, 1) -> ours (12,); both: N(loc, exp(log_scale)^2) per channel
    pairs.append(Pair("base_dist.loc", "normal_1.loc", "reshape"))
    pairs.append(Pair("base_dist.log_scale", "normal_1.log_scale", "reshape"))
    maps["normal_1.loc"] = lambda rp: rp["base_dist.loc"]
    maps["normal_1.log_scale"] = lambda rp: rp["base_dist.log_scale"]
    return pairs, maps


@torch.no_grad()
def set_conv1x1(ref: PoolFlow, ours: torch.nn.Module) -> None:
    """Reference Conv1x1 holds W (C, C) and uses slogdet; ours holds W = P·L·(U + diag(sign·exp(log_s)))
    with P and sign fixed buffers. Factor W = P L U (torch.linalg.lu) and write P, sign and lu."""
    for s in range(24):
        ci, _ = ref_index(s)
        w = ref.transforms[ci].weight.detach()
        p, lower, upper = torch.linalg.lu(w)
        layer = getattr(ours, f"conv1x1_{s + 1}")
        perm = p.argmax(dim=1)  # (P M)[i] = M[perm[i]]
        diag = torch.diagonal(upper)
        layer.perm.copy_(perm)
        layer.inverse_perm.copy_(torch.argsort(perm))
        layer.sign.copy_(torch.sign(diag))
        layer.lu.copy_(torch.tril(lower, -1) + torch.triu(upper, 1) + torch.diag(torch.log(diag.abs())))
        err = (layer.weight() - w).abs().max().item()
        assert err < 1e-12, err


def check_cifar(dtype: torch.dtype = torch.float64) -> None:
    torch.set_default_dtype(dtype)
    t0 = time.time()
    ref = ref_model().to(dtype).eval()
    ours = survae_dsl.load(f"{ZOO}/cifar10_maxpool_flow.survae", model="Cifar10MaxPoolFlow")().to(dtype).eval()
    randomise(ref, seed=12, gain=0.5, bias_std=0.05)
    with torch.no_grad():  # a well-conditioned but not orthogonal 1x1 weight
        gen = torch.Generator().manual_seed(13)
        for s in range(24):
            ci, _ = ref_index(s)
            q, _ = torch.linalg.qr(torch.randn(12, 12, generator=gen, dtype=torch.float64))
            ref.transforms[ci].weight.copy_(q + 0.05 * torch.randn(12, 12, generator=gen, dtype=torch.float64))
            # the nets' last layer (zero-initialised in the reference): small, so the 24 steps'
            # shifts keep the activations O(1) and the log-probs moderate
            last = ref.transforms[ci + 1].coupling_net[0][2]
            last.weight.copy_(0.02 * torch.randn(last.weight.shape, generator=gen, dtype=torch.float64))
            last.bias.copy_(0.02 * torch.randn(last.bias.shape, generator=gen, dtype=torch.float64))
    pairs, maps = pairs_and_maps(ours)
    conv_pairs = [p for p in pairs if ".lu" in p.ours]
    other = [p for p in pairs if ".lu" not in p.ours]
    # transfer() checks every parameter is written once: conv1x1 ones are written by set_conv1x1
    maps_conv = {p.ours: (lambda rp: torch.zeros(12, 12)) for p in conv_pairs}
    transfer(ref, ours, other + conv_pairs, {**{k: v for k, v in maps.items() if v is not None}, **maps_conv})
    set_conv1x1(ref, ours)
    print(f"   (built and transferred in {time.time() - t0:.1f} s)")

    gen = torch.Generator().manual_seed(3)
    x = torch.randint(0, 256, (2, 3, 32, 32), generator=gen)
    with torch.no_grad():
        torch.manual_seed(1234)
        lp_r = ref.log_prob(x.clone())
        torch.manual_seed(1234)
        lp_o = ours.log_prob(x.clone())
        # the noise: both draw torch.rand(x.shape, dtype) from the global generator
        torch.manual_seed(1234)
        z_r, ldj_r = ref.transforms[0](x.clone())
        torch.manual_seed(1234)
        z_o, ldj_o = ours.dequantize_1(x.clone())
    d = x[0].numel()
    ref_ldj_exact = -d * math.log(256)
    note = (
        f"\n   dequantized z: max |Δ| {(z_r - z_o).abs().max().item():.3e};"
        f" dequant ldj ref {ldj_r[0].item():.12f} ours {ldj_o[0].item():.12f} exact {ref_ldj_exact:.12f}"
        f"\n   after removing the reference's float32 -log(256) rounding: max |Δ| "
        f"{((lp_o - lp_r) - (ldj_o - ldj_r)).abs().max().item():.3e}"
    )
    print(f"   (log_prob of 2 images: {time.time() - t0:.1f} s)")
    report(
        f"cifar10_maxpool_flow.survae Cifar10MaxPoolFlow vs PoolFlow --dequant uniform ({dtype})",
        ours,
        ref,
        x,
        lp_o,
        lp_r,
        note,
    )
    print(f"   parameter check: {count(ours) == count(ref)}")


if __name__ == "__main__":
    check_cifar()
