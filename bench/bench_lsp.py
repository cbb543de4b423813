"""Language-server benchmarks (survae-lsp over stdio, driven by a pygls client).

6. Time from a change to its published diagnostics, the server started with `debounceMs: 0`
   so that the figure is the check alone (an editor's server waits DEBOUNCE_SECONDS = 0.1 s
   after the last keystroke first): on examples/zoo/glow_cifar10.survae (Glow at its CIFAR-10
   size, 55 lines) and on a generated model of 2,000 lines (couplings and reversals written
   out, as bench_compile's). Each edit changes a number of the model (in Glow, of the block
   every step calls), so every check lowers and checks the whole model again; the server
   re-parses only the statement that changed (compiler/frontend/incremental.py) and runs the
   check with Python's cyclic collector off (survae_dsl/lsp/server.py). The first request
   (imports, grammar tables) is left out. Targets: median < 50 ms (Glow) and < 300 ms (2,000
   lines). The small Glow of examples/language (8x8 images, 33 lines) is timed too. Beside
   the figures, the same check in this process: whole, as a library call makes it, and as
   the server makes it after an edit.
7. The server's resident memory after 1,000 edits of the Glow file, against the same after
   a warm-up of 100. Target: growth < 5 MB.

Nothing here asserts a time. Run alone with `python bench/bench_lsp.py`, or with the others
by bench/run_all.py.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import sys
import time
from pathlib import Path

from common import EXAMPLES, ROOT, Row, machine_lines, print_summary, verdict
from lsprotocol import types as lsp
from pygls.lsp.client import LanguageClient

from survae_dsl.compiler.core.gc_pause import paused_gc

GLOW = EXAMPLES / "zoo" / "glow_cifar10.survae"
SMALL_GLOW = EXAMPLES / "language" / "glow.survae"
GLOW_EDITS = 40
BIG_LINES = 2000
BIG_EDITS = 8
MEMORY_WARM_UP = 100
MEMORY_EDITS = 1000
TARGET_GLOW_MS = 50
TARGET_BIG_MS = 300
TARGET_GROWTH_MB = 5


def big_model(lines: int) -> str:
    """A model of exactly `lines` lines: an input, couplings and reversals taking turns, a prior."""
    body = ["model Chain {", "    input x: real[4]", "    h = x"]
    ops = lines - len(body) - 2
    for index in range(ops):
        body.append("    h = affine_coupling(h, net=mlp(hidden=[32]))" if index % 2 == 0 else "    h = reverse(h)")
    body += ["    h ~ standard_normal()", "}"]
    return "\n".join(body) + "\n"


class Session:
    """A server process and a client that can time one change to its diagnostics."""

    def __init__(self) -> None:
        self.client = LanguageClient("survae-bench", "1")
        self.arrived: dict[tuple[str, int | None], float] = {}
        self.waiting: dict[tuple[str, int | None], asyncio.Future[float]] = {}

        @self.client.feature(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def published(params: lsp.PublishDiagnosticsParams) -> None:
            key = (params.uri, params.version)
            future = self.waiting.pop(key, None)
            if future is not None and not future.done():
                future.set_result(time.perf_counter())

    async def start(self) -> None:
        await self.client.start_io(sys.executable, "-m", "survae_dsl.lsp", cwd=str(ROOT))
        params = lsp.InitializeParams(capabilities=lsp.ClientCapabilities(), initialization_options={"debounceMs": 0})
        await self.client.initialize_async(params)
        self.client.initialized(lsp.InitializedParams())

    @property
    def pid(self) -> int:
        server = self.client._server  # the asyncio subprocess pygls started
        assert server is not None
        return server.pid

    def _expect(self, uri: str, version: int) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiting[(uri, version)] = future
        return future

    async def open(self, uri: str, text: str) -> float:
        future = self._expect(uri, 1)
        start = time.perf_counter()
        self.client.text_document_did_open(lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(uri, "survae", 1, text)))
        return await asyncio.wait_for(future, 120) - start

    async def change(self, uri: str, text: str, version: int) -> float:
        """Seconds from sending the new text to receiving its diagnostics."""
        future = self._expect(uri, version)
        start = time.perf_counter()
        change = lsp.TextDocumentContentChangeWholeDocument(text=text)
        identifier = lsp.VersionedTextDocumentIdentifier(uri=uri, version=version)
        self.client.text_document_did_change(lsp.DidChangeTextDocumentParams(identifier, [change]))
        return await asyncio.wait_for(future, 120) - start

    async def stop(self) -> None:
        await self.client.shutdown_async(None)
        self.client.exit(None)
        await self.client.stop()


def rss_mb(pid: int) -> float:
    """Resident memory of process `pid` in MB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc status")


def _edited(text: str, needle: str, index: int) -> str:
    """`text` with its first `needle` (ending in a number) given another number each time."""
    assert needle in text, needle
    return text.replace(needle, needle[:-1] + str(2 + index % 7), 1)


async def _timings(session: Session, uri: str, text: str, needle: str, edits: int) -> tuple[float, list[float]]:
    first = await session.open(uri, text)
    times = [await session.change(uri, _edited(text, needle, i), i + 2) for i in range(edits)]
    return first, times


