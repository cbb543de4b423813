"""`survae-compile`: check a `.survae` file, write its PyTorch module, draw its diagram.

Exit status: 0 success, 1 the model has errors (diagnostics on stderr) or a file problem,
2 bad command-line usage, 3 an internal error (a bug in survae-compile).
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path

from ..backends.report import format_report
from ..core.diagnostics import CompileError, InternalError, render_all
from ..core.files import write_atomic
from ..core.gc_pause import paused_gc
from .driver import check_source
from .impl_modules import missing_impl_warnings

# The back ends load only when asked for, so that `--check` starts fast.
FORMATS = ("svg", "png", "pdf", "dot")


# What --serve cannot be combined with (the page itself checks, writes and draws).
_ACTIONS = ("--output", "--check", "--render", "--info", "--emit", "--format", "--standalone", "--model")


class UsageError(Exception):
    """A problem with the command line or the files named on it."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="survae-compile",
        description="Compile a .survae model file (SurVAE Flows) to a PyTorch module, check it, or draw it.",
    )
    parser.add_argument("file", nargs="?", help="the .survae model file")
    parser.add_argument("-o", "--output", metavar="OUT.py", help="write the compiled PyTorch module here")
    parser.add_argument(
        "--check",
        action="store_true",
        help="print each model's likelihood class (exact or lower bound), tensor types and parameter counts",
    )
    parser.add_argument(
        "--render", metavar="OUT.{svg,png,pdf,dot}", help="draw the model graph (format from the suffix)"
    )
    parser.add_argument("--model", metavar="NAME", help="only this model of the file")
    parser.add_argument(
        "--collapse", action="store_true", help="with --render: draw each repeat and block call as one node"
    )
    parser.add_argument(
        "--direction",
        choices=("inference", "generative"),
        default="inference",
        help="with --render: draw the data -> latent direction (default) or the sampling direction",
    )
    parser.add_argument("--info", action="store_true", help="print the --check findings as JSON (see --info-schema)")
    parser.add_argument("--info-schema", action="store_true", help="print the JSON schema of --info and exit")
    parser.add_argument("--emit", choices=("ast", "ir", "python"), help="print one phase of the pipeline")
    parser.add_argument("--explain", metavar="CODE", help="explain a diagnostic code, with a wrong and a right example")
    parser.add_argument(
        "--format", action="store_true", help="rewrite the file in the canonical layout (keeps comments)"
    )
    parser.add_argument(
        "--standalone", action="store_true", help="with -o: copy the runtime into the module, so it needs only torch"
    )
    parser.add_argument(
        "--serve",
        action="store_true",
        help="edit the file (or a starter model) in a live local web page: verdict, diagnostics, diagram as you type",
    )
    parser.add_argument(
        "--port", type=int, metavar="N", help="with --serve: the port (default 7301, or a free one; 0: any free port)"
    )
    parser.add_argument("--open", action="store_true", help="with --serve: open the page in the web browser")
    return parser


# One pause of the garbage collector for the whole run (parse, check, code, diagram): only
# here, in the command line; the library calls leave a caller's collector alone.
@paused_gc()
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.file is None and not (args.info_schema or args.explain or args.serve):
        parser.error("the following arguments are required: file")
    if (args.port is not None or args.open) and not args.serve:
        parser.error("--port and --open go with --serve")
    if args.serve and (others := [f for f in _ACTIONS if getattr(args, f.lstrip("-").replace("-", "_"))]):
        parser.error(f"--serve starts the playground and does nothing else; drop {', '.join(others)}")
    if args.port is not None and not 0 <= args.port <= 65535:
        parser.error(f"--port must be between 0 and 65535, not {args.port}")
    try:
        return run(args)
    except CompileError as exc:
        if args.info:
            return _info_failure(args.file, exc)
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


def _info_failure(filename: str, exc: CompileError) -> int:
    from ..backends.info import build_info

    sys.stdout.write(build_info(filename, [], exc.diagnostics, ok=False).model_dump_json(indent=2) + "\n")
    return 1


