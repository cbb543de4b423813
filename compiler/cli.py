"""`survae-compile`: check a `.survae` file, write its PyTorch module, draw its diagram.

Exit status: 0 success, 1 the model has errors (diagnostics on stderr) or a file problem,
2 bad command-line usage, 3 an internal error (a bug in survae-compile).
"""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path

from .diagnostics import CompileError, InternalError, render_all
from .driver import check_source
from .files import write_atomic
from .report import format_report

# The back ends load only when asked for, so that `--check` starts fast.
FORMATS = ("svg", "png", "pdf", "dot")


class UsageError(Exception):
    """A problem with the command line or the files named on it."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="survae-compile",
        description="Compile a .survae model file (SurVAE Flows) to a PyTorch module, check it, or draw it.",
    )
    parser.add_argument("file", help="the .survae model file")
    parser.add_argument("-o", "--output", metavar="OUT.py", help="write the compiled PyTorch module here")
    parser.add_argument(
        "--check", action="store_true", help="print each model's likelihood class (exact or lower bound) and tensor types"
    )
    parser.add_argument("--render", metavar="OUT.{svg,png,pdf,dot}", help="draw the model graph (format from the suffix)")
    parser.add_argument("--model", metavar="NAME", help="only this model of the file")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except CompileError as exc:
        print(exc.render(), file=sys.stderr)
        errors = sum(d.is_error for d in exc.diagnostics)
        untouched = "; nothing written" if args.output or args.render else ""
        print(f"\n{args.file}: {errors} error{'s' * (errors != 1)}{untouched}", file=sys.stderr)
        return 1
    except UsageError as exc:
        print(f"survae-compile: error: {exc}", file=sys.stderr)
        return 1
    except InternalError as exc:
        return _internal(exc)
    except Exception as exc:  # noqa: BLE001 - anything else is our bug, and says so
        return _internal(exc)


def _internal(exc: BaseException) -> int:
    traceback.print_exception(exc, file=sys.stderr)
    print(
        "\nsurvae-compile: internal error: this is a bug in survae-compile, not in your model. "
        "Please report it with the model file.",
        file=sys.stderr,
    )
    return 3


def run(args: argparse.Namespace) -> int:
    source_path = Path(args.file)
    outputs = [Path(p) for p in (args.output, args.render) if p]
    _check_paths(source_path, outputs)
    try:
        text = source_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {source_path}: {_reason(exc)}") from None
    compilation = check_source(text, filename=str(source_path))
    models = compilation.model(args.model)
    if compilation.warnings:
        print(render_all(compilation.warnings, compilation.source), file=sys.stderr)
    # Build everything before writing anything: a failure leaves every output untouched.
    pending: list[tuple[Path, bytes]] = []
    if args.output:
        from .codegen import emit_module

        pending.append((Path(args.output), emit_module(models, source_path.name).encode("utf-8")))
    if args.render:
        from .render_dot import RenderError, render

        try:
            pending.append((Path(args.render), render(models, _format(args.render))))
        except RenderError as exc:
            raise UsageError(str(exc)) from None
    for path, data in pending:
        _write(path, data)
    if args.check or not pending:
        sys.stdout.write(format_report(models))
    return 0


def _check_paths(source: Path, outputs: list[Path]) -> None:
    for out in outputs:
        if out.exists() and source.exists() and out.resolve() == source.resolve():
            raise UsageError(f"refusing to overwrite the input file {source} with an output")


def _format(path: str) -> str:
    fmt = Path(path).suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise UsageError(f"cannot render to `{path}`: the file name must end in " + ", ".join(f".{f}" for f in FORMATS))
    return fmt


def _write(path: Path, data: bytes) -> None:
    try:
        write_atomic(path, data)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {_reason(exc)}") from None


def _reason(exc: BaseException) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


if __name__ == "__main__":
    sys.exit(main())