async def measure() -> dict[str, object]:
    session = Session()
    await session.start()
    try:
        glow = GLOW.read_text(encoding="utf-8")
        glow_first, glow_times = await _timings(
            session, "file:///bench/glow.survae", glow, "hidden=[512, 512", GLOW_EDITS
        )
        small = SMALL_GLOW.read_text(encoding="utf-8")
        small_first, small_times = await _timings(
            session, "file:///bench/small.survae", small, "HIDDEN = 32", GLOW_EDITS
        )
        big = big_model(BIG_LINES)
        big_first, big_times = await _timings(session, "file:///bench/big.survae", big, "hidden=[32", BIG_EDITS)
        uri = "file:///bench/memory.survae"
        await session.open(uri, glow)
        version = 1
        for i in range(MEMORY_WARM_UP):
            version += 1
            await session.change(uri, _edited(glow, "hidden=[512, 512", i), version)
        before = rss_mb(session.pid)
        for i in range(MEMORY_EDITS):
            version += 1
            await session.change(uri, _edited(glow, "hidden=[512, 512", i), version)
        after = rss_mb(session.pid)
    finally:
        await session.stop()
    return {
        "glow_first": glow_first,
        "glow": glow_times,
        "small": small_times,
        "big_first": big_first,
        "big": big_times,
        "rss_before": before,
        "rss_after": after,
    }


def _in_process(text: str, runs: int) -> float:
    """Median milliseconds of `analyse(text)` here (after one warm-up run): the whole check,
    with the cyclic collector on, as a library caller gets it."""
    from survae_dsl.compiler.drivers.analysis import analyse

    analyse(text)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        analyse(text)
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def _as_the_server(text: str, needle: str, runs: int) -> float:
    """Median milliseconds of `analyse(edited, previous=...)` here, as the server checks an
    edit: only the changed statement re-parsed, the cyclic collector off during the check."""
    from survae_dsl.compiler.drivers.analysis import analyse

    previous = analyse(text)
    times = []
    with paused_gc():
        for index in range(runs):
            edited = _edited(text, needle, index)
            start = time.perf_counter()
            analyse(edited, previous=previous)
            times.append(time.perf_counter() - start)
    gc.collect()
    return 1e3 * statistics.median(times)


def run(rows: list[Row]) -> None:
    print("6. language server: change → published diagnostics (debounce set to 0; editors wait 0.1 s first)")
    found = asyncio.run(measure())
    glow_ms = 1e3 * statistics.median(found["glow"])  # type: ignore[arg-type]
    big_ms = 1e3 * statistics.median(found["big"])  # type: ignore[arg-type]
    small_ms = 1e3 * statistics.median(found["small"])  # type: ignore[arg-type]
    print(
        f"   {GLOW.relative_to(ROOT)}: first {1e3 * found['glow_first']:.0f} ms (opening), "  # type: ignore[operator]
        f"then median {glow_ms:.1f} ms of {GLOW_EDITS} edits"
    )
    print(f"   {SMALL_GLOW.relative_to(ROOT)}: median {small_ms:.1f} ms of {GLOW_EDITS} edits")
    print(
        f"   generated {BIG_LINES:,}-line model: first {1e3 * found['big_first']:.0f} ms, "  # type: ignore[operator]
        f"then median {big_ms:.0f} ms of {BIG_EDITS} edits"
    )
    # Where the time goes: the same check in this process, without the server and the pipe.
    glow_check = _in_process(GLOW.read_text(encoding="utf-8"), GLOW_EDITS // 4)
    big_check = _in_process(big_model(BIG_LINES), 3)
    print(f"   the check alone, in-process (analyse): Glow {glow_check:.1f} ms, {BIG_LINES:,} lines {big_check:.0f} ms")
    glow_edit = _as_the_server(GLOW.read_text(encoding="utf-8"), "hidden=[512, 512", GLOW_EDITS // 4)
    big_edit = _as_the_server(big_model(BIG_LINES), "hidden=[32", BIG_EDITS)
    print(
        f"   an edit checked as the server does, in-process: Glow {glow_edit:.1f} ms, "
        f"{BIG_LINES:,} lines {big_edit:.0f} ms"
    )
    before, after = found["rss_before"], found["rss_after"]
    growth = after - before  # type: ignore[operator]
    print(f"7. server memory: {before:.1f} MB after {MEMORY_WARM_UP} edits, {after:.1f} MB after {MEMORY_EDITS} more")
    rows.append(
        Row(
            "lsp diagnostics, Glow CIFAR-10 (55 lines)",
            f"{glow_ms:.1f} ms",
            f"< {TARGET_GLOW_MS} ms",
            verdict(glow_ms < TARGET_GLOW_MS),
        )
    )
    rows.append(
        Row(
            "lsp diagnostics, Glow 8x8 (33 lines)",
            f"{small_ms:.1f} ms",
            f"< {TARGET_GLOW_MS} ms",
            verdict(small_ms < TARGET_GLOW_MS),
        )
    )
    rows.append(
        Row(
            f"lsp diagnostics, {BIG_LINES:,}-line model",
            f"{big_ms:.0f} ms",
            f"< {TARGET_BIG_MS} ms",
            verdict(big_ms < TARGET_BIG_MS),
        )
    )
    rows.append(
        Row(
            f"lsp memory growth, {MEMORY_EDITS:,} edits",
            f"{growth:+.1f} MB",
            f"< {TARGET_GROWTH_MB} MB",
            verdict(growth < TARGET_GROWTH_MB),
        )
    )


def main() -> None:
    print("\n".join(machine_lines()) + "\n")
    rows: list[Row] = []
    run(rows)
    print()
    print_summary(rows)


if __name__ == "__main__":
    main()
