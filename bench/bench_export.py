"""Export benchmark: onnxruntime against eager PyTorch, `log_prob` throughput.

8. For the AbsFlow (examples/abs_flow.survae, exact) and the digits max-pooling flow
   (examples/paper/digits_maxpool.survae, a lower bound whose dequantization noise is an input
   of the exported program): examples per second of `log_prob` under `torch.no_grad()` in
   eager mode, and of the ONNX model (survae-export, fresh weights) in an onnxruntime CPU
   session, at batch BATCH, printed side by side with their ratio (onnxruntime / eager).
   Eager draws its own noise inside `log_prob`; onnxruntime is given the noise, drawn once.
   Both run on one thread (torch.set_num_threads(1), one onnxruntime intra-op thread): on a
   shared two-core machine, torch's OpenMP threads wait on each other whenever one of them
   is descheduled, which made the two-thread eager figure swing fiftyfold between runs.
   Equal outputs on the same inputs are asserted first (1e-4 relative). No target.

Timings interleave the two round by round (bench/common.py). Run alone with
`python bench/bench_export.py`, or with the others by bench/run_all.py.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import warnings
from pathlib import Path

import torch
from common import EXAMPLES, Row, calls_per_sample, interleaved, machine_lines, paired_ratio, print_summary

from survae_dsl.export import export_model
from survae_dsl.export.onnx_format import onnx_runner
from survae_dsl.export.program import Program
from survae_dsl.export.source import load_model

BATCH = 256
THREADS = 1
BUDGET_SECONDS = 6.0
MODELS = {
    "AbsFlow": EXAMPLES / "abs_flow.survae",
    "digits MaxPoolFlow": EXAMPLES / "paper" / "digits_maxpool.survae",
}


def bench_model(label: str, source: Path, rows: list[Row]) -> None:
    model = load_model(source, seed=0).eval()
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = export_model(model, Path(folder) / "model.onnx")
        data = (Path(folder) / "model.onnx").read_bytes()
    signature = report.signature
    run_onnx = onnx_runner(data, signature, threads=THREADS)
    inputs = signature.example_inputs(BATCH, seed=0)
    data_count = len(signature.data)
    x = inputs[:data_count]
    with torch.no_grad():
        expected = Program(model, signature)(*inputs)
    torch.testing.assert_close(run_onnx(inputs)[0], expected, rtol=1e-4, atol=1e-4)

    def eager() -> None:
        with torch.no_grad():
            model.log_prob(*x)

    def onnxruntime() -> None:
        run_onnx(inputs)

    threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        inner = max(calls_per_sample(eager), calls_per_sample(onnxruntime))
        times = interleaved({"eager": eager, "onnxruntime": onnxruntime}, BUDGET_SECONDS, inner=inner)
    finally:
        torch.set_num_threads(threads)
    eager_rate = BATCH / statistics.median(times["eager"])
    onnx_rate = BATCH / statistics.median(times["onnxruntime"])
    ratio = paired_ratio(times["eager"], times["onnxruntime"])  # seconds eager / seconds onnxruntime
    print(
        f"{label:20s} log_prob, batch {BATCH}, {THREADS} thread: eager {eager_rate:12,.0f} examples/s   "
        f"onnxruntime {onnx_rate:12,.0f} examples/s   onnxruntime / eager {ratio:.2f}x "
        f"(export checked: largest difference {report.difference.absolute:.2g})",
        flush=True,
    )
    rows.append(Row(f"{label} log_prob eager (examples/s)", f"{eager_rate:,.0f}"))
    rows.append(Row(f"{label} log_prob onnxruntime (examples/s)", f"{onnx_rate:,.0f}"))
    rows.append(Row(f"{label} onnxruntime / eager throughput", f"{ratio:.2f}x"))


def run(rows: list[Row]) -> None:
    print("\n8. export: onnxruntime against eager, log_prob throughput", flush=True)
    logging.getLogger("torch").setLevel(logging.ERROR)
    for label, source in MODELS.items():
        bench_model(label, source, rows)


def main() -> None:
    print("\n".join(machine_lines()))
    rows: list[Row] = []
    run(rows)
    print()
    print_summary(rows)


if __name__ == "__main__":
    main()