def run(args: argparse.Namespace) -> int:
    if args.info_schema:
        from ..backends.info import Info

        sys.stdout.write(json.dumps(Info.model_json_schema(), indent=2) + "\n")
        return 0
    if args.explain:
        return _explain(args.explain)
    if args.serve:
        return _serve(args)
    if args.format:
        return _format_file(Path(args.file))
    source_path = Path(args.file)
    outputs = [Path(p) for p in (args.output, args.render) if p]
    _check_paths(source_path, outputs)
    try:
        text = source_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {source_path}: {_reason(exc)}") from None
    if args.emit == "ast":
        from ..core.source import Source
        from ..frontend.parse import parse
        from .phases import dump_ast

        sys.stdout.write(dump_ast(parse(Source(str(source_path), text))))
        return 0
    compilation = check_source(text, filename=str(source_path))
    models = compilation.model(args.model)
    # W404: a transform's module is neither next to the file nor importable here (looked for, never imported).
    warnings = compilation.warnings + missing_impl_warnings(models, compilation.source)
    if args.info:
        from ..backends.info import build_info

        info = build_info(str(source_path), models, warnings, ok=True)
        sys.stdout.write(info.model_dump_json(indent=2) + "\n")
        return 0
    if warnings:
        print(render_all(warnings, compilation.source), file=sys.stderr)
    if args.emit:
        from ..backends.codegen import emit_module
        from .phases import dump_ir

        sys.stdout.write(dump_ir(models) if args.emit == "ir" else emit_module(models, source_path.name))
        return 0
    # Build everything before writing anything: a failure leaves every output untouched.
    pending: list[tuple[Path, bytes]] = []
    if args.output:
        from ..backends.codegen import emit_module

        code = emit_module(models, source_path.name, standalone=args.standalone)
        pending.append((Path(args.output), code.encode("utf-8")))
    if args.render:
        from ..backends.render_dot import RenderError, render

        try:
            pending.append((Path(args.render), render(models, _format(args.render), args.collapse, args.direction)))
        except RenderError as exc:
            raise UsageError(str(exc)) from None
    for path, data in pending:
        _write(path, data)
    if args.check or not pending:
        from ..backends.param_count import file_parameter_counts

        sys.stdout.write(format_report(models, file_parameter_counts(models)))
    return 0


def _explain(code: str) -> int:
    from ..core.codes import BY_CODE
    from ..core.suggest import did_you_mean
    from ..doctools.explain import explain

    try:
        sys.stdout.write(explain(code).rstrip("\n") + "\n")
    except KeyError:
        typed = code.strip().upper()
        lookalike = typed[:1] + typed[1:].replace("O", "0").replace("I", "1").replace("L", "1")
        hint = (
            f"did you mean `{lookalike}`?"
            if lookalike in BY_CODE
            else did_you_mean(typed, list(BY_CODE)) or "see docs/diagnostics.md for the list"
        )
        raise UsageError(f"no diagnostic code `{code}`; {hint}") from None
    return 0


def _serve(args: argparse.Namespace) -> int:
    """The live playground, until Ctrl+C. It is an application built on the compiler (in
    survae_dsl/playground, with its own dependencies), which only this flag starts."""
    from survae_dsl.playground import ServeError, serve

    try:
        return serve(Path(args.file) if args.file else None, args.port, args.open)
    except ServeError as exc:
        raise UsageError(str(exc)) from None
    except KeyboardInterrupt:
        return 0


def _format_file(path: Path) -> int:
    """Rewrite `path` canonically (atomically, only if it changes); a syntax error leaves it."""
    from ..frontend.format import format_source

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {_reason(exc)}") from None
    formatted = format_source(text, str(path))
    if formatted != text:
        _write(path, formatted.encode("utf-8"))
        print(f"formatted {path}", file=sys.stderr)
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
