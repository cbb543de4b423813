"""`make bench`: every benchmark of bench/ in one run, then one summary table.

1. compile time and its scaling (bench_compile.py);
2. compiled module vs hand-assembled, 3. eager vs torch.compile, 4. sampling throughput
   5. input validation on vs off (bench_runtime.py);
6. language server: change to published diagnostics, 7. its memory over 1,000 edits (bench_lsp.py);
8. onnxruntime vs eager log_prob throughput of exported models (bench_export.py);
9. data-parallel training: examples/s of 1 vs 2 CPU processes (bench_train_scaling.py);
10. the playground: keystroke to updated diagram in headless Chromium (bench_playground.py).

Targets are printed as PASS or MISS, never asserted. Repetitions adapt to the machine so
that the whole run takes a few minutes on two cores. `--results RESULTS.md` also writes the
summary into that file's benchmark section.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import bench_compile
import bench_export
import bench_lsp
import bench_playground
import bench_runtime
import bench_train_scaling
from common import Row, machine_lines, print_summary, write_results_section


def main() -> None:
    parser = argparse.ArgumentParser(description="Run every benchmark and print one summary table.")
    parser.add_argument(
        "--results", type=Path, metavar="FILE", help="also write the summary into FILE's benchmark section"
    )
    args = parser.parse_args()
    start = time.perf_counter()
    print("survae-dsl benchmarks")
    print("\n".join(machine_lines()) + "\n", flush=True)
    rows: list[Row] = []
    bench_compile.run(rows)
    bench_runtime.run(rows)
    bench_lsp.run(rows)
    bench_export.run(rows)
    bench_train_scaling.run(rows)
    bench_playground.run(rows)
    seconds = time.perf_counter() - start
    print(f"\nsummary (whole run {seconds:.0f} s)")
    print_summary(rows)
    if args.results is not None:
        write_results_section(args.results, rows, seconds)
        print(f"wrote the benchmark section of {args.results}")


if __name__ == "__main__":
    main()
