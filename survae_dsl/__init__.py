"""survae-dsl: a declarative model-graph compiler for SurVAE Flows.

Public API (re-exported lazily, PEP 562, so that importing the compiler never pulls in torch):

- `load(path, model=None, search_path=())` → the compiled model class of a `.survae` file
  (the modules of its user transforms come from the file's folder first, then `search_path`);
- `compile_source(text, filename=..., model=None, search_path=())` → compiled classes by model name;
- `check(path_or_source)` → the checked models (displayed as their diagram in a notebook);
- `render(path_or_source, model=None, collapse=False, direction="inference")` → a
  `graphviz.Digraph` of the architecture;
- `CompileError` — raised for a bad model, carrying its diagnostics;
- `Model`, `iw_log_prob`, `bits_per_dim` — from the runtime, `survae_dsl.nn`;
- `load_trained(run_dir, device="cpu")` → a model trained by `survae-train`, from its output folder.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the same names for type checkers and editors, which do not run __getattr__
    from .compiler.core.diagnostics import CompileError
    from .compiler.drivers.api import check, compile_source, load, render
    from .nn import Model, bits_per_dim, iw_log_prob
    from .trained import load_trained

__version__ = "0.1.0"

_EXPORTS = {
    "load": "survae_dsl.compiler.drivers.api",
    "compile_source": "survae_dsl.compiler.drivers.api",
    "check": "survae_dsl.compiler.drivers.api",
    "render": "survae_dsl.compiler.drivers.api",
    "CompileError": "survae_dsl.compiler.core.diagnostics",
    "Model": "survae_dsl.nn",
    "iw_log_prob": "survae_dsl.nn",
    "bits_per_dim": "survae_dsl.nn",
    "load_trained": "survae_dsl.trained",
}

__all__ = [
    "CompileError",
    "Model",
    "__version__",
    "bits_per_dim",
    "check",
    "compile_source",
    "iw_log_prob",
    "load",
    "load_trained",
    "render",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'survae_dsl' has no attribute {name!r}")
    value = getattr(import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
