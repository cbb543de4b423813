"""Toy models: AbsFlow (both range flows), ToyFlow, AugFlow vs experiments/toy of the reference."""

from __future__ import annotations

import os
import sys

import torch
from torch import Tensor, nn

import survae_dsl
from common import REFERENCE, ZOO, Pair, randomise, report, transfer

sys.path.insert(0, os.path.join(REFERENCE, "experiments", "toy"))  # its layers.py (ScaleBijection)

from survae.distributions import StandardNormal  # noqa: E402
from survae.flows import Flow  # noqa: E402
from survae.nn.layers import ElementwiseParams, scale_fn  # noqa: E402
from survae.nn.nets import MLP  # noqa: E402
from survae.transforms import (  # noqa: E402
    ActNormBijection,
    Augment,
    AffineCouplingBijection,
    Logit,
    Reverse,
    SimpleAbsSurjection,
    SoftplusInverse,
)


def ref_abs_flow(range_flow: str) -> Flow:
    """experiments/toy/train_abs_flow.py, lines 'Specify model', default args
    (num_flows 4, affine True, scale_fn exp, hidden [50], relu, actnorm False)."""
    from layers import ScaleBijection

    transforms: list[nn.Module] = [SimpleAbsSurjection()]
    if range_flow == "logit":
        transforms += [ScaleBijection(scale=torch.tensor([[1 / 4, 1 / 4]])), Logit()]
    else:
        transforms += [SoftplusInverse()]
    for _ in range(4):
        net = nn.Sequential(MLP(1, 2, hidden_units=[50], activation="relu"), ElementwiseParams(2))
        transforms.append(AffineCouplingBijection(net, scale_fn=scale_fn("exp")))
        transforms.append(Reverse(2))
    transforms.pop()
    return Flow(base_dist=StandardNormal((2,)), transforms=transforms)


def ref_toy_flow() -> Flow:
    """examples/toy_flow.py (the zoo file's stated source); identical to
    experiments/toy/train_flow.py --hidden_units "[200,100]" --actnorm True."""

    def net() -> nn.Module:
        return nn.Sequential(
            nn.Linear(1, 200), nn.ReLU(), nn.Linear(200, 100), nn.ReLU(), nn.Linear(100, 2), ElementwiseParams(2)
        )

    t: list[nn.Module] = []
    for i in range(4):
        t += [AffineCouplingBijection(net()), ActNormBijection(2)]
        if i < 3:
            t.append(Reverse(2))
    return Flow(base_dist=StandardNormal((2,)), transforms=t)


def mlp_pairs(ref_idx: list[int], ours_idx: list[int], ref_prefix: str, ours_prefix: str) -> list[Pair]:
    """Linear layers k of the reference's nn.Sequential -> layers k of ours, weight and bias.

    Output layout: reference ElementwiseParams(2) 'interleaved' reads the last Linear's 2·D
    outputs as (P=2, D) -> [..., 0] unconstrained scale, [..., 1] shift; ours reshapes to
    (B, 2, D) -> [:, 0] raw scale, [:, 1] shift. Same order: plain copy, no permutation."""
    out = []
    for r, o in zip(ref_idx, ours_idx, strict=True):
        for w in ("weight", "bias"):
            out.append(Pair(f"{ref_prefix}.{r}.{w}", f"{ours_prefix}.{o}.{w}"))
    return out


def abs_flow_batch() -> Tensor:
    """Points in (-4, 4)^2 away from the Logit/SoftplusInverse clamps (|x| > 0.01, |x|<3.99)."""
    gen = torch.Generator().manual_seed(1)
    x = (torch.rand(16, 2, generator=gen, dtype=torch.float64) * 2 - 1) * 3.9
    x = torch.where(x.abs() < 0.05, torch.full_like(x, 0.5), x)
    return torch.cat([x, torch.tensor([[3.9, -0.01], [-2.0, 3.99]], dtype=torch.float64)])


def check_abs(model: str, range_flow: str) -> float:
    ref = ref_abs_flow(range_flow).double().eval()
    ours = survae_dsl.load(f"{ZOO}/toy_abs_flow.survae", model=model)().double().eval()
    randomise(ref, seed=10, gain=0.5, bias_std=0.1)
    # Reference transforms: 0 abs, (1 scale, 2 logit | 1 softplus_inv), then coupling,
    # reverse, coupling, ... ; coupling_net = Sequential(MLP(Linear0, ReLU1, Linear2), EP).
    first = 3 if range_flow == "logit" else 2
    pairs: list[Pair] = []
    for k in range(4):
        pairs += mlp_pairs(
            [0, 2], [0, 2], f"transforms.{first + 2 * k}.coupling_net.0", f"affine_coupling_{k + 1}.net.layers"
        )
    transfer(ref, ours, pairs)
    x = abs_flow_batch()
    with torch.no_grad():
        lp_r = ref.log_prob(x.clone())
        lp_o = ours.log_prob(x.clone())
    return report(
        f"toy_abs_flow.survae {model}  vs train_abs_flow.py --range_flow {range_flow}", ours, ref, x, lp_o, lp_r
    )


