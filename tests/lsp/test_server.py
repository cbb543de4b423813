"""The language server through a real client over stdio: diagnostics, hover, completion,
definition, references, symbols, formatting, code actions (applied, the result compiled)."""

from __future__ import annotations

import contextlib
import io

import pytest
from lsprotocol import types as lsp
from pytest_lsp import LanguageClient

from survae_dsl.compiler.drivers.cli import main as compile_main
from survae_dsl.compiler.drivers.driver import check_source
from survae_dsl.compiler.frontend.format import format_source

from .conftest import ROOT, apply_edits, open_document, replace_text

pytestmark = pytest.mark.asyncio(loop_scope="module")

GLOW = (ROOT / "examples/language/glow.survae").read_text(encoding="utf-8")
TYPO = """model M {
    input x: real[2]
    h = affine_coupler(x, net=mlp(hidden=[16]))
    h ~ standard_normal()
}
"""
UNCONSUMED = (ROOT / "tests/bad/E401_never_consumed.survae").read_text(encoding="utf-8")
TWICE = (ROOT / "tests/bad/E402_consumed_twice.survae").read_text(encoding="utf-8")
LEAK = (ROOT / "tests/good/abs_flow_leak.survae").read_text(encoding="utf-8")


def _doc(uri: str) -> lsp.TextDocumentIdentifier:
    return lsp.TextDocumentIdentifier(uri)


async def _hover(client: LanguageClient, uri: str, line: int, character: int) -> str:
    """The hover's Markdown at a 0-based position ('' if none)."""
    found = await client.text_document_hover_async(lsp.HoverParams(_doc(uri), lsp.Position(line, character)))
    if found is None:
        return ""
    assert isinstance(found.contents, lsp.MarkupContent)
    return found.contents.value


def _column(text: str, line: int, needle: str) -> int:
    """The 0-based column of `needle` on 0-based `line` of `text`."""
    return text.split("\n")[line].index(needle)


async def test_an_error_is_published_at_its_range_and_cleared_when_fixed(client: LanguageClient) -> None:
    uri = "file:///tmp/typo.survae"
    (found,) = await open_document(client, uri, TYPO)
    assert found.code == "E201" and found.severity == lsp.DiagnosticSeverity.Error
    assert found.range == lsp.Range(lsp.Position(2, 8), lsp.Position(2, 22))  # `affine_coupler`
    assert found.message == "unknown op `affine_coupler`\nhelp: did you mean `affine_coupling`?"
    assert found.code_description is not None
    assert found.code_description.href.endswith("diagnostics.md#e201-unknown-op-distribution-or-net")
    assert await replace_text(client, uri, TYPO.replace("coupler", "coupling"), 2) == []


async def test_notes_are_related_information(client: LanguageClient) -> None:
    (found,) = await open_document(client, "file:///tmp/twice.survae", TWICE)
    assert found.code == "E402"
    (note,) = found.related_information or []
    assert note.message == "first consumed here"
    assert note.location.range.start == lsp.Position(3, 16)


async def test_hover_on_a_tensor_an_op_a_model_and_a_code(client: LanguageClient) -> None:
    uri = "file:///tmp/glow.survae"
    assert await open_document(client, uri, GLOW) == []
    squeezed = await _hover(client, uri, 23, 4)  # `h = squeeze2d(h)   # [4, 4, 4]`
    assert "h: real[4, 4, 4]" in squeezed and "fills: yes" in squeezed and "fold: -" in squeezed
    assert "line 24" in squeezed
    coupling = await _hover(client, uri, 8, _column(GLOW, 8, "affine_coupling") + 3)
    assert "affine_coupling(x, net, context=none" in coupling and "`scale`: default `tanh_exp`" in coupling
    assert "log|det J|" in coupling  # the maths line of the catalogue
    model = await _hover(client, uri, 18, 7)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        compile_main([str(ROOT / "examples/language/glow.survae"), "--check"])
    total = next(line.split()[-1] for line in out.getvalue().splitlines() if line.strip().startswith("total"))
    assert "**lower bound**" in model and f"parameters: {total}" in model
    assert "`dequantize` at line 23 is generative-surjective" in model
    coded = "# E401: never consumed\n" + UNCONSUMED
    await open_document(client, "file:///tmp/coded.survae", coded)
    explained = await _hover(client, "file:///tmp/coded.survae", 0, 3)
    assert explained.startswith("```text\nE401: tensor never consumed") and "Right:" in explained


