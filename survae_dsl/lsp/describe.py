"""Catalogue entries and declarations as text for hovers and completions (Markdown)."""

from __future__ import annotations

import typing
from dataclasses import dataclass

from pydantic_core import PydanticUndefined

from ..compiler.catalogue import DIST_TABLE, NET_TABLE, OP_TABLE, DistEntry, NetEntry, OpEntry, Params
from ..compiler.doctools.docs_pages import source_text


@dataclass(frozen=True)
class KeywordDoc:
    """One keyword of a catalogue entry: its default as written in a model (None: required),
    and its choices where it takes one of a few names."""

    name: str
    default: str | None
    choices: tuple[str, ...] = ()


Entry = OpEntry | DistEntry | NetEntry


def entry(name: str) -> Entry | None:
    """The catalogue's op, distribution or net called `name`."""
    return OP_TABLE.get(name) or DIST_TABLE.get(name) or NET_TABLE.get(name)


def role(found: Entry) -> str:
    if isinstance(found, OpEntry):
        return f"{found.kind.label} op"
    return "distribution" if isinstance(found, DistEntry) else "net"


def keywords(params: type[Params]) -> list[KeywordDoc]:
    """The keywords of a parameter schema, in declaration order."""
    found = []
    for name, info in params.model_fields.items():
        choices = tuple(str(c) for c in _literal_choices(info.annotation))
        if info.is_required():
            default = None
        elif info.default is None:
            default = params.unset.get(name, "none")
        elif info.default is PydanticUndefined:
            default = None
        else:
            default = source_text(info.default)
        found.append(KeywordDoc(name, default, choices))
    return found


def _literal_choices(annotation: object) -> list[object]:
    """The values of a `Literal[...]` annotation (inside `X | None` too), else []."""
    if typing.get_origin(annotation) is typing.Literal:
        return list(typing.get_args(annotation))
    return [c for arg in typing.get_args(annotation) for c in _literal_choices(arg)]


def signature(name: str, found: Entry) -> str:
    """`affine_coupling(x, net, scale=tanh_exp, ...)`: tensors first, then keywords."""
    tensors: list[str] = []
    if isinstance(found, OpEntry):
        tensors = ["x"] if found.num_inputs == 1 else ["x1, x2, ..."] if found.num_inputs is None else []
        if found.num_inputs and found.num_inputs > 1:
            tensors = [f"x{i + 1}" for i in range(found.num_inputs)]
    words = [k.name if k.default is None else f"{k.name}={k.default}" for k in keywords(found.params)]
    return f"{name}({', '.join([*tensors, *words])})"


def entry_markdown(name: str, found: Entry) -> str:
    """The hover of a catalogue name: signature, role, summary, maths, keywords."""
    lines = [f"```survae\n{signature(name, found)}\n```", f"**{name}**: {role(found)}", "", found.summary]
    maths = getattr(found, "maths", "")
    if maths:
        lines += ["", f"*maths*: {maths}"]
    docs = keywords(found.params)
    if docs:
        lines += ["", "keywords:"]
        for k in docs:
            default = "required" if k.default is None else f"default `{k.default}`"
            choices = f"; one of {', '.join(f'`{c}`' for c in k.choices)}" if k.choices else ""
            lines.append(f"- `{k.name}`: {default}{choices}")
    return "\n".join(lines)
