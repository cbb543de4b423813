"""Source text → checked models: the front half of the pipeline, shared by every back end."""

from __future__ import annotations

from dataclasses import dataclass

from ..backends.param_count import check_parameter_limit
from ..checks.check import check_model
from ..checks.composition import check_order
from ..core import codes
from ..core.diagnostics import CompileError, Diagnostic, error
from ..core.source import Source
from ..frontend.incremental import reparse
from ..frontend.parse import parse
from ..frontend.syntax import ModelDecl, Module
from ..ir.checked import CheckedModel
from ..lowering.lower import lower_module

MAX_SOURCE_BYTES = 1_000_000


def _svg(models: list[CheckedModel]) -> str:
    """The diagram of `models` as SVG text (Graphviz's `dot` is imported only when asked)."""
    from ..backends.render_dot import render

    return render(models, "svg").decode("utf-8")


# A checked model displays as its diagram in a notebook; the record cannot import a back end.
CheckedModel.svg_renderer = _svg


@dataclass
class Compilation:
    """Every model of a file, checked, with the warnings found on the way."""

    source: Source
    models: list[CheckedModel]
    warnings: list[Diagnostic]

    def _repr_svg_(self) -> str:
        """In a notebook a checked file displays as the diagram of its models."""
        return _svg(self.models)

    def model(self, name: str | None) -> list[CheckedModel]:
        """All models, or the one called `name` and the models it uses (CompileError naming
        the choices if absent)."""
        if name is None:
            return self.models
        chosen = [m for m in self.models if m.name == name]
        if chosen:
            return [m for m in self.models if m.name in chosen[0].uses()]
        if not chosen:
            names = ", ".join(f"`{m.name}`" for m in self.models) or "none"
            span = self.source.end_span()
            raise CompileError(
                [error(codes.E212, span, f"no model called `{name}` in this file", f"its models: {names}")], self.source
            )
        return chosen


@dataclass
class PartialCheck:
    """What checking a file found, whether or not it compiles: the parsed module (None after
    a syntax error), the models that passed their checks and every diagnostic, errors
    included (the language server shows all of them and keeps the good models' types)."""

    source: Source
    module: Module | None
    models: list[CheckedModel]
    diagnostics: list[Diagnostic]


def check_partial(text: str, filename: str = "<string>", previous: PartialCheck | None = None) -> PartialCheck:
    """Parse, lower and check as `check_source` does, but return every finding instead of
    raising: syntax errors come back with `module=None`.

    `previous`, a check of an earlier text of the same file that parsed, lets the parse
    re-parse only the statements that changed (`frontend/incremental.py`; the module is the
    same as from a whole parse)."""
    source = Source(filename, text)
    if len(text.encode("utf-8", "surrogatepass")) > MAX_SOURCE_BYTES:
        span = source.end_span()
        oversize = error(
            codes.E501, span, f"the file is larger than the limit of {MAX_SOURCE_BYTES:,} bytes", "split it"
        )
        return PartialCheck(source, None, [], [oversize])
    try:
        module = None
        if previous is not None and previous.module is not None:
            module = reparse(previous.source, previous.module, source)
        if module is None:
            module = parse(source)
    except CompileError as exc:
        return PartialCheck(source, None, [], list(exc.diagnostics))
    lowered, diagnostics = lower_module(module)
    ordered, cycles = check_order(lowered)  # a model is checked after the models it uses
    diagnostics += cycles
    checked: list[CheckedModel] = []
    # Models that failed (to lower, or their checks) are None: a use of one is not an error
    # of its own (its errors are reported where they are).
    lowered_names = {m.name for m in lowered}
    used: dict[str, CheckedModel | None] = {
        d.name.text: None for d in module.declarations if isinstance(d, ModelDecl) and d.name.text not in lowered_names
    }
    for model in ordered:
        result, found = check_model(model, used)
        if result is not None and (too_large := check_parameter_limit(result, used)) is not None:
            result, found = None, [*found, too_large]
        diagnostics += found
        used[model.name] = result
        if result is not None:
            checked.append(result)
    position = {m.name: i for i, m in enumerate(lowered)}
    checked.sort(key=lambda m: position[m.name])
    # A statement inside `repeat N` is checked N times; report each finding once.
    return PartialCheck(source, module, checked, list(dict.fromkeys(diagnostics)))


def check_source(text: str, filename: str = "<string>") -> Compilation:
    """Parse, lower and check; raises `CompileError` with all diagnostics if any is an error."""
    found = check_partial(text, filename)
    source, diagnostics, checked = found.source, found.diagnostics, found.models
    if any(d.is_error for d in diagnostics):
        raise CompileError(diagnostics, source)
    if not checked:
        raise CompileError(
            [error(codes.E210, source.end_span(), "the file declares no model", "add `model Name { ... }`")], source
        )
    return Compilation(source, checked, [d for d in diagnostics if not d.is_error])
