"""A real LSP client (pytest-lsp) driving `python -m survae_dsl.lsp` over stdio.

One server per test module (starting one takes about a second on two cores): each module's
tests open documents of their own names, so they do not see each other's state.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest_lsp
from lsprotocol import types as lsp
from pytest_lsp import ClientServerConfig, LanguageClient

ROOT = Path(__file__).resolve().parents[2]
SERVER = [sys.executable, "-m", "survae_dsl.lsp"]


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER), scope="module")
async def client(lsp_client: LanguageClient):
    # debounceMs=0: the tests wait for each check; the window itself is not what they test.
    params = lsp.InitializeParams(capabilities=lsp.ClientCapabilities(), initialization_options={"debounceMs": 0})
    await lsp_client.initialize_session(params)
    yield
    await lsp_client.shutdown_session()


async def published(client: LanguageClient, uri: str, version: int) -> list[lsp.Diagnostic]:
    """Wait for the diagnostics of `uri` at `version` (earlier ones are skipped)."""
    while True:
        future = asyncio.wrap_future(client.protocol.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS))
        params: lsp.PublishDiagnosticsParams = await asyncio.wait_for(future, 30)
        if params.uri == uri and params.version == version:
            return list(params.diagnostics)


async def open_document(client: LanguageClient, uri: str, text: str, version: int = 1) -> list[lsp.Diagnostic]:
    """Open `text` as `uri` and return its first diagnostics."""
    waiting = asyncio.ensure_future(published(client, uri, version))
    await asyncio.sleep(0)  # let the waiter register before the server can answer
    client.text_document_did_open(lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(uri, "survae", version, text)))
    return await waiting


async def replace_text(client: LanguageClient, uri: str, text: str, version: int) -> list[lsp.Diagnostic]:
    """Replace the whole text of `uri` and return the diagnostics of the new version."""
    waiting = asyncio.ensure_future(published(client, uri, version))
    await asyncio.sleep(0)
    change = lsp.TextDocumentContentChangeWholeDocument(text=text)
    client.text_document_did_change(
        lsp.DidChangeTextDocumentParams(lsp.VersionedTextDocumentIdentifier(uri=uri, version=version), [change])
    )
    return await waiting


def apply_edits(text: str, edits: list[lsp.TextEdit]) -> str:
    """`text` with LSP edits applied (from the last to the first, so positions stay valid)."""
    lines = text.split("\n")
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)

    def offset(p: lsp.Position) -> int:
        return min(starts[min(p.line, len(lines) - 1)] + p.character, len(text)) if p.line < len(lines) else len(text)

    ordered = sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True)
    for edit in ordered:
        text = text[: offset(edit.range.start)] + edit.new_text + text[offset(edit.range.end) :]
    return text
