"""SortFlow (SpatialMNIST): ours (reference layout, sorted_to_real removed) vs
experiments/point_cloud/train_sort_flow.py at its defaults."""

from __future__ import annotations

import os
import sys

import torch
from torch import nn

import survae_dsl
from common import HERE, REFERENCE, ZOO, Pair, randomise, report, transfer

sys.path.insert(0, os.path.join(REFERENCE, "experiments", "point_cloud"))

from nets import DenseTransformer, PositionalDenseTransformer  # noqa: E402
from survae.distributions import StandardNormal  # noqa: E402
from survae.flows import Flow  # noqa: E402
from survae.nn.layers import ElementwiseParams1d, scale_fn  # noqa: E402
from survae.transforms import (  # noqa: E402
    ActNormBijection1d,
    AffineCouplingBijection,
    PermuteAxes,
    Reverse,
    ScalarAffineBijection,
    Shuffle,
    SimpleSortSurjection,
    StochasticPermutation,
)

VARIANT = os.path.join(HERE, "sort_flow_reference_layout.survae")  # the zoo file minus its sorted_to_real line


def ref_sort_flow(perm: bool = False) -> Flow:
    """train_sort_flow.py 'Specify model' with its defaults: dimwise and lenwise True, 16 flows,
    actnorm True, affine, scale softplus, d_model 64, 8 heads, 2 layers, gelu, dropout 0."""
    transforms: list[nn.Module] = [
        PermuteAxes((0, 2, 1)),
        ScalarAffineBijection(scale=1 / 28, shift=-0.5),
        StochasticPermutation(dim=2) if perm else SimpleSortSurjection(dim=2, lambd=lambda x: x[:, 0, :]),
    ]
    D, L, P = 2, 50, 2
    for _ in range(16):
        net = nn.Sequential(
            DenseTransformer(
                d_input=D // 2,
                d_output=P * D // 2,
                d_model=64,
                nhead=8,
                num_layers=2,
                dim_feedforward=256,
                dropout=0.0,
                activation="gelu",
                checkpoint_blocks=False,
            ),
            ElementwiseParams1d(P),
        )
        transforms.append(AffineCouplingBijection(net, split_dim=1, scale_fn=scale_fn("softplus")))
        transforms.append(Reverse(D, dim=1))
        if perm:  # train_perm_flow.py: DenseTransformer lenwise, --stochperm True (default)
            lennet: nn.Module = DenseTransformer(
                d_input=D,
                d_output=P * D,
                d_model=64,
                nhead=8,
                num_layers=2,
                dim_feedforward=256,
                dropout=0.0,
                activation="gelu",
                checkpoint_blocks=False,
            )
        else:
            lennet = PositionalDenseTransformer(
                l_input=L // 2,
                d_input=D,
                d_output=P * D,
                d_model=64,
                nhead=8,
                num_layers=2,
                dim_feedforward=256,
                dropout=0.0,
                activation="gelu",
                checkpoint_blocks=False,
            )
        net = nn.Sequential(lennet, ElementwiseParams1d(P))
        transforms.append(AffineCouplingBijection(net, split_dim=2, scale_fn=scale_fn("softplus")))
        transforms.append(StochasticPermutation(dim=2) if perm else Shuffle(L, dim=2))
        transforms.append(ActNormBijection1d(2))
    return Flow(base_dist=StandardNormal((D, L)), transforms=transforms)


def transformer_pairs(r: str, o: str, positional: bool) -> tuple[list[Pair], dict]:
    """Reference (Dense|PositionalDense)Transformer -> our Transformer. Attention: the
    reference's nn.MultiheadAttention in_proj (3·64, 64) stacks [q; k; v], each head a
    contiguous block of 8 rows; ours reshapes qkv's output to (3, heads, 8): the same rows."""
    pairs = [Pair(f"{r}.in_linear.{w}", f"{o}.embedding.{w}") for w in ("weight", "bias")]
    maps = {}
    if positional:  # (25, 1, 64) -> (25, 64)
        pairs.append(Pair(f"{r}.encode.encode_l", f"{o}.position", "reshape"))
        maps[f"{o}.position"] = lambda rp, n=f"{r}.encode.encode_l": rp[n]
    for i in range(2):
        rb, ob = f"{r}.layers.{i}", f"{o}.blocks.{i}"
        pairs += [
            Pair(f"{rb}.self_attn.in_proj_weight", f"{ob}.qkv.weight"),
            Pair(f"{rb}.self_attn.in_proj_bias", f"{ob}.qkv.bias"),
        ]
        for w in ("weight", "bias"):
            pairs += [
                Pair(f"{rb}.self_attn.out_proj.{w}", f"{ob}.projection.{w}"),
                Pair(f"{rb}.norm1.{w}", f"{ob}.attention_norm.{w}"),
                Pair(f"{rb}.norm2.{w}", f"{ob}.feedforward_norm.{w}"),
                Pair(f"{rb}.linear1.{w}", f"{ob}.feedforward.0.{w}"),
                Pair(f"{rb}.linear2.{w}", f"{ob}.feedforward.2.{w}"),
            ]
    for w in ("weight", "bias"):
        pairs += [Pair(f"{r}.out_norm.{w}", f"{o}.norm.{w}"), Pair(f"{r}.out_linear.{w}", f"{o}.output.{w}")]
    return pairs, maps


