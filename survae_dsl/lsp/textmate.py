"""The TextMate grammar of `.survae` (editors/vscode/syntaxes/survae.tmLanguage.json), generated.

grammar/survae.lark stays the one source of the syntax: the keywords are its quoted words, the
comment, string, number and name patterns its terminals' regular expressions, the operators its
quoted symbols; the catalogue gives the op, distribution and net names and the domains. A test
regenerates the file and compares (tests/lsp/test_textmate.py); after a grammar or catalogue
change run

    python -m survae_dsl.lsp.textmate editors/vscode/syntaxes/survae.tmLanguage.json
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from importlib import resources
from pathlib import Path

from ..compiler.catalogue import DIST_TABLE, NET_TABLE, OP_TABLE
from ..compiler.core.domains import DOMAIN_NAMES

SCOPE = "source.survae"
DEFAULT_OUT = Path(__file__).resolve().parents[2] / "editors" / "vscode" / "syntaxes" / "survae.tmLanguage.json"
_RULE = re.compile(r"^\??([a-z_]+)\s*:(.*)$")
_LITERAL = re.compile(r'"([^"\s]+)"')
_TERMINAL = re.compile(r"^([A-Z_]+)\s*:\s*/(.*)/\s*$")


def grammar_text() -> str:
    return resources.files("survae_dsl.grammar").joinpath("survae.lark").read_text("utf-8")


def grammar_words(text: str) -> tuple[dict[str, set[str]], dict[str, str]]:
    """(quoted literals by the rule they appear in, terminal name → its regular expression)."""
    literals: dict[str, set[str]] = {}
    terminals: dict[str, str] = {}
    rule = ""
    for line in text.splitlines():
        if line.lstrip().startswith("//"):
            continue
        if (terminal := _TERMINAL.match(line)) is not None:
            terminals[terminal.group(1)] = terminal.group(2)
            continue
        if (head := _RULE.match(line)) is not None:
            rule, line = head.group(1), head.group(2)
        for literal in _LITERAL.findall(line):
            literals.setdefault(rule, set()).add(literal)
    return literals, terminals


def _words(names: object) -> str:
    """A regex matching any of `names` as a whole word (longest first)."""
    ordered = sorted(names, key=lambda n: (-len(n), n))  # type: ignore[call-overload]
    return r"\b(?:" + "|".join(re.escape(n) for n in ordered) + r")\b"


def build(text: str | None = None) -> dict[str, object]:
    """The grammar as JSON-ready data."""
    literals, terminals = grammar_words(grammar_text() if text is None else text)
    every = set().union(*literals.values())
    words = {w for w in every if re.fullmatch(r"[a-z_]+", w)}
    declaring = {w for rule, found in literals.items() if rule.endswith("_decl") for w in found} & words
    # A declaration's first word (`model`, `block`, ...); `net` also names a transform's net slot.
    declaring = {w for w in declaring if re.search(rf'_decl\s*:\s*"{w}"', text or grammar_text())}
    constants = {w for w in words if w in ("true", "false")}
    control = words - declaring - constants
    symbols = sorted((every - words) - {"{", "}", "(", ")", "[", "]", ",", ";", ":"}, key=lambda s: (-len(s), s))
    name = terminals["NAME"]
    patterns: list[dict[str, object]] = [
        {"name": "comment.line.number-sign.survae", "match": terminals["COMMENT"]},
        {
            "name": "string.quoted.double.survae",
            "begin": '"',
            "end": '"|$',
            "patterns": [{"name": "constant.character.escape.survae", "match": r"\\."}],
        },
        {
            "match": rf"{_words(declaring)}\s+({name})",
            "captures": {"0": {"name": "storage.type.declaration.survae"}, "1": {"name": "entity.name.survae"}},
        },
        # `net=` and `parameters=` are keyword arguments (the words are keywords only where an item begins).
        {"name": "variable.parameter.keyword.survae", "match": rf"({name})(?=\s*=(?!=))"},
        {"name": "storage.type.declaration.survae", "match": _words(declaring)},
        {"name": "keyword.other.survae", "match": _words(control)},
        {"name": "constant.language.boolean.survae", "match": _words(constants)},
        {"name": "storage.type.domain.survae", "match": _words(DOMAIN_NAMES)},
        {"name": "support.function.op.survae", "match": _words(OP_TABLE)},
        {"name": "support.function.distribution.survae", "match": _words(DIST_TABLE)},
        {"name": "support.class.net.survae", "match": _words(NET_TABLE)},
        {"name": "constant.numeric.survae", "match": r"(?<![A-Za-z0-9_])" + terminals["SIGNED_NUMBER"]},
        {"name": "keyword.operator.survae", "match": "|".join(re.escape(s) for s in symbols)},
    ]
    # The string rule's `begin`/`end` restate STRING's delimiters: keep them in step with it.
    assert terminals["STRING"].startswith('"') and terminals["STRING"].endswith('*"'), terminals["STRING"]
    return {
        "$schema": "https://raw.githubusercontent.com/martinring/tmlanguage/master/tmlanguage.json",
        "name": "survae",
        "scopeName": SCOPE,
        "fileTypes": ["survae"],
        "comment": (
            "Generated by `python -m survae_dsl.lsp.textmate` from grammar/survae.lark and the catalogue: do not edit."
        ),
        "patterns": patterns,
    }


def render() -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m survae_dsl.lsp.textmate", description=__doc__.split("\n")[0])
    parser.add_argument("out", nargs="?", type=Path, default=DEFAULT_OUT, help="where to write the grammar")
    parser.add_argument("--check", action="store_true", help="exit 1 if the file differs from what would be written")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.is_file() else ""
        if current != text:
            print(f"textmate: error: {args.out} is out of date: run python -m survae_dsl.lsp.textmate", file=sys.stderr)
            return 1
        return 0
    from ..compiler.core.files import write_atomic

    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(args.out, text.encode("utf-8"))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
