"""A text that does not parse is the normal state while typing: every request type answers at
every line end of each example cut there, and at 200 random cut points of each (fixed seed),
without an error response and without the server logging an internal error."""

from __future__ import annotations

import asyncio
import random

import pytest
import pytest_lsp
from lsprotocol import types as lsp
from pytest_lsp import ClientServerConfig, LanguageClient

from .conftest import ROOT, SERVER

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

EXAMPLES = sorted(ROOT.glob("examples/**/*.survae"))
CUTS = 200
SEED = 20261205


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER), scope="module")
async def client(lsp_client: LanguageClient):
    options = {"debounceMs": 0, "inlayHints": True}
    params = lsp.InitializeParams(capabilities=lsp.ClientCapabilities(), initialization_options=options)
    await lsp_client.initialize_session(params)
    yield
    await lsp_client.shutdown_session()


def _cut_points(text: str, rng: random.Random) -> list[int]:
    """Every line end, then CUTS random offsets."""
    ends = [i for i, char in enumerate(text) if char == "\n"]
    return ends + [rng.randrange(len(text) + 1) for _ in range(CUTS)]


def _position(text: str) -> lsp.Position:
    """The end of `text`, where the user is typing."""
    lines = text.split("\n")
    return lsp.Position(len(lines) - 1, len(lines[-1]))


async def _every_request(client: LanguageClient, uri: str, at: lsp.Position) -> None:
    doc = lsp.TextDocumentIdentifier(uri)
    around = lsp.Range(lsp.Position(max(at.line - 3, 0), 0), at)
    await asyncio.gather(
        client.text_document_hover_async(lsp.HoverParams(text_document=doc, position=at)),
        client.text_document_completion_async(lsp.CompletionParams(text_document=doc, position=at)),
        client.text_document_definition_async(lsp.DefinitionParams(text_document=doc, position=at)),
        client.text_document_references_async(
            lsp.ReferenceParams(text_document=doc, position=at, context=lsp.ReferenceContext(True))
        ),
        client.text_document_document_symbol_async(lsp.DocumentSymbolParams(text_document=doc)),
        client.text_document_formatting_async(
            lsp.DocumentFormattingParams(text_document=doc, options=lsp.FormattingOptions(4, True))
        ),
        client.text_document_code_action_async(
            lsp.CodeActionParams(text_document=doc, range=around, context=lsp.CodeActionContext(diagnostics=[]))
        ),
        client.text_document_inlay_hint_async(lsp.InlayHintParams(text_document=doc, range=around)),
    )


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT / "examples")))
async def test_every_request_answers_on_every_cut(client: LanguageClient, path) -> None:
    text = path.read_text(encoding="utf-8")
    uri = f"file:///fuzz/{path.name}"
    client.text_document_did_open(lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(uri, "survae", 1, text)))
    rng = random.Random(f"{SEED}:{path.name}")
    for version, cut in enumerate(_cut_points(text, rng), start=2):
        change = lsp.TextDocumentContentChangeWholeDocument(text=text[:cut])
        identifier = lsp.VersionedTextDocumentIdentifier(uri=uri, version=version)
        client.text_document_did_change(lsp.DidChangeTextDocumentParams(identifier, [change]))
        await _every_request(client, uri, _position(text[:cut]))
    client.text_document_did_close(lsp.DidCloseTextDocumentParams(lsp.TextDocumentIdentifier(uri)))
    errors = [m.message for m in client.log_messages if m.type == lsp.MessageType.Error]
    assert errors == []
