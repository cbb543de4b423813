"""The live playground: `survae-compile [MODEL.survae] --serve [--port N] [--open]`.

A local web page that checks a model as it is typed and shows its verdict, diagnostics,
tensor table, parameter counts and diagram (docs/playground.md). The server needs the `serve`
extra (starlette and uvicorn), imported only here.
"""

from __future__ import annotations

from .launch import DEFAULT_PORT, ServeError, serve

__all__ = ["DEFAULT_PORT", "ServeError", "serve"]
