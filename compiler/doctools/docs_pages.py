"""Generates the reference pages of docs/ from the catalogue and the table of codes.

`python -m survae_dsl.compiler.doctools.docs_pages docs` rewrites docs/catalogue.md and
docs/diagnostics.md; a test checks that the committed pages match.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo

from ..catalogue import DIST_TABLE, NET_TABLE, OP_TABLE, Kind, Params
from ..core.codes import diagnostics_page
from ..core.domains import Domain

_KIND_ORDER = (Kind.BIJECTIVE, Kind.INFERENCE_SURJECTIVE, Kind.GENERATIVE_SURJECTIVE, Kind.STOCHASTIC)
_KIND_NOTES = {
    Kind.BIJECTIVE: "exact: the contribution is log |det ∂z/∂x|",
    Kind.INFERENCE_SURJECTIVE: "exact: deterministic and many-to-one from data to latent",
    Kind.GENERATIVE_SURJECTIVE: "a lower bound: stochastic from data to latent",
    Kind.STOCHASTIC: "a lower bound: stochastic in both directions",
}


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    value: Any = info.default
    if value is None:
        return "⌈n/2⌉"
    if isinstance(value, tuple):
        return "[" + ", ".join(map(str, value)) + "]"
    return f"`{value}`"


def _params_table(params: type[Params]) -> list[str]:
    fields = params.model_fields
    if not fields:
        return ["No keyword arguments."]
    rows = ["| keyword | default | values |", "|---|---|---|"]
    for name, info in fields.items():
        rows.append(f"| `{name}` | {_default(info)} | {_values(info)} |")
    return rows


def _values(info: FieldInfo) -> str:
    choices = [a for a in getattr(info.annotation, "__args__", ()) if isinstance(a, str)]
    if choices:
        return ", ".join(f"`{c}`" for c in choices)
    return info.description or ""


def _accepts_words(accepts: Domain | None) -> str:
    if accepts is None:
        return "any tensor its decoder can model"
    return f"{accepts if accepts.kind != 'int' else 'int<K>'} tensors"


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
    for kind in _KIND_ORDER:
        entries = [e for e in OP_TABLE.values() if e.kind is kind]
        if not entries:
            continue
        out += [f"## {kind.label.capitalize()} ({_KIND_NOTES[kind]})", ""]
        for entry in entries:
            accepts = entry.domain.accepts(None)
            out += [
                f"### `{entry.name}`",
                "",
                f"{entry.summary[0].upper()}{entry.summary[1:]}. Runtime class `survae_dsl.nn.{entry.runtime}`; "
                f"accepts {_accepts_words(accepts)}.",
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
            f"{dist.summary[0].upper()}{dist.summary[1:]}. Support: {dist.support}. "
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
            f"{net.summary[0].upper()}{net.summary[1:]}. Its input and output sizes are inferred from the op. "
            f"Runtime class `survae_dsl.nn.{net.runtime}`.",
            "",
            *_params_table(net.params),
            "",
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
