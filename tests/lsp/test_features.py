"""The server's pieces in-process, where a client cannot easily reach them: inlay hints (off by
default, so the stdio tests see none), completion in comments and strings, block keywords."""

from __future__ import annotations

from lsprotocol import types as lsp

from survae_dsl.compiler.drivers.analysis import analyse
from survae_dsl.lsp.complete import completions, place_at
from survae_dsl.lsp.server import _inlay_hints

from .conftest import ROOT

GLOW = (ROOT / "examples/language/glow.survae").read_text(encoding="utf-8")


def test_inlay_hints_give_the_type_of_each_binding_with_one_type() -> None:
    analysis = analyse(GLOW, "glow.survae")
    hints = _inlay_hints(analysis, lsp.Range(lsp.Position(0, 0), lsp.Position(40, 0)))
    by_line = {(h.position.line, h.position.character): h.label for h in hints}
    assert by_line[(23, 5)] == ": real[4, 4, 4]"  # `h = squeeze2d(h)`, after the `h`
    assert by_line[(20, 11)] == ": int<17>[1, 8, 8]"  # the input
    assert (6, 5) not in by_line  # `h = actnorm(h)` in a block called at three sizes: no one type


def test_no_completion_inside_a_comment_or_a_string() -> None:
    text = 'model M {\n    doc "a flow with aff'
    assert place_at(text, 1, len('    doc "a flow with aff')).in_comment
    assert completions(text, 1, len('    doc "a flow with aff'), None) == []
    text = "model M {\n    h = reverse(x)  # then aff"
    assert completions(text, 1, len("    h = reverse(x)  # then aff"), None) == []


def test_a_blocks_keywords_are_offered_inside_its_call() -> None:
    analysis = analyse(GLOW, "glow.survae")
    lines = GLOW.split("\n")
    typed = "    h = glow_step(h, "
    text = "\n".join([*lines[:24], typed, *lines[24:]])
    labels = {item.label for item in completions(text, 24, len(typed), analysis)}
    assert "hidden=" in labels and "h=" not in labels  # `h` is the block's tensor, not a keyword


def test_a_call_wrapped_over_lines_is_still_the_call() -> None:
    text = "model M {\n    input x: real[2]\n    h = affine_coupling(\n        x,\n        sc"
    place = place_at(text, 4, len("        sc"))
    assert place.callee == "affine_coupling" and place.typed == "sc" and place.keyword is None


def test_an_incremental_change_replaces_its_range() -> None:
    from survae_dsl.lsp.server import _apply

    text = "model M {\n    h = revers(x)\n}\n"
    change = lsp.TextDocumentContentChangePartial(range=lsp.Range(lsp.Position(1, 14), lsp.Position(1, 14)), text="e")
    assert _apply(text, change) == "model M {\n    h = reverse(x)\n}\n"
    across = lsp.TextDocumentContentChangePartial(range=lsp.Range(lsp.Position(0, 8), lsp.Position(2, 0)), text="{ ")
    assert _apply(text, across) == "model M { }\n"


def test_hover_on_a_keyword_names_its_default_not_the_op_of_that_name() -> None:
    from survae_dsl.lsp.hover import hover_markdown

    text = (
        "model M {\n    input x: real[2]\n    h = affine_coupling(x, net=mlp(hidden=[8]), scale=exp)\n"
        "    h ~ normal()\n}\n"
    )
    analysis = analyse(text, "m.survae")
    line = text.split("\n")[2]
    found = hover_markdown(analysis, line, 2, line.index("scale=") + 1)  # `scale` is also an op
    assert found is not None and found.startswith("`scale` of `affine_coupling`: default `tanh_exp`; one of")
