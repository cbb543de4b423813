"""The survae-dsl compiler: `.survae` text → checked model graphs → PyTorch code and diagrams.

Importing the compiler never imports torch; only `compile_source`/`load` (which execute the
generated module) and the runtime do. Names are re-exported lazily (PEP 562) so that the
command line loads only the stages it runs.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "compile_source": ".drivers.api",
    "load": ".drivers.api",
    "CompileError": ".core.diagnostics",
    "Diagnostic": ".core.diagnostics",
    "InternalError": ".core.diagnostics",
    "Compilation": ".drivers.driver",
    "check_source": ".drivers.driver",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name], __name__), name)
