"""The playground in a real browser: Debian's headless Chromium driven by Playwright.

The server is the real `survae-compile --serve` (tests/playground/server.py); the browser types
with the keyboard, clicks, and reads the page as a user sees it. Skips with the install command
where Playwright or Chromium is missing (`make test` installs both).
"""

from __future__ import annotations

import http.server
import shutil
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .browser import launched_browser
from .server import Served, served

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.slow

STARTER = Path(__file__).resolve().parents[2] / "survae_dsl" / "playground" / "starter.survae"
RED = "#cc0000"  # render_dot's colour for the ops that make a model a lower bound


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launched_browser() as launched:
        yield launched


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "model.survae"
    shutil.copy(STARTER, path)
    return path


def _open(browser: Browser, server: Served) -> Page:
    page = browser.new_page(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server.url)
    page.wait_for_selector(".verdict .class")
    page.errors = errors  # type: ignore[attr-defined]  # checked at the end of each test
    return page


def _line_of(text: str, needle: str) -> int:
    """The 1-based line of `text` holding `needle` as code (not in a comment)."""
    return next(i for i, line in enumerate(text.split("\n"), 1) if needle in line.split("#")[0])


def _go_to_line(page: Page, line: int) -> None:
    """Put the caret at the start of `line` with the keyboard."""
    page.click("#editor")
    page.keyboard.press("Control+Home")
    for _ in range(line - 1):
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Home")


def _delete_line(page: Page, line: int) -> None:
    _go_to_line(page, line)
    page.keyboard.press("Shift+ArrowDown")
    page.keyboard.press("Backspace")


def _revision(page: Page) -> int:
    return int(page.get_attribute("#diagram", "data-revision") or 0)


def _wait_for_redraw(page: Page, after: int) -> None:
    # Functions, not expressions: the page's policy forbids eval, which expressions would need.
    page.wait_for_function("(after) => Number(document.getElementById('diagram').dataset.revision) > after", arg=after)
    page.wait_for_function("() => document.body.dataset.state !== 'busy'")


def _verdict(page: Page) -> str:
    return page.inner_text(".verdict[data-model='Playground'] .class")


def _selected_line(page: Page) -> tuple[int, str]:
    """(line of the selection's start, the selected text) in the editor."""
    line, text = page.evaluate(
        "() => { const e = document.getElementById('editor');"
        " return [e.value.slice(0, e.selectionStart).split('\\n').length,"
        " e.value.slice(e.selectionStart, e.selectionEnd)]; }"
    )
    return int(line), str(text)


def _red_lines(page: Page) -> list[int]:
    """The `sv-at-L` lines of the diagram's nodes outlined in red."""
    found = page.evaluate(
        "(red) => [...document.querySelectorAll('#diagram g.sv-node')]"
        ".filter(g => [...g.children].some(c => c.getAttribute('stroke') === red))"
        ".map(g => [...g.classList].find(c => c.startsWith('sv-at-')).slice(6))",
        RED,
    )
    return [int(line) for line in found]


def test_editing_changes_verdict_diagram_and_selection_and_saves(
    browser: Browser, model_file: Path, tmp_path: Path
) -> None:
    with served(model_file) as server:
        page = _open(browser, server)
        assert _verdict(page) == "exact log-likelihood"
        assert _red_lines(page) == []
        assert "Playground: exact log-likelihood" in (page.text_content("#diagram svg") or "")

        # Delete the closing map: the first coupling now leaks out of abs's fold.
        text = page.input_value("#editor")
        before = _revision(page)
        _delete_line(page, _line_of(text, "softplus_inv("))
        _wait_for_redraw(page, before)
        assert _verdict(page) == "lower bound"
        edited = page.input_value("#editor")
        coupling = _line_of(edited, "affine_coupling(")
        assert coupling in _red_lines(page)
        assert "fold leak" in page.inner_text(".verdict[data-model='Playground'] li")
        assert "Playground: lower bound" in (page.text_content("#diagram svg") or "")

        # A click on the red node selects its line; the caret on a line selects its nodes.
        page.click(f"#diagram g.sv-node.sv-at-{coupling}")
        line, selected = _selected_line(page)
        assert line == coupling
        assert selected.strip().startswith("h = affine_coupling(")
        abs_line = _line_of(edited, "abs(")
        _go_to_line(page, abs_line)
        page.wait_for_selector(f"#diagram g.sv-node.sv-line-{abs_line}.selected")
        assert page.locator("#diagram g.sv-node.selected").count() == 1
        assert page.locator(f"#tensors tr.selected[data-line='{abs_line}']").count() == 1

        # A typo is underlined and listed with its explanation.
        page.keyboard.press("End")
        page.keyboard.press("Enter")
        page.keyboard.type("h = frobnicate(h)")
        typo = abs_line + 1
        page.wait_for_selector(f"#diagnostics li[data-code='E201'][data-line='{typo}']")
        assert "unknown op `frobnicate`" in page.inner_text("#diagnostics li[data-code='E201']")
        assert page.locator("#highlight .sq-error", has_text="frobnicate").count() == 1
        assert (page.text_content("#diagnostics li[data-code='E201'] details pre") or "").startswith("E201")
        assert "No verdict" in page.inner_text("#verdicts")
        page.click("#diagnostics li[data-code='E201'] .message")  # a click on it selects its line
        assert _selected_line(page)[0] == typo
        before = _revision(page)
        _delete_line(page, typo)
        _wait_for_redraw(page, before)
        assert page.locator("#diagnostics li.diagnostic").count() == 0
        assert page.input_value("#editor") == edited

        # Collapse and direction redraw in place.
        before = _revision(page)
        page.check("#collapse")
        _wait_for_redraw(page, before)
        assert "3 × 2" in (page.text_content("#diagram svg") or "")  # the repeat as one node: 3 passes of 2 layers
        before = _revision(page)
        page.select_option("#direction", "generative")
        _wait_for_redraw(page, before)
        assert "(sampling direction)" in (page.text_content("#diagram svg") or "")

        # Save writes the editor's text to the file it was started with.
        page.click("#save")
        page.wait_for_function("() => document.getElementById('status').textContent.startsWith('saved')")
        assert model_file.read_text(encoding="utf-8") == edited
        assert page.is_hidden("#dirty")

        # Downloads: the compiled module and the diagram.
        with page.expect_download() as download:
            page.click("#download-py")
        assert download.value.suggested_filename == "model.py"
        module = Path(download.value.path()).read_text(encoding="utf-8")
        compile(module, "model.py", "exec")
        assert "class Playground" in module
        with page.expect_download() as download:
            page.click("#download-svg")
        assert "<svg" in Path(download.value.path()).read_text(encoding="utf-8")

        page.screenshot(path=str(tmp_path / "playground.png"), full_page=True)
        assert (tmp_path / "playground.png").stat().st_size > 10_000
        assert page.errors == []  # type: ignore[attr-defined]


