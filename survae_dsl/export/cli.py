"""The `survae-export` command line: a model file or trained run folder → a checked `.onnx` or `.pt2`.

Exit status 0 when written, 1 for a user error (one line on stderr, nothing written), 2 for a
usage error (argparse).
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Sequence

from .core import CHECK_BATCHES, ExportReport, export_model
from .errors import ExportError

PROG = "survae-export"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Export a .survae model (fresh weights) or a survae-train run folder to ONNX or torch.export's .pt2. "
            "Every random draw (dequantization and augmentation noise, the latent draw and the inverse draws of "
            "sampling) is an input of the program, after the data; the batch axis is symbolic. Before writing, "
            "the program is run (onnxruntime, or torch.export.load) next to the eager model on the same inputs "
            "and the largest difference is reported."
        ),
        epilog="Inputs and outputs, noise laws included, are listed on stdout and stored in the file (docs/export.md).",
    )
    parser.add_argument("source", metavar="BUNDLE_OR_MODEL", help="a .survae file or a survae-train output folder")
    parser.add_argument("-o", "--output", required=True, metavar="FILE", help="the file to write (.onnx or .pt2)")
    parser.add_argument("--format", choices=("onnx", "pt2"), help="the file format (default: from the output's suffix)")
    parser.add_argument(
        "--what", choices=("log_prob", "sample"), default="log_prob", help="the method to export (default log_prob)"
    )
    parser.add_argument("--model", metavar="NAME", help="the model to export when the file holds several")
    parser.add_argument(
        "--temperature", type=float, default=1.0, help="with --what sample: the sampling temperature (default 1)"
    )
    parser.add_argument("--seed", type=int, default=0, help="fresh weights of a .survae file, and the check's inputs")
    parser.add_argument(
        "--tolerance",
        type=float,
        help="the largest accepted difference from eager, relative above 1 (default 1e-4 in float32, 1e-10 in float64)",
    )
    return parser


def describe(report: ExportReport) -> list[str]:
    """The lines printed after a successful export."""
    signature = report.signature
    difference = report.difference
    batches = " and ".join(map(str, report.batches))
    megabytes = report.size_bytes / 1e6
    lines = [f"wrote {report.path} ({report.format}, {megabytes:.1f} MB): `{signature.model_name}`.{signature.what}"]
    lines += [f"  {line}" for line in signature.describe()]
    runner = "onnxruntime" if report.format == "onnx" else "torch.export.load"
    lines.append(
        f"checked with {runner} at batch sizes {batches}: largest difference from eager {difference.absolute:.3g} "
        f"(scaled {difference.scaled:.3g}, tolerance {report.tolerance:g}) in {report.seconds:.1f} s"
    )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status."""
    args = build_parser().parse_args(argv)
    # torch's exporters log warnings (unused kernels, skipped optional packages) that are not the user's.
    logging.getLogger("torch").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        # torch's tracers warn about their own internals (deprecations, skipped kernels).
        warnings.simplefilter("ignore")
        try:
            report = export_model(
                args.source,
                args.output,
                format=args.format,
                what=args.what,
                model_name=args.model,
                temperature=args.temperature,
                batches=CHECK_BATCHES,
                tolerance=args.tolerance,
                seed=args.seed,
            )
        except ExportError as exc:
            print(f"{PROG}: error: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print(f"{PROG}: interrupted; {args.output} not written", file=sys.stderr)
            return 130
    print("\n".join(describe(report)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
