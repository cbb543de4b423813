"""Which layer of a compiled model, and which model-file line, a piece of running code is in.

The compiled class records no layer → line table; the code generator writes each layer's
place as the ``# FILE:LINE`` comment ending the statements that build and call it (the same
comment ``survae_dsl.train.diagnose`` reads). The generated source is in ``linecache``
(``compile_source`` registers it), so a frame of a generated ``log_prob`` or ``sample`` leads
to its line of generated code, and that line to the layer (``self.NAME``) and the comment.
"""

from __future__ import annotations

import linecache
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType, TracebackType
from typing import Any

from torch.utils._python_dispatch import TorchDispatchMode

from ..nn.model import Model

__all__ = ["OpSites", "Site", "calling_site", "site_of_traceback"]

# A layer is a public attribute; `self._check_inputs(...)` and the like are the model's helpers.
_LAYER = re.compile(r"\bself\.([A-Za-z]\w*)")
_WHERE = re.compile(r"#\s*(\S+:\d+.*)$")
_METHODS = frozenset({"log_prob", "sample"})


@dataclass(frozen=True)
class Site:
    """A layer (``dequantize_1``, an attribute of the compiled model) and its ``FILE:LINE``;
    either is None when unknown."""

    layer: str | None
    where: str | None

    @property
    def op(self) -> str | None:
        """The catalogue op of the layer: its attribute name without the counter."""
        return None if self.layer is None else re.sub(r"_\d+$", "", self.layer)

    def describe(self) -> str:
        """`` `dequantize` (model.survae:12)``, or what is known of it."""
        if self.layer is None:
            return "an unknown layer"
        return f"`{self.op}` ({self.where})" if self.where else f"`{self.op}` (layer `{self.layer}`)"


UNKNOWN = Site(None, None)


def _site_of_line(filename: str, lineno: int) -> Site:
    """The site a line of generated code names, or UNKNOWN when it names no layer."""
    text = linecache.getline(filename, lineno)
    layer, where = _LAYER.search(text), _WHERE.search(text.rstrip())
    if layer is None:
        return UNKNOWN
    return Site(layer[1], where[1] if where else None)


def _outermost(frames: Iterator[tuple[FrameType, int]]) -> Site:
    """The site of the outermost frame that runs a compiled model's ``log_prob`` or
    ``sample``: a layer of the exported model itself, not of a model it uses inside."""
    found = UNKNOWN
    for frame, lineno in frames:
        if frame.f_code.co_name in _METHODS and isinstance(frame.f_locals.get("self"), Model):
            site = _site_of_line(frame.f_code.co_filename, lineno)
            if site.layer is not None:
                found = site
    return found


def calling_site() -> Site:
    """The layer of the exported model whose code is running now (from the call stack)."""

    def frames() -> Iterator[tuple[FrameType, int]]:
        frame: FrameType | None = sys._getframe(1)
        while frame is not None:
            yield frame, frame.f_lineno
            frame = frame.f_back

    return _outermost(frames())


def site_of_traceback(traceback: TracebackType | None) -> Site:
    """The layer of the exported model in which an exception was raised."""

    def frames() -> Iterator[tuple[FrameType, int]]:
        entries = []
        tb = traceback
        while tb is not None:
            entries.append((tb.tb_frame, tb.tb_lineno))
            tb = tb.tb_next
        # Innermost last in a traceback; _outermost wants the outermost last, as on a stack.
        yield from reversed(entries)

    return _outermost(frames())


class OpSites(TorchDispatchMode):  # type: ignore[no-untyped-call]  # torch's base is untyped
    """While active, notes the first layer that runs each torch op (``aten.sort.stable``).

    torch's node metadata cannot name the layer of an op: the stack traces it keeps drop the
    frames of generated code, and ``nn_module_stack`` misses ops a layer runs outside a module
    call (an ``inverse``). An eager dry run under this mode sees the real Python stack, so a
    converter's complaint about an op can be traced to the model-file line that runs it.
    """

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.sites: dict[str, Site] = {}

    def __torch_dispatch__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        name = str(func)
        if name not in self.sites:  # the stack is walked once per op, not once per call
            site = calling_site()
            if site.layer is not None:
                self.sites[name] = site
        return func(*args, **(kwargs or {}))
