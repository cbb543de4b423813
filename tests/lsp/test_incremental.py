"""The language server's incremental parse (compiler/frontend/incremental.py) against the whole
parse: after any edit, the module it gives is the one `parse` gives, and it gives none (the
caller parses the whole text) where the text does not parse."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from survae_dsl.compiler.core.diagnostics import CompileError
from survae_dsl.compiler.core.source import Source
from survae_dsl.compiler.drivers.analysis import analyse
from survae_dsl.compiler.frontend import syntax as ast
from survae_dsl.compiler.frontend.incremental import reparse
from survae_dsl.compiler.frontend.parse import parse

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").rglob("*.survae"))
NAME = "edited.survae"

GLOW_LIKE = """\
const HIDDEN = 8

block step(h, hidden=HIDDEN) {
    h = actnorm(h)
    h = affine_coupling(h, net=mlp(hidden=[hidden, hidden]))  # a comment
    return h
}

model M {
    input x: real[4]
    h = x
    repeat 2 {
        h = step(h)
        h = reverse(h); h = step(h, hidden=4)
    }
    h = affine_coupling(h,
                        net=mlp(hidden=[16]))
    h ~ standard_normal()
}
"""


def _parsed(text: str) -> ast.Module | None:
    try:
        return parse(Source(NAME, text))
    except CompileError:
        return None


def _edit(text: str, rng: random.Random) -> str:
    """One edit of the kinds typing makes: a character typed or deleted, a line changed,
    deleted, duplicated or split."""
    lines = text.split("\n")
    line = rng.randrange(len(lines))
    kind = rng.randrange(6)
    if kind == 0:
        at = rng.randrange(len(text) + 1)
        return text[:at] + rng.choice("(){}[]\n;#,=+ hx1") + text[at:]
    if kind == 1:
        at = rng.randrange(len(text) + 1)
        return text[:at] + text[at + rng.randrange(1, 12) :]
    if kind == 2:
        lines[line] = lines[line].replace("1", "3", 1).replace("h", "g", 1)
    elif kind == 3:
        del lines[line]
    elif kind == 4:
        lines.insert(line, lines[rng.randrange(len(lines))])
    else:
        lines.insert(line, "")
    return "\n".join(lines)


@pytest.mark.parametrize("seed", range(4))
def test_chained_edits_give_the_whole_parse(seed: int) -> None:
    rng = random.Random(seed)
    texts = [GLOW_LIKE, *(path.read_text(encoding="utf-8") for path in rng.sample(EXAMPLES, 6))]
    for base in texts:
        good_text, good = base, _parsed(base)
        assert good is not None
        text = base
        for _ in range(40):
            text = _edit(text, rng) if rng.random() < 0.8 else _edit(base, rng)
            whole = _parsed(text)
            again = reparse(Source(NAME, good_text), good, Source(NAME, text))
            if whole is None:
                assert again is None, text
                continue
            if again is not None:
                assert again == whole, text
            good_text, good = text, whole


def test_an_edit_inside_a_statement_reuses_the_rest() -> None:
    """A number changed inside a `repeat` of a model: the statements around it are the very
    objects of the earlier parse, the one edited is new, the lines after it are unmoved."""
    before = parse(Source(NAME, GLOW_LIKE))
    text = GLOW_LIKE.replace("hidden=4", "hidden=6")
    after = reparse(Source(NAME, GLOW_LIKE), before, Source(NAME, text))
    assert after == parse(Source(NAME, text))
    assert after is not None
    assert after.declarations[:2] == before.declarations[:2]
    assert all(a is b for a, b in zip(after.declarations[:2], before.declarations[:2], strict=True))
    old_model, new_model = before.declarations[2], after.declarations[2]
    assert isinstance(old_model, ast.ModelDecl) and isinstance(new_model, ast.ModelDecl)
    assert new_model.body[0] is old_model.body[0]
    assert new_model.body[3] is old_model.body[3]  # the statement after the `repeat`


def test_lines_added_move_what_follows() -> None:
    before = parse(Source(NAME, GLOW_LIKE))
    text = GLOW_LIKE.replace("    h = x\n", "    h = x\n    # two lines\n    h = reverse(h)\n")
    after = reparse(Source(NAME, GLOW_LIKE), before, Source(NAME, text))
    assert after is not None
    assert after == parse(Source(NAME, text))
    model = after.declarations[2]
    assert isinstance(model, ast.ModelDecl)
    assert model.span.end_line == before.declarations[2].span.end_line + 2


@pytest.mark.parametrize(
    "old, new",
    [
        ("h = x\n", "h = reverse(x\n"),  # a bracket left open runs into the next lines
        ("repeat 2 {", "repeat 2 {{"),
        ("    return h\n}", "    return h\n"),  # the block's `}` removed
        ("h ~ standard_normal()", "h ~ standard_normal() }"),
        ("input x: real[4]", "input model: real[4]"),  # E104: a keyword as a name
    ],
)
def test_a_run_that_does_not_parse_alone_gives_none(old: str, new: str) -> None:
    before = parse(Source(NAME, GLOW_LIKE))
    text = GLOW_LIKE.replace(old, new, 1)
    assert _parsed(text) is None
    assert reparse(Source(NAME, GLOW_LIKE), before, Source(NAME, text)) is None


def test_analyse_after_an_edit_matches_a_fresh_analysis() -> None:
    """The diagnostics of an analysis made from the previous one are those of a fresh one."""
    first = analyse(GLOW_LIKE, NAME)
    text = GLOW_LIKE.replace("hidden=4", "hiden=4").replace("input x: real[4]", "input x: real[5]")
    incremental, fresh = analyse(text, NAME, first), analyse(text, NAME)
    assert incremental.module == fresh.module
    assert incremental.diagnostics == fresh.diagnostics
    assert [d.code for d in fresh.diagnostics]  # the misspelt keyword is reported


def test_the_nesting_limit_counts_what_came_before_the_run() -> None:
    """An operator in a `repeat` count counts as a nesting level until the model's body ends
    (E505's rule): a list nested 98 deep after it is one level too deep, though the line alone
    would not be."""
    base = "model M {\n    input x: real[2]\n    repeat 1 * 1 {\n        h = x\n    }\n    h = reverse(x, k=[1])\n}\n"
    before = parse(Source(NAME, base))
    for depth, too_deep in ((97, False), (98, True)):
        text = base.replace("k=[1]", "k=" + "[" * depth + "1" + "]" * depth)
        again = reparse(Source(NAME, base), before, Source(NAME, text))
        if too_deep:
            with pytest.raises(CompileError) as caught:
                parse(Source(NAME, text))
            assert [d.code for d in caught.value.diagnostics] == ["E505"]
            assert again is None
        else:
            assert again is not None and again == parse(Source(NAME, text))
