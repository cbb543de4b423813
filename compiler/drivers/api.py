"""The Python API: compile a `.survae` source or file into model classes in memory."""

from __future__ import annotations

import linecache
import types
from pathlib import Path
from typing import Any

from ..backends.codegen import emit_module
from ..core import codes
from ..core.diagnostics import CompileError, error
from ..core.source import Span
from .driver import check_source
from .impl_modules import SearchPath, impl_modules_imported, search_folders


def compile_source(
    text: str, filename: str = "<string>", model: str | None = None, search_path: SearchPath = ()
) -> dict[str, type[Any]]:
    """The compiled classes by model name; raises `CompileError` for a bad model.

    The generated module is the one `survae-compile -o` would write, executed in a fresh
    module namespace (its source is registered with `linecache`, so tracebacks and
    `inspect.getsource` show it). The modules that user transforms name (`impl`) are imported
    from the folder of `filename` if it names a file, then from the folders of `search_path`,
    then from the import path (`sys.path` is left as it is); one that is not found, fails to
    import or lacks its class is a `CompileError` (E216) at its `impl` line.
    """
    compilation = check_source(text, filename)
    models = compilation.model(model)
    code = emit_module(models, filename)
    module_name = f"survae_generated.{Path(filename).stem or 'model'}"
    virtual_file = f"<survae-compile {filename}>"
    linecache.cache[virtual_file] = (len(code), None, code.splitlines(keepends=True), virtual_file)
    module = types.ModuleType(module_name)
    module.__file__ = virtual_file
    with impl_modules_imported(models, search_folders(filename, search_path), compilation.source):
        exec(compile(code, virtual_file, "exec"), module.__dict__)  # noqa: S102 - our own, verified output
    # With `model=`, the module also holds the models it uses; return the one asked for.
    return {model: module.MODELS[model]} if model is not None else dict(module.MODELS)


def load(path: str | Path, model: str | None = None, search_path: SearchPath = ()) -> type[Any]:
    """Compile the file at `path` and return one model class (`model=` picks one of several).

    The modules of its user transforms come from the file's folder first, then `search_path`,
    then the import path (see `compile_source`)."""
    text = Path(path).read_text(encoding="utf-8")
    classes = compile_source(text, filename=str(path), model=model, search_path=search_path)
    if len(classes) > 1:
        names = ", ".join(f"`{n}`" for n in classes)
        first_line = Span(str(path), 1, 1, 1, 2)
        raise CompileError(
            [error(codes.E213, first_line, f"{path} holds several models: {names}", "pass `model=NAME`")]
        )
    return next(iter(classes.values()))


def _read(path_or_source: str | Path) -> tuple[str, str]:
    """(text, filename) of a `.survae` path or of source text given directly."""
    if isinstance(path_or_source, Path) or (
        "\n" not in path_or_source and "{" not in path_or_source and Path(path_or_source).is_file()
    ):
        path = Path(path_or_source)
        return path.read_text(encoding="utf-8"), str(path)
    return str(path_or_source), "<string>"


def check(path_or_source: str | Path) -> Any:
    """Check a `.survae` file (or source text) without compiling it to Python: the
    `Compilation` of its models (`.models`, each with `.likelihood` and `.reasons`). In a
    notebook it displays as its diagram. Raises `CompileError` for a bad model."""
    text, filename = _read(path_or_source)
    return check_source(text, filename)


def render(
    path_or_source: str | Path, model: str | None = None, collapse: bool = False, direction: str = "inference"
) -> Any:
    """The diagram of a `.survae` file (or source text) as a `graphviz.Digraph`: it displays
    itself in a notebook, and `.render(...)`/`.pipe(format=...)` write it out."""
    from ..backends.render_dot import build_graph

    compilation = check(path_or_source)
    return build_graph(compilation.model(model), collapse=collapse, direction=direction)
