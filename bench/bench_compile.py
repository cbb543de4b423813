"""Benchmarks (`make bench`): figures and ratios measured side by side in one run.

1. compile time (`check_source` + `emit_module`, in-process) of examples/abs_flow.survae and of
   generated straight-line chains of N ops: milliseconds per op, which should stay flat in N;
2. `log_prob` of the compiled AbsFlow against the same model assembled by hand from
   `survae_dsl.nn` classes, same weights, batch 4096: compiled / hand should be about 1.0;
3. eager against `torch.compile` (default inductor backend) for the compiled AbsFlow, when
   inductor works on this machine (it needs a C++ compiler), otherwise `unavailable: reason`.

Timings are medians of interleaved repeats, ratios medians of per-round ratios; nothing
here asserts a time.
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
import torch  # noqa: E402
from survae_dsl.compiler.codegen import emit_module  # noqa: E402
from survae_dsl.compiler.driver import check_source  # noqa: E402
from torch import Tensor, nn  # noqa: E402

import survae_dsl  # noqa: E402
import survae_dsl.nn as snn  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ABS_FLOW = ROOT / "examples" / "abs_flow.survae"
BATCH = 4096


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``repeats`` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved(fns: dict[str, Callable[[], object]], repeats: int, warmup: int = 3) -> dict[str, list[float]]:
    """Seconds per call of each function over ``repeats`` rounds, the functions taking turns
    within a round (so that a load change on the machine hits all of them alike)."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def paired_ratio(numerator: list[float], denominator: list[float]) -> float:
    """Median over rounds of the per-round ratio: steadier than a ratio of medians when the
    machine's load drifts."""
    return statistics.median(a / b for a, b in zip(numerator, denominator, strict=True))


# 1. compile time --------------------------------------------------------------------------


def chain_source(n_ops: int) -> str:
    """A model of exactly ``n_ops`` ops written out line by line (no `repeat`): couplings
    and reversals taking turns, then one distribution."""
    lines = ["model Chain {", "    input x: real[4]", "    h = x"]
    for index in range(n_ops):
        op = "affine_coupling(h, net=mlp(hidden=[8]))" if index % 2 == 0 else "reverse(h)"
        lines.append(f"    h = {op}")
    lines += ["    h ~ standard_normal()", "}"]
    return "\n".join(lines) + "\n"


def compile_once(text: str, filename: str) -> str:
    return emit_module(check_source(text, filename).models, filename)


def bench_compile_time() -> None:
    print("1. compile time: check_source + emit_module, in-process (median)")
    print(f"   {'model':<24}{'ops':>6}{'runs':>6}{'total ms':>11}{'ms / op':>10}")
    abs_text = ABS_FLOW.read_text(encoding="utf-8")
    cases = [("examples/abs_flow.survae", abs_text, 11, 21)]
    cases += [(f"chain of {n}", chain_source(n), n, runs) for n, runs in ((50, 11), (200, 7), (1000, 3))]
    per_op = {}
    for label, text, ops, runs in cases:
        seconds = median_seconds(lambda text=text: compile_once(text, "bench.survae"), runs)
        per_op[label] = 1e3 * seconds / ops
        print(f"   {label:<24}{ops:>6}{runs:>6}{1e3 * seconds:>11.1f}{per_op[label]:>10.3f}")
    ratio = per_op["chain of 1000"] / per_op["chain of 50"]
    print(f"   ms/op, chain of 1000 vs chain of 50: x{ratio:.2f}  (1.0 = linear in the number of ops)")


# 2. compiled vs hand-assembled -------------------------------------------------------------


class HandAbsFlow(nn.Module):
    """examples/abs_flow.survae written by hand against the runtime, as a user of
    `survae_dsl.nn` without the compiler would."""

    def __init__(self) -> None:
        super().__init__()
        shape = (2,)
        self.fold = snn.Abs(shape)
        self.unfold = snn.SoftplusInv(shape)
        self.couplings = nn.ModuleList(
            snn.AffineCoupling(shape, net=snn.MLP(1, 2, hidden=(200, 100)), dim=0, split=1) for _ in range(4)
        )
        self.reverses = nn.ModuleList(snn.Reverse(shape, dim=0) for _ in range(4))
        self.base = snn.StandardNormal(shape)

    def log_prob(self, x: Tensor) -> Tensor:
        h, log_p = self.fold(x)
        h, ldj = self.unfold(h)
        log_p = log_p + ldj
        for coupling, reverse in zip(self.couplings, self.reverses, strict=True):
            h, ldj = coupling(h)
            log_p = log_p + ldj
            h, ldj = reverse(h)
            log_p = log_p + ldj
        return log_p + self.base.log_prob(h)