def check_toy_flow() -> float:
    ref = ref_toy_flow().double().eval()  # eval: no data-dependent actnorm init on forward
    ours = survae_dsl.load(f"{ZOO}/toy_flow.survae", model="ToyFlow")().double().eval()
    randomise(ref, seed=11, gain=0.5, bias_std=0.1)
    # Reference transforms: coupling 0, actnorm 1, reverse 2, coupling 3, actnorm 4, ...
    pairs: list[Pair] = []
    maps = {}
    for k in range(4):
        c, a = 3 * k, 3 * k + 1
        pairs += mlp_pairs([0, 2, 4], [0, 2, 4], f"transforms.{c}.coupling_net", f"affine_coupling_{k + 1}.net.layers")
        # ActNorm reparametrisation: reference z = (x - s)·exp(-l) (actnorm.py), ours
        # z = x·exp(a) + b (survae_dsl/nn/actnorm.py): a = -l, b = -s·exp(-l).
        pairs.append(Pair(f"transforms.{a}.log_scale", f"actnorm_{k + 1}.log_scale", "a = -l"))
        pairs.append(Pair(f"transforms.{a}.shift", f"actnorm_{k + 1}.shift", "b = -s exp(-l)"))
        maps[f"actnorm_{k + 1}.log_scale"] = lambda rp, a=a: -rp[f"transforms.{a}.log_scale"]
        maps[f"actnorm_{k + 1}.shift"] = lambda rp, a=a: (
            -rp[f"transforms.{a}.shift"] * torch.exp(-rp[f"transforms.{a}.log_scale"])
        )
    transfer(ref, ours, pairs, maps)
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(16, 2, generator=gen, dtype=torch.float64) * 2
    with torch.no_grad():
        lp_r = ref.log_prob(x.clone())
        lp_o = ours.log_prob(x.clone())
    return report("toy_flow.survae ToyFlow  vs examples/toy_flow.py", ours, ref, x, lp_o, lp_r)


def ref_aug_flow() -> Flow:
    """experiments/toy/train_aug_flow.py 'Specify model', defaults (augdim 2, num_flows 4,
    affine, scale_fn softplus, hidden [50], relu, actnorm False)."""
    transforms: list[nn.Module] = [Augment(StandardNormal((2,)), x_size=2)]
    for _ in range(4):
        net = nn.Sequential(MLP(2, 4, hidden_units=[50], activation="relu"), ElementwiseParams(2))
        transforms.append(AffineCouplingBijection(net, scale_fn=scale_fn("softplus")))
        transforms.append(Reverse(4))
    transforms.pop()
    return Flow(base_dist=StandardNormal((4,)), transforms=transforms)


def check_aug_flow() -> float:
    ref = ref_aug_flow().double().eval()
    ours = survae_dsl.load(f"{ZOO}/toy_aug_flow.survae", model="AugFlow")().double().eval()
    randomise(ref, seed=14, gain=0.5, bias_std=0.1)
    pairs: list[Pair] = []
    for k in range(4):  # reference transforms: 0 augment, 1 coupling, 2 reverse, 3 coupling, ...
        pairs += mlp_pairs(
            [0, 2], [0, 2], f"transforms.{1 + 2 * k}.coupling_net.0", f"affine_coupling_{k + 1}.net.layers"
        )
    transfer(ref, ours, pairs)
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(16, 2, generator=gen, dtype=torch.float64) * 2
    with torch.no_grad():
        # Same augmentation noise: both draw torch.randn((B, 2), float64) from the global generator.
        torch.manual_seed(99)
        lp_r = ref.log_prob(x.clone())
        torch.manual_seed(99)
        lp_o = ours.log_prob(x.clone())
        torch.manual_seed(99)
        a_r = ref.transforms[0](x.clone())[0]
        torch.manual_seed(99)
        a_o = ours.augment_1(x.clone())[0]
    note = f"\n   augmented tensors: max |Δ| {(a_r - a_o).abs().max().item():.3e} (same noise)"
    return report(
        "toy_aug_flow.survae AugFlow  vs train_aug_flow.py (one-sample bound, same noise)",
        ours,
        ref,
        x,
        lp_o,
        lp_r,
        note,
    )


def check_clamps() -> None:
    """Inputs where the reference clamps: Logit clamps x/4 to [1e-6, 1 - 1e-6] (transforms/bijections/
    elementwise_nonlinear.py, Logit.forward), SoftplusInverse clamps |x| below at 1e-7."""
    x = torch.tensor([[1e-9, 1.0], [1e-3, 1.0], [3.999999999, 1.0]], dtype=torch.float64)
    for model, rf in (("AbsFlow", "logit"), ("AbsFlowSoftplus", "softplus")):
        ref = ref_abs_flow(rf).double().eval()
        ours = survae_dsl.load(f"{ZOO}/toy_abs_flow.survae", model=model)().double().eval()
        randomise(ref, seed=10, gain=0.5, bias_std=0.1)
        first = 3 if rf == "logit" else 2
        pairs: list[Pair] = []
        for k in range(4):
            pairs += mlp_pairs(
                [0, 2], [0, 2], f"transforms.{first + 2 * k}.coupling_net.0", f"affine_coupling_{k + 1}.net.layers"
            )
        transfer(ref, ours, pairs)
        with torch.no_grad():
            lp_r, lp_o = ref.log_prob(x.clone()), ours.log_prob(x.clone())
        print(f"   clamp region {model}: x[:,0] = {x[:, 0].tolist()}")
        print(f"      ours {lp_o.tolist()}\n      ref  {lp_r.tolist()}  |Δ| {(lp_o - lp_r).abs().tolist()}")


def main() -> None:
    torch.set_default_dtype(torch.float64)  # Flow.log_prob accumulates into torch.zeros(B) (default dtype)
    check_abs("AbsFlow", "logit")
    check_abs("AbsFlowSoftplus", "softplus")
    check_toy_flow()
    check_aug_flow()
    check_clamps()


if __name__ == "__main__":
    main()