async def test_names_and_types_come_from_the_last_text_that_parsed(client: LanguageClient) -> None:
    uri = "file:///tmp/typing.survae"
    await open_document(client, uri, GLOW)
    broken = GLOW.replace("h = squeeze2d(h)                      # [4, 4, 4]", "h = squeeze2d(h")
    found = await replace_text(client, uri, broken, 2)
    assert [d.code for d in found] == ["E102"]
    assert "real[1, 8, 8]" in await _hover(client, uri, 22, 4)  # the line above the broken one
    definition = await client.text_document_definition_async(
        lsp.DefinitionParams(_doc(uri), lsp.Position(27, _column(GLOW, 27, "glow_step")))
    )
    assert isinstance(definition, lsp.Location) and definition.range.start == lsp.Position(5, 6)


async def test_completion_offers_keywords_values_and_names_in_scope(client: LanguageClient) -> None:
    uri = "file:///tmp/complete.survae"
    await open_document(client, uri, GLOW)

    async def labels(text: str, line: int, character: int, version: int) -> dict[str, lsp.CompletionItem]:
        await replace_text(client, uri, text, version)
        found = await client.text_document_completion_async(
            lsp.CompletionParams(_doc(uri), lsp.Position(line, character))
        )
        assert isinstance(found, lsp.CompletionList)
        return {item.label: item for item in found.items}

    lines = GLOW.split("\n")
    # Inside a call, unfinished: its keywords with their defaults, and the tensors in scope.
    typed = "    h = affine_coupling(h, "
    text = "\n".join([*lines[:24], typed, *lines[24:]])
    inside = await labels(text, 24, len(typed), 2)
    assert inside["scale="].detail == "default tanh_exp" and inside["net="].detail == "required"
    assert "h" in inside and "HIDDEN" in inside
    # After `scale=`: its choices.
    typed = "    h = affine_coupling(h, scale="
    text = "\n".join([*lines[:24], typed, *lines[24:]])
    values = await labels(text, 24, len(typed), 3)
    assert {"tanh_exp", "exp", "softplus", "sigmoid"} <= set(values)
    # At the start of a statement: ops, blocks, the model's tensors, keywords.
    typed = "    h = glo"
    text = "\n".join([*lines[:24], typed, *lines[24:]])
    anywhere = await labels(text, 24, len(typed), 4)
    assert {"glow_step", "factor_out", "squeeze2d", "actnorm", "x", "repeat"} <= set(anywhere)
    # After `~`: distributions.
    typed = "    h ~ "
    text = "\n".join([*lines[:24], typed, *lines[24:]])
    after = await labels(text, 24, len(typed), 5)
    assert "normal" in after and "squeeze2d" not in after


async def test_definition_references_and_symbols(client: LanguageClient) -> None:
    uri = "file:///tmp/nav.survae"
    await open_document(client, uri, GLOW)
    line = GLOW.split("\n").index("    repeat 2 { h = glow_step(h) }")
    at = lsp.Position(line, _column(GLOW, line, "glow_step") + 2)
    definition = await client.text_document_definition_async(lsp.DefinitionParams(_doc(uri), at))
    assert isinstance(definition, lsp.Location) and definition.range.start == lsp.Position(5, 6)
    references = await client.text_document_references_async(
        lsp.ReferenceParams(
            text_document=_doc(uri), position=at, context=lsp.ReferenceContext(include_declaration=True)
        )
    )
    assert references is not None
    assert sorted(r.range.start.line for r in references) == [5, 24, 27, 30]
    # A tensor bound again is a new tensor: `h` of line 24 is used once, on line 25.
    bound = lsp.Position(23, 4)
    uses = await client.text_document_references_async(
        lsp.ReferenceParams(
            text_document=_doc(uri), position=bound, context=lsp.ReferenceContext(include_declaration=False)
        )
    )
    assert uses is not None and [(u.range.start.line, u.range.start.character) for u in uses] == [(24, 29)]
    symbols = await client.text_document_document_symbol_async(lsp.DocumentSymbolParams(text_document=_doc(uri)))
    assert symbols is not None
    assert [(s.name, s.kind) for s in symbols if isinstance(s, lsp.DocumentSymbol)] == [
        ("HIDDEN", lsp.SymbolKind.Constant),
        ("glow_step", lsp.SymbolKind.Function),
        ("factor_out", lsp.SymbolKind.Function),
        ("Glow", lsp.SymbolKind.Module),
    ]