def build(seed: int, perm: bool = False) -> tuple[Flow, nn.Module]:
    torch.manual_seed(seed)  # the reference's Shuffle draws torch.randperm from the global generator
    ref = ref_sort_flow(perm).double().eval()
    if perm:
        ours = survae_dsl.load(f"{ZOO}/spatial_mnist_permute_flow.survae", model="PermuteFlow")().double().eval()
    else:
        ours = survae_dsl.load(VARIANT, model="SortFlow")().double().eval()
    randomise(ref, seed=15, gain=0.7, bias_std=0.1)
    with torch.no_grad():
        for name, p in ref.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.add_(1.0)  # LayerNorm gains around 1
            if "out_linear" in name:
                p.mul_(0.3)
    pairs: list[Pair] = []
    maps: dict = {}
    for k in range(16):
        base = 3 + 5 * k  # coupling(dim) 3+5k, reverse 4+5k, coupling(len) 5+5k, shuffle 6+5k, actnorm 7+5k
        for ri, oi, pos in ((base, 2 * k + 1, False), (base + 2, 2 * k + 2, not perm)):
            p, m = transformer_pairs(f"transforms.{ri}.coupling_net.0", f"affine_coupling_{oi}.net", pos)
            pairs += p
            maps.update(m)
        a = base + 4
        # ActNorm1d reparametrisation as in the toy flow: a = -l, b = -s·exp(-l)
        pairs.append(Pair(f"transforms.{a}.log_scale", f"actnorm_{k + 1}.log_scale", "a = -l"))
        pairs.append(Pair(f"transforms.{a}.shift", f"actnorm_{k + 1}.shift", "b = -s exp(-l)"))
        maps[f"actnorm_{k + 1}.log_scale"] = lambda rp, a=a: -rp[f"transforms.{a}.log_scale"]
        maps[f"actnorm_{k + 1}.shift"] = lambda rp, a=a: (
            -rp[f"transforms.{a}.shift"] * torch.exp(-rp[f"transforms.{a}.log_scale"])
        )
    transfer(ref, ours, pairs, maps)
    with torch.no_grad():  # the fixed shuffles are buffers on both sides: take the reference's
        for k in range(0 if perm else 16):
            perm = ref.transforms[6 + 5 * k].permutation
            layer = getattr(ours, f"shuffle_{k + 1}")
            layer.perm.copy_(perm)
            layer.inverse_perm.copy_(torch.argsort(perm))
    return ref, ours


def check_perm_flow() -> None:
    """PermuteFlow vs train_perm_flow.py defaults (stochperm True): one-sample bound with the same
    permutations (both draw torch.rand((B, 50)) float64 from the global generator, then argsort)."""
    ref, ours = build(seed=7, perm=True)
    gen = torch.Generator().manual_seed(8)
    x = torch.rand(4, 50, 2, generator=gen, dtype=torch.float64) * 28
    with torch.no_grad():
        torch.manual_seed(77)
        lp_r = ref.log_prob(x.clone())
        torch.manual_seed(77)
        lp_o = ours.log_prob(x.clone())
    report("PermuteFlow vs train_perm_flow.py (same permutation noise), ours as compiled", ours, ref, x, lp_o, lp_r)


def check_sort_flow() -> None:
    ref, ours = build(seed=5)
    gen = torch.Generator().manual_seed(6)
    x = torch.rand(4, 50, 2, generator=gen, dtype=torch.float64) * 28
    with torch.no_grad():
        lp_r = ref.log_prob(x.clone())
        lp_o = ours.log_prob(x.clone())
    report(
        "SortFlow (zoo file minus sorted_to_real = reference layout) vs train_sort_flow.py, ours as compiled",
        ours,
        ref,
        x,
        lp_o,
        lp_r,
    )
    shipped = survae_dsl.load(f"{ZOO}/spatial_mnist_sort_flow.survae", model="SortFlow")()
    print(
        f"   shipped zoo SortFlow (with sorted_to_real): {sum(p.numel() for p in shipped.parameters()):,} parameters,"
        f" likelihood {type(shipped).likelihood}; variant: {type(ours).likelihood}"
    )


if __name__ == "__main__":
    torch.set_default_dtype(torch.float64)
    check_sort_flow()
    check_perm_flow()
