"""Generates the reference pages of docs/ from the catalogue and the table of codes.

`python -m survae_dsl.compiler.doctools.docs_pages docs` rewrites docs/catalogue.md and
docs/diagnostics.md; a test checks that the committed pages match.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo

from ..catalogue import DIST_TABLE, NET_TABLE, OP_TABLE, CallValue, Kind, Params
from ..core.codes import diagnostics_page
from ..core.domains import Domain

_KIND_ORDER = (Kind.BIJECTIVE, Kind.INFERENCE_SURJECTIVE, Kind.GENERATIVE_SURJECTIVE, Kind.STOCHASTIC)
_KIND_NOTES = {
    Kind.BIJECTIVE: "exact: the contribution is log |det ∂z/∂x|",
    Kind.INFERENCE_SURJECTIVE: "exact: deterministic and many-to-one from data to latent",
    Kind.GENERATIVE_SURJECTIVE: "a lower bound: stochastic from data to latent",
    Kind.STOCHASTIC: "a lower bound: stochastic in both directions",
}


_CONTEXT_NETS = (
    "Context nets (deterministic maps of contexts, before anything reads them: never modelled, "
    "no effect on the likelihood class)"
)


def _default(params: type[Params], name: str, info: FieldInfo) -> str:
    """The default column: `required`, the value as a model file writes it, or what leaving
    an optional keyword out means (`Params.unset`)."""
    if info.is_required():
        return "required"
    value: Any = info.default
    if value is None:
        if name not in params.unset:
            raise ValueError(f"{params.__name__}.{name} defaults to None: say what that means in `unset`")
        return params.unset[name]
    return f"`{source_text(value)}`"


def source_text(value: Any) -> str:
    """A keyword value as a model file writes it: `true`, `[64, 64]`, `half_normal()`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "[" + ", ".join(source_text(v) for v in value) + "]"
    if isinstance(value, CallValue):
        return f"{value.name}(" + ", ".join(f"{k}={source_text(v)}" for k, v in value.kwargs) + ")"
    if isinstance(value, (int, float, str)):
        return str(value)
    raise TypeError(f"no model-file text for the default {value!r}")


def _params_table(params: type[Params]) -> list[str]:
    fields = params.model_fields
    if not fields:
        return ["No keyword arguments."]
    rows = ["| keyword | default | values |", "|---|---|---|"]
    for name, info in fields.items():
        rows.append(
            "| " + " | ".join(_cell(c) for c in (f"`{name}`", _default(params, name, info), _values(info))) + " |"
        )
    return rows


def _cell(text: str) -> str:
    """A table cell: a `|` in it (`q(u | x)`) would end the cell, so it is escaped."""
    return text.replace("|", "\\|")


def _sentence(text: str) -> str:
    """A summary as a sentence: capitalised, unless it starts with a name a model file writes
    that way (`int<K> → unit`, `[C, H, W] → ...`, `Σ(...)`)."""
    first = text.split(" ", 1)[0]
    return text[0].upper() + text[1:] if first.isalpha() and first.isascii() else text


def _values(info: FieldInfo) -> str:
    choices = [a for a in getattr(info.annotation, "__args__", ()) if isinstance(a, str)]
    if choices:
        return ", ".join(f"`{c}`" for c in choices)
    return info.description or ""


def _domain_words(domain: Domain) -> str:
    """A domain as the docs write it: `int<K>` where an entry takes any number of classes
    (the catalogue's int<0>)."""
    return "int<K>" if domain.kind == "int" and domain.classes == 0 else str(domain)


def _support_words(support: Domain) -> str:
    if support.kind == "int" and support.classes == 0:
        return "int<K>, with K from the type of the tensor it models"
    return str(support)


def _accepts_words(accepts: Domain | None) -> str:
    if accepts is None:
        return "any tensor its decoder can model"
    return f"{_domain_words(accepts)} tensors"


def catalogue_page() -> str:
    """docs/catalogue.md: every op, distribution and net with its keywords and maths."""
    out = [
        "# The catalogue",
        "",
        "Every op, distribution and net this version compiles, generated from the compiler's",
        "catalogue (`compiler/catalogue/`, `python -m survae_dsl.compiler.doctools.docs_pages docs`). Shapes",
        "exclude the batch axis; `dim` counts axes from 0. D is the number of entries of a tensor.",
        "",
    ]
    ops = [e for e in OP_TABLE.values() if not e.context_only]  # context nets have a section of their own
    sections = [
        (f"{kind.label.capitalize()} ({_KIND_NOTES[kind]})", [e for e in ops if e.kind is kind]) for kind in _KIND_ORDER
    ]
    sections.append((_CONTEXT_NETS, [e for e in OP_TABLE.values() if e.context_only]))
    for heading, entries in sections:
        if not entries:
            continue
        out += [f"## {heading}", ""]
        for entry in entries:
            accepts = entry.domain.accepts(None)
            takes = "contexts of any domain" if entry.context_only else _accepts_words(accepts)
            out += [
                f"### `{entry.name}`",
                "",
                f"{_sentence(entry.summary)}. Runtime class `survae_dsl.nn.{entry.runtime}`; accepts {takes}.",
                "",
                *_params_table(entry.params),
                "",
                f"Maths: {entry.maths}",
                "",
            ]
    out += ["## Distributions", ""]
    for dist in DIST_TABLE.values():
        out += [
            f"### `{dist.name}`",
            "",
            f"{_sentence(dist.summary)}. Support: {_support_words(dist.support)}. "
            f"Runtime class `survae_dsl.nn.{dist.runtime}`.",
            "",
            *_params_table(dist.params),
            "",
            f"Maths: {dist.maths}",
            "",
        ]
    out += ["## Nets", ""]
    for net in NET_TABLE.values():
        out += [
            f"### `{net.name}`",
            "",
            f"{_sentence(net.summary)}. Its input and output sizes are inferred from the op. "
            f"Runtime class `survae_dsl.nn.{net.runtime}`.",
            "",
            *_params_table(net.params),
            "",
            *([net.details, ""] if net.details else []),
        ]
    return "\n".join(out).rstrip() + "\n"


def diagnostics_with_explanations() -> str:
    """docs/diagnostics.md: the table of codes, then each code's `--explain` text with its
    wrong and right examples (the examples are tested to produce and not produce the code)."""
    from ..core.codes import CODES
    from .explain import EXPLANATIONS

    out = [diagnostics_page().rstrip("\n"), "", "## Every code explained", ""]
    for code in CODES:
        out += [f"### `{code.code}`: {code.heading}", ""]
        entry = EXPLANATIONS.get(code.code)
        if entry is None:
            out += [code.explanation, ""]
            continue
        out += [entry.text, "", "Wrong:", "", "```", entry.wrong.rstrip("\n"), "```", "", "Right:", "", "```"]
        out += [entry.right.rstrip("\n"), "```", ""]
    return "\n".join(out).rstrip("\n") + "\n"


PAGES = {"catalogue.md": catalogue_page, "diagnostics.md": diagnostics_with_explanations}


def main(argv: list[str]) -> int:
    folder = Path(argv[0] if argv else "docs")
    for name, page in PAGES.items():
        (folder / name).write_text(page(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
