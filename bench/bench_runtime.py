"""Runtime benchmarks: what the compiled modules cost when they run.

2. compiled module against the same layers assembled by hand from `survae_dsl.nn` (same
   weights; equal outputs and gradients are asserted first), `log_prob` forward + backward at
   batch 256, for the toy model (examples/abs_flow.survae) and a digits-sized image model
   (DIGITS_SOURCE below). Target: compiled / hand within 3 %.
3. eager against `torch.compile` (default inductor backend) on the toy model's training step
   at batch 1024, as survae-train takes it: zero_grad, loss = -log_prob.mean(), backward and the
   Adam update (compiled with the loss, as PyTorch recommends for a compiled optimizer),
   compilation warmed up first; equal loss, gradients and updated parameters are checked first.
   Target: eager / inductor at least 1.3. The forward + backward alone is printed beside it.
4. sampling throughput (samples/s), eager, for both models (no target).

Timings interleave the contenders round by round; figures are medians, ratios medians of
per-round ratios. Nothing here asserts a time. Run alone with `python bench/bench_runtime.py`,
or with the others by bench/run_all.py.
"""

from __future__ import annotations

import copy
import logging
import statistics
import time
from collections.abc import Callable

import torch
from common import EXAMPLES, Row, calls_per_sample, interleaved, machine_lines, paired_ratio, print_summary, verdict
from torch import Tensor, nn

import survae_dsl
import survae_dsl.nn as snn

HAND_BATCH = 256
COMPILE_BATCH = 1024
TARGET_HAND_RATIO = 0.03  # |compiled / hand - 1|
TARGET_INDUCTOR_SPEEDUP = 1.3
COMPILE_LR = 1e-3  # survae-train's default

# A digits-sized model: 8x8 images with 17 grey levels (scikit-learn's digits).
DIGITS_SOURCE = """\
model Digits {
    doc "Digits-sized flow for int<17>[1, 8, 8] images"
    input x: int<17>[1, 8, 8]

    h = dequantize(x)                   # int<17> -> (0, 1): a lower bound
    h = logit(h)                        # (0, 1) -> real
    h = squeeze2d(h)                    # [4, 4, 4]
    repeat 3 {
        h = actnorm(h)
        h = conv1x1(h)
        h = affine_coupling(h, net=conv(hidden=32))
    }
    h ~ normal()
}
"""
DIGITS_STEPS = 3


# The same models written by hand against the runtime, as a user of survae_dsl.nn without the
# compiler would, registering the same layers in the same order as the compiled classes.


class _HandChain(nn.Module):
    """A chain of transforms then a distribution: log_prob = Σ ldj + log p_base(z)."""

    transforms: nn.ModuleList
    base: nn.Module

    def log_prob(self, x: Tensor) -> Tensor:
        log_p = torch.zeros(x.shape[0])
        h = x
        for transform in self.transforms:
            h, ldj = transform(h)
            log_p = log_p + ldj
        return log_p + self.base.log_prob(h)


class HandAbsFlow(_HandChain):
    def __init__(self) -> None:
        super().__init__()
        shape = (2,)
        layers: list[nn.Module] = [snn.Abs(shape, sign="uniform"), snn.SoftplusInv(shape)]
        for _ in range(4):
            net = snn.MLP(in_features=1, out_features=2, hidden=(200, 100), activation="relu")
            layers += [snn.AffineCoupling(shape, net=net, dim=0, split=1, scale="tanh_exp"), snn.Reverse(shape, dim=0)]
        self.transforms = nn.ModuleList(layers)
        self.base = snn.StandardNormal(shape)


