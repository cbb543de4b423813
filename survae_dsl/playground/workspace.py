"""What the playground computes for one text, and the one file it may write. Torch-free.

`Workspace.check(text, collapse, direction)` returns the page's whole view of a text as plain
JSON-ready data: per model the verdict and its reasons, the tensor table and the parameter
counts (the `--info` records of `compiler/backends/info.py`, so the page and `--info` agree),
every diagnostic with its `--explain` text, and the diagram as SVG whose nodes name their source
lines (`render_dot.build_graph(lines=True)`). A model with errors is data here, never an
exception: the page shows what it can.

`Workspace.save(text)` writes the file the server was started with, atomically, and nothing
else; `Workspace.download(text, what)` builds `model.py`, the standalone module or the SVG.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from ..compiler.backends.info import diagnostic_info, model_info
from ..compiler.backends.param_count import file_parameter_counts
from ..compiler.core.diagnostics import CompileError, Diagnostic
from ..compiler.core.files import write_atomic
from ..compiler.drivers.driver import MAX_SOURCE_BYTES, PartialCheck, check_partial, check_source

DIRECTIONS = ("inference", "generative")
# What the download buttons build: (file name, media type).
DOWNLOADS = {
    "model.py": ("model.py", "text/x-python"),
    "standalone": ("model_standalone.py", "text/x-python"),
    "svg": ("model.svg", "image/svg+xml"),
}


# One thread draws the diagrams, one at a time (a check waits for its own drawing).
_LAYOUT = ThreadPoolExecutor(max_workers=1, thread_name_prefix="survae-layout")


class SaveRefused(Exception):
    """The playground was started without a file, so there is nothing it may write."""


class NotCompiled(Exception):
    """A download of a text with errors: `diagnostics` says why (shown, not raised, by the page)."""

    def __init__(self, diagnostics: list[dict[str, Any]]) -> None:
        super().__init__("the model has errors")
        self.diagnostics = diagnostics


def starter_text() -> str:
    """The model the playground opens with when started without a file."""
    return resources.files("survae_dsl.playground").joinpath("starter.survae").read_text("utf-8")


@cache
def explanation(code: str) -> str:
    """`survae-compile --explain CODE`'s text ('' for a code without one)."""
    from ..compiler.doctools.explain import explain

    try:
        return explain(code)
    except KeyError:
        return ""


@dataclass
class Workspace:
    """The file a playground edits (`path` None: a scratch text, never saved) and the last
    check, reused so that an edit re-parses only the statements it changed."""

    path: Path | None
    display_name: str
    # The file's line ending: a text area gives "\n" only, so a CRLF file is saved as CRLF again.
    newline: str = "\n"
    _previous: PartialCheck | None = field(default=None, repr=False)
    # The last diagram drawn, by its DOT source: most keystrokes (in a comment, a half-typed
    # name) leave the graph as it was, and Graphviz's layout is the slowest step of a check.
    # Only the one layout thread (_LAYOUT) reads and writes it.
    _drawn: tuple[str, str] = field(default=("", ""), repr=False)
    # Guards `_previous`: the server runs requests on worker threads, and each incremental
    # parse reads the check before it and replaces it.
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def open(cls, path: Path | None) -> tuple[Workspace, str]:
        """The workspace of `path` (None for a scratch one) and the text to start with: the
        file's, or the starter model for a file that does not exist yet or no file."""
        if path is None:
            return cls(None, "starter.survae"), starter_text()
        if not path.exists():
            return cls(path.resolve(), path.name), starter_text()
        with path.open(encoding="utf-8", newline="") as handle:
            text = handle.read()
        newline = "\r\n" if "\r\n" in text else "\n"
        # Saved through a symbolic link's target: replacing the link itself would cut it.
        return cls(path.resolve(), path.name, newline), text.replace("\r\n", "\n")

    @property
    def can_save(self) -> bool:
        return self.path is not None

    def check(self, text: str, collapse: bool = False, direction: str = "inference") -> dict[str, Any]:
        """The page's view of `text` (see the module's doc). Shape:

        {"ok": bool, "models": [ModelInfo as JSON], "diagnostics": [DiagnosticInfo as JSON with
        "explain"], "svg": str | None, "svg_error": str | None}
        """
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}")
        with self._lock:
            found = check_partial(text, self.display_name, self._previous)
            if found.module is not None:
                self._previous = found
        # Graphviz lays the diagram out in its own process while this thread writes the rest
        # of the view: on a large model the two take about as long.
        drawing: Future[str] | None = None
        if found.models:
            drawing = _LAYOUT.submit(self._diagram, found, collapse, direction)
        counts = file_parameter_counts(found.models)
        models = [model_info(m, counts.get(m.name, [])).model_dump(mode="json") for m in found.models]
        diagnostics = _diagnostics(found.diagnostics)
        svg, svg_error = None, None
        if drawing is not None:
            from ..compiler.backends.render_dot import RenderError

            try:
                svg = drawing.result()
            except RenderError as exc:  # no `dot`, or it failed: the rest of the view stands
                svg_error = str(exc)
        return {
            "ok": not any(d.is_error for d in found.diagnostics) and bool(found.models),
            "models": models,
            "diagnostics": diagnostics,
            "svg": svg,
            "svg_error": svg_error,
        }

    def _diagram(self, found: PartialCheck, collapse: bool, direction: str) -> str:
        """The SVG of the checked models, laid out again only when the graph changed."""
        from ..compiler.backends.render_dot import build_graph, layout

        source: str = build_graph(found.models, collapse, direction, lines=True).source
        if self._drawn[0] == source:
            return self._drawn[1]
        svg = layout(source, "svg").decode("utf-8")
        self._drawn = (source, svg)
        return svg

    def save(self, text: str) -> Path:
        """Write `text` to the started file (atomically: a temporary file, then a rename)."""
        if self.path is None:
            raise SaveRefused("this playground was started without a file, so it saves nothing; use the downloads")
        data = text.replace("\r\n", "\n").replace("\n", self.newline).encode("utf-8")
        if len(data) > MAX_SOURCE_BYTES:
            raise ValueError(f"the text is larger than the limit of {MAX_SOURCE_BYTES:,} bytes")
        write_atomic(self.path, data)
        return self.path

    def download(self, text: str, what: str, collapse: bool = False, direction: str = "inference") -> bytes:
        """`model.py`, the standalone module or the SVG of `text`; `NotCompiled` if it has errors."""
        if what not in DOWNLOADS:
            raise ValueError(f"no download called {what!r}; choose one of {', '.join(DOWNLOADS)}")
        try:
            compilation = check_source(text, self.display_name)
        except CompileError as exc:
            raise NotCompiled(_diagnostics(list(exc.diagnostics))) from None
        if what == "svg":
            from ..compiler.backends.render_dot import render

            return render(compilation.models, "svg", collapse, direction)
        from ..compiler.backends.codegen import emit_module

        return emit_module(compilation.models, self.display_name, standalone=what == "standalone").encode("utf-8")


def _diagnostics(found: list[Diagnostic]) -> list[dict[str, Any]]:
    """Each diagnostic as `--info` writes it, with its `--explain` text, in source order."""
    return [
        {**diagnostic_info(d).model_dump(mode="json"), "explain": explanation(d.code)}
        for d in sorted(found, key=Diagnostic.sort_key)
    ]
