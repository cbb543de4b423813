"""Where the modules of user transforms (`impl "module:Class"`) are found, and importing them.

The compiler never imports them. The command line only looks (`missing_impl_warnings`, W404):
importlib's file finders list folders and run no code of the module. `load()` and
`compile_source()` import them when they run the generated module (`impl_modules_imported`),
from the first of: the model file's folder, the folders of `search_path`, the normal import
path. What is not found, fails to import or lacks its class is an E216 diagnostic at the
`impl` line, never a bare traceback.

A module of the same name found elsewhere (imported already, or on the import path) is not
replaced for the rest of the process: the one next to the model serves the model, and
`sys.modules` is put back as it was once the generated module holds it. A module that hides
nothing stays imported, as an ordinary import would leave it. `sys.path` is never changed.
(While a model runs its imports, another thread importing a module of the same name would get
the model's: `sys.modules` is one for the process.)
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.machinery import (
    BYTECODE_SUFFIXES,
    EXTENSION_SUFFIXES,
    SOURCE_SUFFIXES,
    ExtensionFileLoader,
    FileFinder,
    ModuleSpec,
    SourceFileLoader,
    SourcelessFileLoader,
)
from pathlib import Path
from types import ModuleType

from ..core import codes
from ..core.diagnostics import CompileError, Diagnostic, error, warning
from ..core.source import Source, Span
from ..core.suggest import did_you_mean
from ..ir.checked import CheckedModel

MODEL_FOLDER = "the model file's folder"
SEARCH_PATH = "`search_path`"

# Folders to search for the modules: a list of them, or one.
SearchPath = Sequence[str | os.PathLike[str]] | str | os.PathLike[str]


@dataclass(frozen=True)
class ImplUse:
    """One user transform's or net's `impl`: its name, module, class and the span of the `impl` string."""

    transform: str
    module: str
    cls: str
    span: Span
    what: str = "transform"  # or "net": which declaration it is, for messages

    @property
    def top(self) -> str:
        """The top-level package of the module (`mylayers` of `mylayers.clip`)."""
        return self.module.partition(".")[0]


@dataclass(frozen=True)
class Folder:
    """A folder searched for the modules, and what it is (shown in messages)."""

    path: Path
    why: str

    def __str__(self) -> str:
        return f"{self.path} ({self.why})"


def impl_uses(models: Iterable[CheckedModel], source: Source) -> list[ImplUse]:
    """Each user transform the models call, once, in the order of the `impl` lines."""
    found: dict[str, ImplUse] = {}
    for model in models:
        for call in model.bound.values():
            for what, name, user in call.user_impls():
                if name not in found:
                    span = user.span or Span(source.filename, 1, 1, 1, 2)
                    found[name] = ImplUse(name, user.module, user.cls, span, what)
    return sorted(found.values(), key=lambda u: (u.span.line, u.span.column, u.transform))


def search_folders(filename: str, search_path: SearchPath = ()) -> list[Folder]:
    """The folders searched before the import path: the model file's (when `filename` names an
    existing file, so not `<string>`), then `search_path` in order; each once, absolute."""
    if isinstance(search_path, (str, os.PathLike)):
        search_path = [search_path]
    folders = [Folder(Path(filename).resolve().parent, MODEL_FOLDER)] if Path(filename).is_file() else []
    folders += [Folder(Path(p).resolve(), SEARCH_PATH) for p in search_path]
    unique: dict[Path, Folder] = {}
    for folder in folders:
        unique.setdefault(folder.path, folder)
    return list(unique.values())


# --------------------------------------------------------------------------------------------
# Looking, without importing


# What the standard path finders recognise as a module file, in their order.
_LOADERS = (
    (ExtensionFileLoader, EXTENSION_SUFFIXES),
    (SourceFileLoader, SOURCE_SUFFIXES),
    (SourcelessFileLoader, BYTECODE_SUFFIXES),
)


def _spec(name: str, locations: Sequence[str]) -> ModuleSpec | None:
    """The spec of `name` (its last part) in these folders, as the import system would find it
    there: the first module or regular package, else a namespace package of every folder of
    that name. It lists folders and runs no code; unlike `PathFinder` it needs no parent
    package imported and fills no import cache."""
    portions: list[str] = []
    for location in locations:
        try:
            spec = FileFinder(location, *_LOADERS).find_spec(name)
        except (ImportError, OSError, ValueError):
            continue
        if spec is not None and spec.loader is not None:
            return spec
        if spec is not None:
            portions += spec.submodule_search_locations or []
    if not portions:
        return None
    namespace = ModuleSpec(name, None, is_package=True)
    namespace.submodule_search_locations = portions
    return namespace


def _below(spec: ModuleSpec, module: str, depth: int) -> bool:
    """Whether `module` lies below the package `spec` of its first `depth` parts (each level
    found by its folder, not by running an `__init__`); a namespace folder is no module."""
    parts = module.split(".")
    for end in range(depth + 1, len(parts) + 1):
        if spec.submodule_search_locations is None:
            return False
        found = _spec(".".join(parts[:end]), list(spec.submodule_search_locations))
        if found is None:
            return False
        spec = found
    return spec.origin is not None


def find_in_folder(module: str, folder: Path) -> ModuleSpec | None:
    """The spec of the top-level package of `module` in `folder` if all of `module` lies there."""
    top = _spec(module.partition(".")[0], [str(folder)])
    return top if top is not None and _below(top, module, 1) else None


def _top_on_import_path(top: str) -> ModuleSpec | None:
    """The spec the normal import of `top` would use (imported or not); runs no code."""
    try:
        return importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None


def on_import_path(module: str) -> bool:
    """Whether `module` is on this Python's import path, looking without importing."""
    top = _top_on_import_path(module.partition(".")[0])
    return top is not None and (module == top.name or _below(top, module, 1))