class HandDigits(_HandChain):
    def __init__(self) -> None:
        super().__init__()
        image, squeezed = (1, 8, 8), (4, 4, 4)
        layers: list[nn.Module] = [
            snn.Dequantize(shape=image, num_classes=17),
            snn.Logit(shape=image),
            snn.Squeeze2d(shape=image, factor=2),
        ]
        for step in range(1, DIGITS_STEPS + 1):
            net = snn.ConvNet(in_channels=2, out_channels=4, hidden=32, layers=2, kernel=3, spatial_dims=2)
            layers += [
                snn.ActNorm(shape=squeezed),
                snn.Conv1x1(shape=squeezed, seed=step),
                snn.AffineCoupling(shape=squeezed, net=net, dim=0, split=2, scale="tanh_exp"),
            ]
        self.transforms = nn.ModuleList(layers)
        self.base = snn.Normal(shape=squeezed, per="element")


def copy_parameters(source: nn.Module, target: nn.Module) -> None:
    """Copy parameters in registration order (both models register the same layers in the
    same order under different names); buffers come from the same seeds."""
    with torch.no_grad():
        for a, b in zip(source.parameters(), target.parameters(), strict=True):
            assert a.shape == b.shape, (a.shape, b.shape)
            b.copy_(a)


def perturb(model: nn.Module, seed: int) -> None:
    """Move every parameter off its initial value (zero-initialised output layers would make
    the couplings identities, and the comparison trivial)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=generator))


def digits_batch(batch: int, seed: int) -> Tensor:
    """Integer images in {0, ..., 16}, (batch, 1, 8, 8): smooth blobs, not uniform noise."""
    generator = torch.Generator().manual_seed(seed)
    rows = torch.arange(8.0).reshape(1, 8, 1)
    cols = torch.arange(8.0).reshape(1, 1, 8)
    centre = 2.0 + 4.0 * torch.rand(batch, 2, 1, 1, generator=generator)
    blob = torch.exp(-((rows - centre[:, 0]) ** 2 + (cols - centre[:, 1]) ** 2) / 6.0)
    noisy = 16.0 * blob + torch.randn(batch, 8, 8, generator=generator)
    return noisy.round().clamp(0, 16).to(torch.long).unsqueeze(1)


def toy_batch(batch: int, seed: int) -> Tensor:
    return torch.randn(batch, 2, generator=torch.Generator().manual_seed(seed))


def abs_flow_pair() -> tuple[nn.Module, nn.Module]:
    """The compiled AbsFlow with non-trivial weights, and the hand version with the same."""
    torch.manual_seed(0)
    compiled = survae_dsl.load(EXAMPLES / "abs_flow.survae")()
    perturb(compiled, 1)
    hand = HandAbsFlow()
    copy_parameters(compiled, hand)
    return compiled, hand


def digits_pair() -> tuple[nn.Module, nn.Module]:
    """The compiled Digits, actnorm initialised from data then perturbed, and the hand
    version with the same weights."""
    torch.manual_seed(0)
    compiled = survae_dsl.compile_source(DIGITS_SOURCE, filename="digits.survae")["Digits"]()
    torch.manual_seed(1)
    compiled.initialize(digits_batch(512, seed=10))
    perturb(compiled, 2)
    hand = HandDigits()
    copy_parameters(compiled, hand)
    return compiled, hand


def training_step(
    model: nn.Module,
    loss: Callable[[Tensor], Tensor],
    x: Tensor,
    seed: int | None = None,
    update: Callable[[], object] | None = None,
) -> Callable[[], None]:
    """zero_grad, loss(x), backward, then ``update`` if given (an optimizer's step, as
    survae-train takes it). ``seed``, if given, reseeds the global generator first (dequantize
    draws its noise from it)."""

    def step() -> None:
        if seed is not None:
            torch.manual_seed(seed)
        model.zero_grad(set_to_none=True)
        loss(x).backward()
        if update is not None:
            update()

    return step


def mean_nll(model: nn.Module) -> Callable[[Tensor], Tensor]:
    def loss(x: Tensor) -> Tensor:
        return -model.log_prob(x).mean()

    return loss


def assert_same(compiled: nn.Module, hand: nn.Module, x: Tensor) -> tuple[float, float]:
    """Same log_prob and same gradients (same noise); (max |Δ log_prob|, max |Δ grad|)."""
    outputs, grads = [], []
    for model in (compiled, hand):
        torch.manual_seed(123)
        model.zero_grad(set_to_none=True)
        log_p = model.log_prob(x)
        (-log_p.mean()).backward()
        outputs.append(log_p.detach())
        grads.append([p.grad.detach().clone() for p in model.parameters()])
    d_out = (outputs[0] - outputs[1]).abs().max().item()
    d_grad = max((a - b).abs().max().item() for a, b in zip(*grads, strict=True))
    scale = outputs[0].abs().max().item()
    assert torch.isfinite(outputs[0]).all(), "log_prob is not finite"
    assert d_out <= 1e-5 * max(1.0, scale), f"compiled and hand disagree on log_prob by {d_out}"
    assert d_grad <= 1e-5 * max(1.0, scale), f"compiled and hand disagree on a gradient by {d_grad}"
    return d_out, d_grad


def quartiles(values: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(values, n=4)
    return q[0], q[2]


def bench_compiled_vs_hand(rows: list[Row]) -> None:
    print(
        f"\n2. compiled module vs the same layers assembled by hand from survae_dsl.nn: "
        f"log_prob forward + backward, batch {HAND_BATCH}"
    )
    print("   (hand2 is the hand model timed again: the A/A ratio hand/hand2 shows the noise floor)")
    print(
        f"   {'model':<12}{'max|dlogp|':>11}{'max|dgrad|':>11}{'rounds':>7}{'calls':>6}"
        f"{'compiled ms':>12}{'hand ms':>9}{'compiled/hand':>14}{'IQR of ratio':>16}{'hand/hand2':>11}"
    )
    cases = (
        ("abs_flow", abs_flow_pair, toy_batch(HAND_BATCH, 2), 12.0),
        ("digits", digits_pair, digits_batch(HAND_BATCH, 3), 20.0),
    )
    for label, make, x, budget in cases:
        compiled, hand = make()
        d_out, d_grad = assert_same(compiled, hand, x)
        fns = {
            "compiled": training_step(compiled, mean_nll(compiled), x, seed=7),
            "hand": training_step(hand, mean_nll(hand), x, seed=7),
            "hand2": training_step(hand, mean_nll(hand), x, seed=7),
        }
        inner = calls_per_sample(fns["compiled"])
        t = interleaved(fns, budget, inner=inner)
        rounds = len(t["compiled"])
        ratio = paired_ratio(t["compiled"], t["hand"])
        low, high = quartiles([a / b for a, b in zip(t["compiled"], t["hand"], strict=True)])
        noise = paired_ratio(t["hand"], t["hand2"])
        compiled_ms, hand_ms = (1e3 * statistics.median(t[k]) for k in ("compiled", "hand"))
        print(
            f"   {label:<12}{d_out:>11.1e}{d_grad:>11.1e}{rounds:>7}{inner:>6}{compiled_ms:>12.3f}{hand_ms:>9.3f}"
            f"{ratio:>14.3f}{f'{low:.3f}-{high:.3f}':>16}{noise:>11.3f}",
            flush=True,
        )
        rows.append(
            Row(
                f"compiled/hand, {label} train step (b={HAND_BATCH})",
                f"{ratio:.3f}",
                f"1 +/- {TARGET_HAND_RATIO:g}",
                verdict(abs(ratio - 1.0) <= TARGET_HAND_RATIO),
            )
        )


def bench_validation(rows: list[Row]) -> None:
    """The cost of input validation: the same compiled model's training step with its checks
    on (the default) and off (`validate_args=False`), timed side by side."""
    print(f"\n5. input validation on vs off: the compiled model's training step, batch {HAND_BATCH}")
    print("   (off2 is the unchecked model timed again: the A/A ratio off/off2 shows the noise floor)")
    print(
        f"   {'model':<12}{'rounds':>7}{'calls':>6}{'on ms':>9}{'off ms':>9}{'on/off':>9}"
        f"{'IQR of ratio':>16}{'off/off2':>10}"
    )
    cases = (
        ("abs_flow", abs_flow_pair, toy_batch(HAND_BATCH, 2), 10.0),
        ("digits", digits_pair, digits_batch(HAND_BATCH, 3), 15.0),
    )
    for label, make, x, budget in cases:
        checked, _ = make()
        unchecked, _ = make()
        unchecked.validate_args = False
        fns = {
            "on": training_step(checked, mean_nll(checked), x, seed=7),
            "off": training_step(unchecked, mean_nll(unchecked), x, seed=7),
            "off2": training_step(unchecked, mean_nll(unchecked), x, seed=7),
        }
        inner = calls_per_sample(fns["on"])
        t = interleaved(fns, budget, inner=inner)
        ratio = paired_ratio(t["on"], t["off"])
        low, high = quartiles([a / b for a, b in zip(t["on"], t["off"], strict=True)])
        noise = paired_ratio(t["off"], t["off2"])
        on_ms, off_ms = (1e3 * statistics.median(t[k]) for k in ("on", "off"))
        print(
            f"   {label:<12}{len(t['on']):>7}{inner:>6}{on_ms:>9.3f}{off_ms:>9.3f}{ratio:>9.3f}"
            f"{f'{low:.3f}-{high:.3f}':>16}{noise:>10.3f}",
            flush=True,
        )
        rows.append(Row(f"validation on/off, {label} train step (b={HAND_BATCH})", f"{ratio:.3f}"))


def relative_error(a: Tensor, b: Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item()


def bench_torch_compile(rows: list[Row]) -> None:
    print(
        f"\n3. eager vs torch.compile (inductor): AbsFlow training step at batch {COMPILE_BATCH} "
        f"(zero_grad, loss = -log_prob.mean(), backward, Adam update, as survae-train steps)"
    )
    name = f"eager/inductor, abs_flow train step (b={COMPILE_BATCH})"
    target = f">= {TARGET_INDUCTOR_SPEEDUP:g}x"
    model, _ = abs_flow_pair()
    # The compiled side trains its own copy, so that the two runs' updates do not mix.
    twin = copy.deepcopy(model)
    x = toy_batch(COMPILE_BATCH, 4)
    eager_loss = mean_nll(model)
    eager_adam = torch.optim.Adam(model.parameters(), lr=COMPILE_LR)
    twin_adam = torch.optim.Adam(twin.parameters(), lr=COMPILE_LR)
    try:
        torch._dynamo.reset()
        inductor_loss = torch.compile(mean_nll(twin), fullgraph=True)
        # PyTorch's recipe for a compiled optimizer: compile the call of step (the per-tensor
        # loops of Adam become one fused kernel).
        inductor_update = torch.compile(twin_adam.step)
        # Dynamo says once that it skips the profiler annotation around Optimizer.step: noise here.
        logging.getLogger("torch._dynamo.variables.ctx_manager").setLevel(logging.ERROR)
        start = time.perf_counter()
        twin.zero_grad(set_to_none=True)
        inductor_value = inductor_loss(x)
        inductor_value.backward()
        inductor_grads = [p.grad.clone() for p in twin.parameters()]
        inductor_update()
        compile_seconds = time.perf_counter() - start
    except Exception as exc:  # noqa: BLE001 - any failure means "not on this machine"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"   unavailable: {type(exc).__name__}: {reason[:200]}")
        rows.append(Row(name, "unavailable", target, "MISS"))
        return
    model.zero_grad(set_to_none=True)
    eager_value = eager_loss(x)
    eager_value.backward()
    eager_adam.step()
    loss_error = abs(inductor_value.item() - eager_value.item()) / max(1.0, abs(eager_value.item()))
    grad_error = max(relative_error(a, p.grad) for a, p in zip(inductor_grads, model.parameters(), strict=True))
    update_error = max(relative_error(a, b) for a, b in zip(twin.parameters(), model.parameters(), strict=True))
    print(
        f"   first call (compiles forward, backward and the Adam update; inductor caches on disk, so a rerun "
        f"is faster): {compile_seconds:.1f} s"
    )
    print(
        f"   relative |inductor - eager| after one step: loss {loss_error:.1e}, gradients {grad_error:.1e}, "
        f"parameters {update_error:.1e} (max over tensors)"
    )

    fns = {
        "eager": training_step(model, eager_loss, x, update=eager_adam.step),
        "inductor": training_step(twin, inductor_loss, x, update=inductor_update),
        "eager fw+bw": training_step(model, eager_loss, x),
        "inductor fw+bw": training_step(twin, inductor_loss, x),
    }
    for fn in fns.values():  # settle all before sizing the samples
        for _ in range(3):
            fn()
    inner = calls_per_sample(fns["eager"], 0.02)
    t = interleaved(fns, 30.0, inner=inner)
    rounds = len(t["eager"])
    ms = {k: 1e3 * statistics.median(v) for k, v in t.items()}
    speedup = paired_ratio(t["eager"], t["inductor"])
    speedup_fw_bw = paired_ratio(t["eager fw+bw"], t["inductor fw+bw"])
    print(
        f"   {rounds} rounds of {inner} calls (medians): training step: eager {ms['eager']:.2f} ms, "
        f"inductor {ms['inductor']:.2f} ms, eager/inductor = {speedup:.2f}x"
    )
    print(
        f"   the same without the Adam update (forward + backward): eager {ms['eager fw+bw']:.2f} ms, "
        f"inductor {ms['inductor fw+bw']:.2f} ms, eager/inductor = {speedup_fw_bw:.2f}x"
    )
    rows.append(Row(name, f"{speedup:.2f}x", target, verdict(speedup >= TARGET_INDUCTOR_SPEEDUP)))
    rows.append(Row(f"eager/inductor, abs_flow forward + backward only (b={COMPILE_BATCH})", f"{speedup_fw_bw:.2f}x"))
    rows.append(Row("torch.compile first call (compiles the step)", f"{compile_seconds:.1f} s"))
    torch._dynamo.reset()


def bench_sampling(rows: list[Row]) -> None:
    print("\n4. sampling throughput, eager, no grad (median of timed calls)")
    print(f"   {'model':<12}{'batch':>7}{'calls':>7}{'ms / call':>11}{'samples / s':>14}")
    cases = (("abs_flow", abs_flow_pair, 4096), ("digits", digits_pair, 1024))
    for label, make, batch in cases:
        model = make()[0]
        generator = torch.Generator().manual_seed(5)
        with torch.no_grad():
            draws = model.sample(batch, generator=generator)
        assert draws.shape[0] == batch
        if draws.is_floating_point():
            assert torch.isfinite(draws).all(), f"{label}: non-finite samples"
        else:
            assert int(draws.min()) >= 0 and int(draws.max()) <= 16, f"{label}: samples outside int<17>"

        def call(model: nn.Module = model, batch: int = batch, generator: torch.Generator = generator) -> None:
            with torch.no_grad():
                model.sample(batch, generator=generator)

        times = interleaved({label: call}, 6.0, min_rounds=7, max_rounds=200)[label]
        calls = len(times)
        seconds = statistics.median(times)
        print(f"   {label:<12}{batch:>7}{calls:>7}{1e3 * seconds:>11.2f}{batch / seconds:>14,.0f}", flush=True)
        rows.append(Row(f"sampling {label} (b={batch}), eager", f"{batch / seconds:,.0f} samples/s"))


def run(rows: list[Row]) -> None:
    bench_compiled_vs_hand(rows)
    bench_torch_compile(rows)
    bench_sampling(rows)
    bench_validation(rows)


def main() -> None:
    print("\n".join(machine_lines()))
    rows: list[Row] = []
    run(rows)
    print()
    print_summary(rows)


if __name__ == "__main__":
    main()
