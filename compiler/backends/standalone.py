"""`survae-compile --standalone`: a module that needs only torch.

The runtime modules the model uses (and those they import) are copied into the generated file
from the installed `survae_dsl.nn` sources, in a fixed order: their relative imports and
`__all__` removed, everything else verbatim. A class named `snn` then gathers the runtime names,
so the model classes below read exactly as in the normal module. The sources are read as text
and parsed with `ast`; nothing is imported, so compiling stays torch-free.
"""

from __future__ import annotations

import ast
from importlib import resources

from ..core.diagnostics import InternalError

RUNTIME_PACKAGE = "survae_dsl.nn"
# `survae_dsl.types` (standard library only), which the runtime re-exports for `input_types`:
# copied like a runtime module, under the name `types`.
TYPES_PACKAGE, TYPES_MODULE = "survae_dsl", "types"
# Imports a standalone module may contain besides torch (the runtime's own standard-library use).
STANDARD_LIBRARY = frozenset({"__future__", "math", "typing", "collections.abc", "contextlib", "contextvars", "re"})


def runtime_sources() -> dict[str, str]:
    """Module name (`couplings`) → source text, for every module of the runtime package and
    for `survae_dsl.types` (as `types`)."""
    folder = resources.files(RUNTIME_PACKAGE)
    sources = {
        entry.name.removesuffix(".py"): entry.read_text(encoding="utf-8")
        for entry in sorted(folder.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".py") and entry.name != "__init__.py"
    }
    if TYPES_MODULE in sources:
        raise InternalError(f"the runtime has a module named {TYPES_MODULE!r}")
    types_file = resources.files(TYPES_PACKAGE).joinpath(f"{TYPES_MODULE}.py")
    sources[TYPES_MODULE] = types_file.read_text(encoding="utf-8")
    return sources


def _defines(tree: ast.Module) -> set[str]:
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def _relative_imports(tree: ast.Module) -> set[str]:
    """The copied modules a runtime module imports: its siblings (`from .x import`) and
    `survae_dsl.types` (`from ..types import`, copied as `types`)."""
    return {
        node.module
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        and node.module
        and (node.level == 1 or (node.level == 2 and node.module == TYPES_MODULE))
    }


def needed_modules(names: set[str], sources: dict[str, str]) -> list[str]:
    """The runtime modules defining `names`, with the modules they import, dependencies first."""
    trees = {name: ast.parse(text) for name, text in sources.items()}
    wanted: list[str] = []
    missing = set(names)

    def visit(module: str) -> None:
        if module in wanted:
            return
        for dependency in sorted(_relative_imports(trees[module])):
            visit(dependency)
        wanted.append(module)

    for module in sorted(trees):
        defined = _defines(trees[module]) & missing
        if defined:
            missing -= defined
            visit(module)
    if missing:
        raise InternalError(f"runtime names without a module: {sorted(missing)}")
    return wanted


def stripped(source: str) -> str:
    """A runtime module without its `from __future__`, relative imports and `__all__`."""
    tree = ast.parse(source)
    drop: set[int] = set()
    for node in tree.body:
        relative = isinstance(node, ast.ImportFrom) and (node.level >= 1 or node.module == "__future__")
        exported = isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        )
        if relative or exported:
            drop |= set(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    lines = [line for number, line in enumerate(source.splitlines(), start=1) if number not in drop]
    return "\n".join(lines).strip("\n") + "\n"


def standalone_module(generated: str, used: set[str]) -> str:
    """The normal generated module `generated`, made self-contained: `used` are the runtime
    names it references (`snn.X`)."""
    sources = runtime_sources()
    modules = needed_modules(used | {"Model", "iw_log_prob", "bits_per_dim"}, sources)
    head, _, models = generated.partition("import survae_dsl.nn as snn\n")
    if not models:
        raise InternalError("the generated module does not import the runtime as expected")
    parts = [head]
    for module in modules:
        package = TYPES_PACKAGE if module == TYPES_MODULE else RUNTIME_PACKAGE
        parts.append(f"# {'-' * 92}\n# Copied from {package}.{module}\n\n{stripped(sources[module])}")
    exported = sorted(used | {"Model", "iw_log_prob", "bits_per_dim"})
    gather = "\n".join(f"    {name} = {name}" for name in exported)
    rule = f"# {'-' * 92}\n# The runtime names the model classes below use, as in the normal module."
    parts.append(f"{rule}\n\n\nclass snn:\n{gather}\n")
    return "\n\n".join(part.rstrip("\n") + "\n" for part in parts) + models