def test_without_a_file_nothing_can_be_saved(browser: Browser, tmp_path: Path) -> None:
    with served(None, cwd=tmp_path) as server:
        page = _open(browser, server)
        assert page.is_disabled("#save")
        assert page.input_value("#editor") == STARTER.read_text(encoding="utf-8")
        page.keyboard.press("Control+s")
        assert list(tmp_path.iterdir()) == []
        assert page.errors == []  # type: ignore[attr-defined]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


@pytest.fixture
def other_site(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """Another web site on this machine (another port, so another origin): (its address, its folder)."""
    folder = tmp_path / "site"
    folder.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(folder)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", folder
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_another_site_cannot_read_or_drive_it(browser: Browser, model_file: Path, other_site: tuple[str, Path]) -> None:
    """A page of another origin in the same browser posts a form (no preflight) at the save
    endpoint and tries to read the file with fetch: the file stays as it was, nothing is read."""
    address, folder = other_site
    original = model_file.read_text(encoding="utf-8")
    with served(model_file) as server:
        target = f"http://127.0.0.1:{server.port}"
        (folder / "attack.html").write_text(
            "<!doctype html><html><body>"
            f"<form method='POST' action='{target}/api/save' enctype='text/plain'>"
            '<input name=\'{"text": "model Pwned {", "x": "\' value=\'"}\'></form>'
            f"<script>fetch('{target}/api/file', {{method: 'POST', body: '{{}}'}})"
            ".then(r => r.text()).then(t => { document.title = 'read: ' + t; },"
            " e => { document.title = 'blocked'; document.forms[0].submit(); });</script>"
            "</body></html>",
            encoding="utf-8",
        )
        page = browser.new_page()
        page.goto(f"{address}/attack.html")
        page.wait_for_load_state()
        page.wait_for_url(f"{target}/api/save")  # the form was submitted ...
        assert "token" in page.inner_text("body") or "other sites" in page.inner_text("body")  # ... and refused
        assert model_file.read_text(encoding="utf-8") == original


def test_highlighting_and_underlines_follow_the_characters(browser: Browser, model_file: Path) -> None:
    """Strings with escapes, an unclosed string, and an underline after a character outside the
    BMP (the checker counts code points, JavaScript UTF-16 units)."""
    with served(model_file) as server:
        page = _open(browser, server)
        text = (
            "model M {\n"
            '    doc "a \\"quoted\\" word"\n'
            "    input x: real[2]\n"
            '    # 😀 then an op: h = frobnicate(x) "unclosed\n'
            "    h = frobnicate(x)  # 😀\n"
            "    h ~ standard_normal()\n"
            "}\n"
        )
        page.fill("#editor", text)
        page.wait_for_selector("#diagnostics li[data-code='E201'][data-line='5']")
        strings = page.locator("#highlight .tm-string").all_inner_texts()
        assert strings == ['"a \\"quoted\\" word"']
        assert page.locator("#highlight .tm-comment").all_inner_texts() == [
            '# 😀 then an op: h = frobnicate(x) "unclosed',
            "# 😀",
        ]
        assert page.locator("#highlight .sq-error").all_inner_texts() == ["frobnicate"]

        # E101 at the emoji (one code point, two UTF-16 units): the underline covers it whole.
        page.fill("#editor", text.replace("    h = frobnicate(x)  # 😀", "    😀 = frobnicate(x)"))
        page.wait_for_selector("#diagnostics li[data-code='E101'][data-line='5']")
        assert page.locator("#highlight .sq-error").all_inner_texts() == ["😀"]
        assert page.errors == []  # type: ignore[attr-defined]


def test_enter_keeps_the_indentation_and_indents_after_a_brace(browser: Browser, model_file: Path) -> None:
    with served(model_file) as server:
        page = _open(browser, server)
        page.fill("#editor", "")
        page.click("#editor")
        page.keyboard.type("model M {")
        page.keyboard.press("Enter")
        page.keyboard.press("Enter")
        page.keyboard.type("input x: real[2]")
        assert page.input_value("#editor") == "model M {\n    \n    input x: real[2]"
