"""Compile-time benchmark: `check_source` + `emit_module` (parse → checked IR → Python text),
in-process, on generated models of 100 to 10,000 ops.

Two model shapes: a chain written out line by line (so the parser sees every op), and the
same chain folded into one `repeat` (so the lowering unrolls it). Each size is timed as the
median of a few runs (fewer as it grows); the scaling exponent is the least-squares slope of
log(time) against log(ops) over every measured size. Targets: 10,000 ops under 5 s, exponent
at most 1.15. A size whose projected time (from the slope of the two sizes below it) exceeds
SINGLE_RUN_CAP_S is not run, so that the whole benchmark stays short on a slow compiler; the
summary then reports the projection and a MISS.

Run alone with `python bench/bench_compile.py`, or with the others by bench/run_all.py.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable

from common import EXAMPLES, Row, loglog_slope, machine_lines, print_summary, verdict

from survae_dsl.compiler.backends.codegen import emit_module
from survae_dsl.compiler.core.gc_pause import paused_gc
from survae_dsl.compiler.drivers.driver import check_source

SIZES = (100, 300, 1000, 3000, 10000)
HEADLINE = (100, 1000, 10000)
TARGET_SECONDS_10K = 5.0
TARGET_EXPONENT = 1.15
# A size projected to take longer than this for one run is skipped (and every larger one).
SINGLE_RUN_CAP_S = 40.0


def _op(index: int) -> str:
    return "affine_coupling(h, net=mlp(hidden=[8]))" if index % 2 == 0 else "reverse(h)"


def chain_source(n_ops: int) -> str:
    """A model of exactly ``n_ops`` ops written out line by line (no `repeat`): couplings and
    reversals taking turns, then one distribution."""
    lines = ["model Chain {", "    input x: real[4]", "    h = x"]
    lines += [f"    h = {_op(index)}" for index in range(n_ops)]
    lines += ["    h ~ standard_normal()", "}"]
    return "\n".join(lines) + "\n"


def repeat_source(n_ops: int) -> str:
    """The same ``n_ops`` ops as :func:`chain_source` (``n_ops`` even), as one `repeat`."""
    assert n_ops % 2 == 0
    return (
        "model Chain {\n    input x: real[4]\n    h = x\n"
        f"    repeat {n_ops // 2} {{\n        h = {_op(0)}\n        h = {_op(1)}\n    }}\n"
        "    h ~ standard_normal()\n}\n"
    )


def compile_once(text: str, filename: str = "bench.survae") -> str:
    """Python source of every model of ``text`` (raises CompileError on a bad model), with the
    garbage collector paused for the whole compile as `survae-compile` does."""
    with paused_gc():
        return emit_module(check_source(text, filename).models, filename)


def time_compile(text: str) -> tuple[float, int]:
    """(median seconds, runs): 5 runs under 0.5 s a run, 3 under 5 s, else 1."""

    def one() -> float:
        gc.collect()
        start = time.perf_counter()
        compile_once(text)
        return time.perf_counter() - start

    times = [one()]
    extra = 4 if times[0] < 0.5 else 2 if times[0] < 5.0 else 0
    times += [one() for _ in range(extra)]
    return statistics.median(times), len(times)


def scaling(label: str, make: Callable[[int], str]) -> tuple[dict[int, float], dict[int, float], float]:
    """Time ``make(n)`` for each size of SIZES: ({n: measured s}, {n: projected s of a skipped
    size}, exponent fitted on the measured sizes)."""
    measured: dict[int, float] = {}
    projected: dict[int, float] = {}
    print(f"   {label}")
    print(f"   {'ops':>8}{'runs':>6}{'median s':>11}{'ms / op':>10}")
    base: tuple[int, float] | None = None  # the size the projection starts from
    slope = 1.0
    for n in SIZES:
        if not projected and len(measured) >= 2:
            (n1, t1), (n2, t2) = list(measured.items())[-2:]
            slope, base = max(1.0, loglog_slope([n1, n2], [t1, t2])), (n2, t2)
        guess = None if base is None else base[1] * (n / base[0]) ** slope
        if guess is not None and (projected or guess > SINGLE_RUN_CAP_S):
            projected[n] = guess
            base = (n, guess)
            print(
                f"   {n:>8}{'-':>6}{'~' + format(guess, '.0f'):>11}{'':>10}  not run: projected from the "
                f"slope {slope:.2f} of the two sizes below (cap {SINGLE_RUN_CAP_S:.0f} s a run)"
            )
            continue
        seconds, runs = time_compile(make(n))
        measured[n] = seconds
        print(f"   {n:>8}{runs:>6}{seconds:>11.3f}{1e3 * seconds / n:>10.3f}", flush=True)
    exponent = loglog_slope(list(measured), list(measured.values()))
    sizes = ", ".join(str(n) for n in measured)
    print(f"   scaling exponent (least squares on log-log over {sizes} ops): {exponent:.2f}")
    return measured, projected, exponent


def run(rows: list[Row]) -> None:
    print("1. compile time: check_source + emit_module, in-process (median of runs)")
    compile_once((EXAMPLES / "abs_flow.survae").read_text(encoding="utf-8"))  # warm-up: grammar, imports
    abs_seconds, abs_runs = time_compile((EXAMPLES / "abs_flow.survae").read_text(encoding="utf-8"))
    print(f"   examples/abs_flow.survae (11 ops): {1e3 * abs_seconds:.1f} ms, median of {abs_runs}")
    for label, key, make in (
        ("written out, one line per op", "written out", chain_source),
        ("one `repeat` of coupling + reverse", "repeat", repeat_source),
    ):
        measured, projected, exponent = scaling(label, make)
        for n in HEADLINE[:-1]:
            if n in measured:
                rows.append(Row(f"compile {n:,} ops ({key})", f"{measured[n]:.3f} s"))
        big = HEADLINE[-1]
        if big in measured:
            rows.append(
                Row(
                    f"compile {big:,} ops ({key})",
                    f"{measured[big]:.2f} s",
                    f"< {TARGET_SECONDS_10K:g} s",
                    verdict(measured[big] < TARGET_SECONDS_10K),
                )
            )
        else:
            rows.append(
                Row(
                    f"compile {big:,} ops ({key})",
                    f"not run, ~{projected[big]:.0f} s projected",
                    f"< {TARGET_SECONDS_10K:g} s",
                    "MISS",
                )
            )
        upto = max(measured)
        rows.append(
            Row(
                f"compile scaling exponent ({key}, to {upto:,} ops)",
                f"{exponent:.2f}",
                f"<= {TARGET_EXPONENT}",
                verdict(exponent <= TARGET_EXPONENT),
            )
        )


def main() -> None:
    print("\n".join(machine_lines()) + "\n")
    rows: list[Row] = []
    run(rows)
    print()
    print_summary(rows)


if __name__ == "__main__":
    main()