async def test_formatting_gives_the_formatters_text(client: LanguageClient) -> None:
    uri = "file:///tmp/format.survae"
    messy = "model M {\n  input x: real[2]\n      h = reverse( x )\n  h ~ standard_normal( )\n}\n"
    await open_document(client, uri, messy)
    options = lsp.FormattingOptions(tab_size=4, insert_spaces=True)
    edits = await client.text_document_formatting_async(
        lsp.DocumentFormattingParams(text_document=_doc(uri), options=options)
    )
    assert edits is not None and apply_edits(messy, edits) == format_source(messy)
    await replace_text(client, uri, messy.replace("}", ""), 2)  # does not parse: left alone
    assert (
        await client.text_document_formatting_async(
            lsp.DocumentFormattingParams(text_document=_doc(uri), options=options)
        )
        is None
    )


async def _fix(client: LanguageClient, uri: str, text: str, at: lsp.Range) -> tuple[str, str]:
    """(the action's title, the text with the one action offered at `at` applied)."""
    actions = await client.text_document_code_action_async(
        lsp.CodeActionParams(text_document=_doc(uri), range=at, context=lsp.CodeActionContext(diagnostics=[]))
    )
    assert actions is not None
    (action,) = actions
    assert isinstance(action, lsp.CodeAction) and action.edit is not None and action.edit.changes is not None
    return action.title, apply_edits(text, action.edit.changes[uri])


async def test_code_action_applies_the_did_you_mean(client: LanguageClient) -> None:
    uri = "file:///tmp/fix-typo.survae"
    (found,) = await open_document(client, uri, TYPO)
    title, fixed = await _fix(client, uri, TYPO, found.range)
    assert title == "replace `affine_coupler` with `affine_coupling`"
    assert fixed == TYPO.replace("coupler", "coupling")
    assert check_source(fixed).models[0].likelihood == "exact"


async def test_code_action_adds_the_missing_distribution(client: LanguageClient) -> None:
    uri = "file:///tmp/fix-unconsumed.survae"
    (found,) = await open_document(client, uri, UNCONSUMED)
    title, fixed = await _fix(client, uri, UNCONSUMED, found.range)
    assert title == "add `y ~ standard_normal()`"
    assert fixed.endswith("    x ~ standard_normal()\n    y ~ standard_normal()\n}\n")
    assert check_source(fixed).models[0].likelihood == "exact"
    assert await replace_text(client, uri, fixed, 2) == []


async def test_code_action_closes_a_fold_leak_and_the_model_becomes_exact(client: LanguageClient) -> None:
    uri = "file:///tmp/fix-leak.survae"
    found = await open_document(client, uri, LEAK)
    assert check_source(LEAK).models[0].likelihood == "lower_bound"
    (leak,) = [d for d in found if d.severity == lsp.DiagnosticSeverity.Information]
    assert leak.message.startswith("fold leak: `affine_coupling`")
    title, fixed = await _fix(client, uri, LEAK, leak.range)
    assert title == "close the fold of `abs` with `softplus_inv`"
    assert (
        "    h = abs(x)                          # inference surjection: exact only inside its fold\n"
        "    h = softplus_inv(h)\n" in fixed
    )
    assert check_source(fixed).models[0].likelihood == "exact"
    assert await replace_text(client, uri, fixed, 2) == []


async def test_inlay_hints_are_off_by_default(client: LanguageClient) -> None:
    uri = "file:///tmp/inlay.survae"
    await open_document(client, uri, GLOW)
    whole = lsp.Range(lsp.Position(0, 0), lsp.Position(40, 0))
    assert (
        await client.text_document_inlay_hint_async(lsp.InlayHintParams(text_document=_doc(uri), range=whole)) is None
    )
