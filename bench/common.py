"""Helpers shared by the benchmarks of bench/: the machine, interleaved timing, paired ratios,
a log-log slope, and the rows of the final summary table.

Nothing here asserts a time: a missed target is printed as MISS, never raised.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


@dataclass(frozen=True)
class Row:
    """One line of the summary table. ``status`` is PASS, MISS, or "-" (no target)."""

    measure: str
    value: str
    target: str = "-"
    status: str = "-"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def processor_name() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine_lines() -> list[str]:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count() or 0
    return [
        f"processor: {processor_name()} ({platform.machine()})",
        f"cores:     {os.cpu_count()} logical, {usable} usable by this process; "
        f"torch threads {torch.get_num_threads()}",
        f"software:  torch {torch.__version__}, python {sys.version.split()[0]}, "
        f"{platform.system()} {platform.release()}",
    ]


def calls_per_sample(fn: Callable[[], object], sample_seconds: float = 0.01) -> int:
    """How many calls of ``fn`` make one timing sample of about ``sample_seconds`` (so that
    sub-millisecond calls are not dominated by the timer), after two warm-up calls."""
    fn()
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-6)
    return max(1, min(1000, round(sample_seconds / once)))


def interleaved(
    fns: dict[str, Callable[[], object]],
    budget_seconds: float,
    inner: int = 1,
    min_rounds: int = 15,
    max_rounds: int = 1000,
    warmup: int = 3,
) -> dict[str, list[float]]:
    """Seconds per call of each function, round by round, the functions taking turns within
    a round (a load change on the machine hits all of them alike; the order alternates every
    round). Each sample is the mean of ``inner`` consecutive calls. Rounds go on until
    ``budget_seconds`` are spent, at least ``min_rounds`` and at most ``max_rounds``."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    names = list(fns)
    times: dict[str, list[float]] = {name: [] for name in names}
    begin = time.perf_counter()
    for index in range(max_rounds):
        for name in names if index % 2 == 0 else reversed(names):
            fn = fns[name]
            start = time.perf_counter()
            for _ in range(inner):
                fn()
            times[name].append((time.perf_counter() - start) / inner)
        if index + 1 >= min_rounds and time.perf_counter() - begin >= budget_seconds:
            break
    return times


def paired_ratio(numerator: list[float], denominator: list[float]) -> float:
    """Median over rounds of the per-round ratio: steadier than a ratio of medians when the
    machine's load drifts."""
    return statistics.median(a / b for a, b in zip(numerator, denominator, strict=True))


def loglog_slope(sizes: list[float], seconds: list[float]) -> float:
    """Least-squares slope of log(seconds) against log(size): the scaling exponent."""
    xs = [math.log(s) for s in sizes]
    ys = [math.log(t) for t in seconds]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mean_x) ** 2 for x in xs)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    return sxy / sxx


def print_summary(rows: list[Row]) -> None:
    widths = [
        max(len(header), *(len(getattr(r, field)) for r in rows))
        for header, field in (("measure", "measure"), ("value", "value"), ("target", "target"), ("status", "status"))
    ]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    print(line.format("measure", "value", "target", "status"))
    print(line.format(*("-" * w for w in widths)))
    for row in rows:
        print(line.format(row.measure, row.value, row.target, row.status))
    passed = sum(r.status == "PASS" for r in rows)
    missed = sum(r.status == "MISS" for r in rows)
    print(f"{passed} PASS, {missed} MISS, {len(rows) - passed - missed} without a target")


# RESULTS.md is written by two programs: examples/paper/run_experiments.py owns everything
# before this heading, `bench/run_all.py --results RESULTS.md` this heading and what follows.
RESULTS_BENCH_HEADING = "## 4. Benchmarks (`make bench`)"


def summary_markdown(rows: list[Row]) -> list[str]:
    """The summary table as Markdown lines."""
    lines = ["| measure | value | target | status |", "|---|---|---|---|"]
    lines += [f"| {r.measure} | {r.value} | {r.target} | {r.status} |" for r in rows]
    passed = sum(r.status == "PASS" for r in rows)
    missed = sum(r.status == "MISS" for r in rows)
    return [*lines, "", f"{passed} PASS, {missed} MISS, {len(rows) - passed - missed} without a target."]


def write_results_section(path: Path, rows: list[Row], seconds: float) -> None:
    """Replace (or add) the benchmark section of ``path``, keeping what comes before it; the
    file is written whole to a temporary name and renamed."""
    old = path.read_text(encoding="utf-8") if path.exists() else "# Results\n"
    head = old.split("\n" + RESULTS_BENCH_HEADING, 1)[0].rstrip("\n")
    section = [
        "",
        RESULTS_BENCH_HEADING,
        "",
        "Regenerate with `.venv/bin/python bench/run_all.py --results RESULTS.md` (`make bench` prints the same",
        f"tables without writing). Ratios are measured side by side in one run; this run took {seconds:.0f} s.",
        "",
        "```",
        *machine_lines(),
        "```",
        "",
        *summary_markdown(rows),
    ]
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(head + "\n" + "\n".join(section) + "\n", encoding="utf-8")
    temporary.replace(path)
