"""The survae-dsl compiler: `.survae` text → checked model graphs → PyTorch code and diagrams.

Importing the compiler never imports torch; only `compile_source`/`load` (which execute the
generated module) and the runtime do.
"""

from __future__ import annotations

from .api import compile_source, load
from .diagnostics import CompileError, Diagnostic, InternalError
from .driver import Compilation, check_source

__all__ = ["Compilation", "CompileError", "Diagnostic", "InternalError", "check_source", "compile_source", "load"]