def module_file(module: str) -> str:
    """The file that would hold `module`, relative to a folder: `mylayers.py`, `a/b.py`."""
    return module.replace(".", "/") + ".py"


def missing_impl_warnings(models: Iterable[CheckedModel], source: Source) -> list[Diagnostic]:
    """W404 for each user transform whose module is neither in the model file's folder nor on
    the compiler's own import path (the command line: it looks and never imports)."""
    folders = search_folders(source.filename)
    found: list[Diagnostic] = []
    for use in impl_uses(models, source):
        if any(find_in_folder(use.module, f.path) for f in folders) or on_import_path(use.module):
            continue
        where = f"neither in {folders[0]} nor " if folders else "not "
        found.append(
            warning(
                codes.W404,
                use.span,
                f"{use.what} `{use.transform}` imports `{use.module}`, which is {where}on this Python's import path",
                f"`load()` would fail (E216): put `{module_file(use.module)}` next to the model file or install it; "
                "a module written with `-o` imports it by name, so it must be importable where that module runs",
            )
        )
    return found


# --------------------------------------------------------------------------------------------
# Importing, for `load()` and `compile_source()`


@contextmanager
def impl_modules_imported(models: Iterable[CheckedModel], folders: Sequence[Folder], source: Source) -> Iterator[None]:
    """Import the modules the models' user transforms name, for the generated module: its
    `import` statements then find them in `sys.modules`. Raises `CompileError` (E216, the first
    error of a module's own code chained as the cause) if one cannot be imported. On leaving,
    the entries that hide a module of the same name are put back as they were."""
    uses = impl_uses(models, source)
    if not uses:
        yield
        return
    importer = _Importer(folders)
    try:
        diagnostics = [d for use in uses if (d := importer.provide(use)) is not None]
        if diagnostics:
            raise CompileError(diagnostics, source) from importer.cause
        yield
    except BaseException:
        importer.failed = True
        raise
    finally:
        importer.restore()


def _family(top: str) -> dict[str, ModuleType]:
    """The `sys.modules` entries of the package `top` and its submodules."""
    return {name: m for name, m in list(sys.modules.items()) if name == top or name.startswith(top + ".")}


def _real(path: str | os.PathLike[str]) -> str:
    return os.path.realpath(path)


def _same_place(module: ModuleType | ModuleSpec, spec: ModuleSpec) -> bool:
    """Whether an imported module (or another spec) comes from where `spec` points."""
    origin = module.origin if isinstance(module, ModuleSpec) else getattr(module, "__file__", None)
    if spec.origin is not None:
        return origin is not None and _real(origin) == _real(spec.origin)
    paths = module.submodule_search_locations if isinstance(module, ModuleSpec) else getattr(module, "__path__", None)
    ours = {_real(p) for p in spec.submodule_search_locations or ()}
    return origin is None and paths is not None and bool(ours) and ours <= {_real(p) for p in paths}


def _where(module: ModuleType | None) -> str:
    """` (from FILE)` for a module with a file or a folder, else ''."""
    if module is None:
        return ""
    place = getattr(module, "__file__", None) or next(iter(getattr(module, "__path__", None) or ()), None)
    return f" (from {place})" if place else ""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else ""
    return f"{type(exc).__name__}: {line[:200]}" if line else type(exc).__name__


