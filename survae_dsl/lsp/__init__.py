"""`survae-lsp`: a Language Server Protocol server for `.survae` files, over stdio.

pygls and lsprotocol are the `lsp` extra; they load only when the server starts, so that the
rest of the package imports without them. The server never imports torch (the checker
alone answers every request).
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Run the server on stdin/stdout until the client exits it."""
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in ("-h", "--help"):
        print("usage: survae-lsp\n\nA language server for .survae files: speaks LSP on stdin and stdout.")
        return 0
    if args and args[0] == "--version":
        from importlib.metadata import PackageNotFoundError, version

        try:
            print(f"survae-lsp {version('survae-dsl')}")
        except PackageNotFoundError:
            print("survae-lsp (not installed)")
        return 0
    # VS Code's client (and others) add `--stdio` when the transport is stdio: the only one there is.
    args = [a for a in args if a != "--stdio"]
    if args:
        print(
            f"survae-lsp: error: unknown argument `{args[0]}` (the server takes none; it speaks LSP on stdio)",
            file=sys.stderr,
        )
        return 1
    try:
        import lsprotocol  # noqa: F401
        import pygls  # noqa: F401
    except ImportError:
        print("survae-lsp: error: the language server needs pygls: pip install 'survae-dsl[lsp]'", file=sys.stderr)
        return 1
    from .server import build_server

    build_server().start_io()
    return 0