def copy_weights(source: nn.Module, target: nn.Module) -> None:
    """Copy parameters in registration order (the two models register the same layers in
    the same order under different names)."""
    pairs = list(zip(source.parameters(), target.parameters(), strict=True))
    with torch.no_grad():
        for a, b in pairs:
            b.copy_(a)


def perturbed_abs_flow() -> tuple[nn.Module, nn.Module]:
    """The compiled AbsFlow with non-trivial weights, and the hand version with the same."""
    torch.manual_seed(0)
    compiled = survae_dsl.load(ABS_FLOW)()
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in compiled.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=generator))
    hand = HandAbsFlow()
    copy_weights(compiled, hand)
    return compiled, hand


def training_step(model: nn.Module, x: Tensor) -> Callable[[], None]:
    def step() -> None:
        model.zero_grad(set_to_none=True)
        (-model.log_prob(x).mean()).backward()

    return step


def no_grad_call(fn: Callable[[Tensor], Tensor], x: Tensor) -> Callable[[], Tensor]:
    def call() -> Tensor:
        with torch.no_grad():
            return fn(x)

    return call


def bench_compiled_vs_hand() -> None:
    print(f"\n2. log_prob of AbsFlow, batch {BATCH}: compiled module vs hand-assembled from survae_dsl.nn")
    compiled, hand = perturbed_abs_flow()
    x = torch.randn(BATCH, 2, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        difference = (compiled.log_prob(x) - hand.log_prob(x)).abs().max().item()
    print(f"   same weights, max |compiled - hand| = {difference:.1e}")
    cases = {
        "log_prob (no grad)": (no_grad_call(compiled.log_prob, x), no_grad_call(hand.log_prob, x), 150),
        "log_prob + backward": (training_step(compiled, x), training_step(hand, x), 60),
    }
    print(f"   {'':<22}{'compiled ms':>13}{'hand ms':>10}{'compiled/hand':>15}")
    for label, (compiled_fn, hand_fn, repeats) in cases.items():
        t = interleaved({"compiled": compiled_fn, "hand": hand_fn}, repeats)
        ratio = paired_ratio(t["compiled"], t["hand"])
        compiled_ms, hand_ms = (1e3 * statistics.median(t[k]) for k in ("compiled", "hand"))
        print(f"   {label:<22}{compiled_ms:>13.2f}{hand_ms:>10.2f}{ratio:>15.3f}")


# 3. eager vs torch.compile -----------------------------------------------------------------


def bench_torch_compile() -> None:
    print(f"\n3. log_prob of AbsFlow, batch {BATCH}, no grad: eager vs torch.compile (inductor)")
    compiled, _ = perturbed_abs_flow()
    x = torch.randn(BATCH, 2, generator=torch.Generator().manual_seed(2))
    try:
        torch._dynamo.reset()
        optimized = torch.compile(compiled.log_prob, fullgraph=True)
        start = time.perf_counter()
        with torch.no_grad():
            first = optimized(x)
        compile_seconds = time.perf_counter() - start
    except Exception as exc:  # noqa: BLE001 - any failure means "not on this machine"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"   unavailable: {type(exc).__name__}: {reason[:200]}")
        return
    with torch.no_grad():
        eager = compiled.log_prob(x)
    error = ((first - eager).abs() / eager.abs().clamp_min(1.0)).max().item()
    print(f"   first call (compilation; inductor caches on disk, so a rerun is faster) {compile_seconds:.1f} s")
    print(f"   max relative |inductor - eager| = {error:.1e} (float32)")
    t = interleaved({"eager": no_grad_call(compiled.log_prob, x), "inductor": no_grad_call(optimized, x)}, 100)
    eager_ms, inductor_ms = (1e3 * statistics.median(t[k]) for k in ("eager", "inductor"))
    print(f"   eager {eager_ms:.2f} ms, inductor {inductor_ms:.2f} ms (medians): "
          f"eager/inductor = x{paired_ratio(t['eager'], t['inductor']):.2f}")


def main() -> None:
    print(f"survae-dsl benchmarks: torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"python {sys.version.split()[0]}\n")
    bench_compile_time()
    gc.collect()
    bench_compiled_vs_hand()
    bench_torch_compile()


if __name__ == "__main__":
    main()