class _Importer:
    """Imports each top-level package once, from the first place that has it; remembers what
    to put back in `sys.modules`."""

    def __init__(self, folders: Sequence[Folder]) -> None:
        self.folders = list(folders)
        self.decided: set[str] = set()
        self.broken: set[str] = set()  # tops that were not found or failed to import
        self.saved: dict[str, dict[str, ModuleType]] = {}  # top -> its entries before we imported it
        self.temporary: set[str] = set()  # tops whose entries go back even after success
        self.cause: BaseException | None = None
        self.failed = False

    def provide(self, use: ImplUse) -> Diagnostic | None:
        """Import the module of `use` and check its class; an E216 diagnostic if that fails."""
        if use.top in self.broken:
            return None  # its diagnostic is given, at the first transform that imports it
        if use.top not in self.decided:
            self.decided.add(use.top)
            problem = self._import_top(use)
            if problem is not None:
                self.broken.add(use.top)
                return problem
        try:
            module = importlib.import_module(use.module)
        except ModuleNotFoundError as exc:
            if exc.name is not None and (use.module + ".").startswith(exc.name + "."):
                return self._not_found(use, exc.name)
            return self._raised(use, exc)
        except Exception as exc:  # noqa: BLE001 - the user's module failed: a diagnostic, its traceback chained
            return self._raised(use, exc)
        if not hasattr(module, use.cls):
            names = [n for n in dir(module) if not n.startswith("_")]
            hint = did_you_mean(use.cls, names) or "name the class after the colon of `impl`"
            message = f"{use.what} `{use.transform}`: module `{use.module}`{_where(module)} has no `{use.cls}`"
            return error(codes.E216, use.span, message, hint)
        return None

    def _import_top(self, use: ImplUse) -> Diagnostic | None:
        """Import the top-level package of `use` from the first folder holding all of its
        module; without one, leave it to the normal import (None), or say it is nowhere."""
        hit = next(((f, s) for f in self.folders if (s := find_in_folder(use.module, f.path)) is not None), None)
        if hit is None:
            if use.top in sys.modules or _top_on_import_path(use.top) is not None:
                return None
            return self._not_found(use, use.top)
        _, spec = hit
        existing = sys.modules.get(use.top)
        if existing is not None and _same_place(existing, spec):
            return None
        other = _top_on_import_path(use.top) if existing is None else None
        self.saved[use.top] = _family(use.top)
        if existing is not None or (other is not None and not _same_place(other, spec)):
            self.temporary.add(use.top)  # it hides another module of that name: only for this model
        for name in self.saved[use.top]:
            del sys.modules[name]
        module = importlib.util.module_from_spec(spec)
        sys.modules[use.top] = module
        try:
            assert spec.loader is not None  # module_from_spec gives a namespace folder its loader
            spec.loader.exec_module(module)
        except Exception as exc:  # noqa: BLE001 - the user's module failed: a diagnostic, its traceback chained
            return self._raised(use, exc, module)
        return None

    def _not_found(self, use: ImplUse, missing: str) -> Diagnostic:
        parent = missing.rpartition(".")[0]
        if parent:
            holder = sys.modules.get(parent)
            message = (
                f"{use.what} `{use.transform}` imports `{use.module}`, but `{parent}`{_where(holder)} "
                f"has no module `{missing.rpartition('.')[2]}`"
            )
            return error(codes.E216, use.span, message, f"add `{module_file(missing)}`, or fix the path in `impl`")
        places = [f"in {f}" for f in self.folders] + ["on the Python import path"]
        looked = ", not ".join(places[:-1]) + (" and not " if len(places) > 1 else "") + places[-1]
        message = f"{use.what} `{use.transform}` imports `{use.module}`, which is not {looked}"
        if not self.folders:
            looked_hint = "pass `filename=` the model file's path or `search_path=[FOLDER]`, or install it"
        else:
            looked_hint = "put it next to the model file, pass `search_path=[FOLDER]`, or install it"
        hint = f"the module is the file `{module_file(use.module)}` (or a package folder): {looked_hint}"
        return error(codes.E216, use.span, message, hint)

    def _raised(self, use: ImplUse, exc: BaseException, module: ModuleType | None = None) -> Diagnostic:
        self.cause = self.cause or exc
        message = f"{use.what} `{use.transform}`: importing `{use.module}`{_where(module)} raised {_first_line(exc)}"
        hint = "the error is in that module's code; its traceback is chained to this error (`__cause__`)"
        return error(codes.E216, use.span, message, hint)

    def restore(self) -> None:
        """Put back the entries of `sys.modules` that must not change: all of them after a
        failure, else those of packages that hide a module of the same name."""
        for top, before in self.saved.items():
            if self.failed or top in self.temporary:
                for name in _family(top):
                    del sys.modules[name]
                sys.modules.update(before)
