"""`make bench`: every benchmark of bench/ in one run, then one summary table.

1. compile time and its scaling (bench_compile.py);
2. compiled module vs hand-assembled, 3. eager vs torch.compile, 4. sampling throughput
   (bench_runtime.py).

Targets are printed as PASS or MISS, never asserted. Repetitions adapt to the machine so
that the whole run takes a few minutes on two cores.
"""

from __future__ import annotations

import time

import bench_compile
import bench_runtime
from common import Row, machine_lines, print_summary


def main() -> None:
    start = time.perf_counter()
    print("survae-dsl benchmarks")
    print("\n".join(machine_lines()) + "\n", flush=True)
    rows: list[Row] = []
    bench_compile.run(rows)
    bench_runtime.run(rows)
    print(f"\nsummary (whole run {time.perf_counter() - start:.0f} s)")
    print_summary(rows)


if __name__ == "__main__":
    main()
