"""The TextMate grammar agrees with grammar/survae.lark and the catalogue, and is up to date."""

from __future__ import annotations

import json
import re

from survae_dsl.compiler.catalogue import DIST_TABLE, NET_TABLE, OP_TABLE
from survae_dsl.compiler.frontend.parse import lark_parser
from survae_dsl.lsp import textmate

from .conftest import ROOT

GRAMMAR = ROOT / "editors/vscode/syntaxes/survae.tmLanguage.json"


def _rules() -> dict[str, str]:
    data = json.loads(GRAMMAR.read_text(encoding="utf-8"))
    return {rule["name"]: rule["match"] for rule in data["patterns"] if "name" in rule and "match" in rule}


def _alternatives(pattern: str) -> set[str]:
    """The words of a `\\b(?:a|b|c)\\b` pattern."""
    inner = re.fullmatch(r"\\b\(\?:(.*)\)\\b", pattern)
    assert inner is not None, pattern
    return {word.replace("\\", "") for word in inner.group(1).split("|")}


def test_the_committed_grammar_is_the_generated_one() -> None:
    assert GRAMMAR.read_text(encoding="utf-8") == textmate.render(), "run: python -m survae_dsl.lsp.textmate"


def test_keywords_are_the_words_the_parser_knows() -> None:
    # Read from the parser Lark builds (not from the generator's own reading of the file).
    parser_words = {t.pattern.value for t in lark_parser().terminals if re.fullmatch(r"[a-z_]+", str(t.pattern.value))}
    rules = _rules()
    highlighted = (
        _alternatives(rules["storage.type.declaration.survae"])
        | _alternatives(rules["keyword.other.survae"])
        | _alternatives(rules["constant.language.boolean.survae"])
    )
    assert highlighted == parser_words
    assert {"model", "block", "transform", "net", "const"} <= _alternatives(rules["storage.type.declaration.survae"])


def test_catalogue_names_are_highlighted() -> None:
    rules = _rules()
    assert _alternatives(rules["support.function.op.survae"]) == set(OP_TABLE)
    assert _alternatives(rules["support.function.distribution.survae"]) == set(DIST_TABLE)
    assert _alternatives(rules["support.class.net.survae"]) == set(NET_TABLE)


def test_token_patterns_match_the_lexers_tokens() -> None:
    """Each pattern taken from a terminal matches what Lark's lexer makes of a line, whole."""
    rules = _rules()
    line = 'h = scale(x, by=-1.5e3)  # note "quoted"'
    tokens = {t.type: str(t) for t in lark_parser().lex(line + "\n")}  # type: ignore[attr-defined]
    assert re.fullmatch(rules["constant.numeric.survae"], tokens["SIGNED_NUMBER"])
    comment = re.search(rules["comment.line.number-sign.survae"], line)
    assert comment is not None and comment.group(0) == '# note "quoted"'
    assert re.search(rules["keyword.other.survae"], "repeats") is None  # whole words only
