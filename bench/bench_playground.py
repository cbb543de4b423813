"""Playground benchmark: keystroke to updated diagram, in a real browser.

10. The real `survae-compile --serve` on examples/zoo/glow_cifar10.survae (Glow at its CIFAR-10
    size: 3 levels of 32 steps, 355 drawn nodes), Debian's headless Chromium driven by
    Playwright. Each sample presses one key in the editor and waits until the page shows the
    result (the `#diagram` element's revision counter). Two kinds of keystroke:
    - one that moves every node: Enter and Backspace, alternately, at the top of the file
      shift every line, and each node's label names its line, so Graphviz lays the whole
      diagram out again and the browser replaces it. Target: median < 300 ms with every
      repeat and block drawn (`collapse` off); the collapsed diagram is timed too;
    - one in a comment (typing and deleting a `#` on a last line): the text is checked again
      but the graph is the same, so the server keeps its drawing and the page its SVG.
    Each figure includes the page's debounce (40 ms after the last keystroke), the request,
    the check, the layout, the JSON reply and the browser's drawing. Beside them, the
    server's part measured in this process (check after an edit, `dot`'s SVG).

Nothing here asserts a time. Run alone with `python bench/bench_playground.py`, or with the
others by bench/run_all.py. Skipped with a message where Chromium or Playwright is missing.
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from common import EXAMPLES, ROOT, Row, machine_lines, print_summary, verdict

sys.path.insert(0, str(ROOT / "tests"))
from playground.browser import find_chromium  # noqa: E402 - the tests' helpers, after the path
from playground.server import served  # noqa: E402

if TYPE_CHECKING:
    from playwright.sync_api import Page

GLOW = EXAMPLES / "zoo" / "glow_cifar10.survae"
KEYSTROKES = 21  # the first is left out (the browser's first large SVG)
TARGET_MS = 300.0


def browser_latencies(collapse: bool, relayout: bool) -> list[float]:
    """Milliseconds from each keystroke to the updated page (see the module's doc)."""
    from playwright.sync_api import sync_playwright

    executable = find_chromium()
    assert executable is not None
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        model = Path(folder) / GLOW.name
        shutil.copy(GLOW, model)
        model.write_text(model.read_text(encoding="utf-8").rstrip("\n") + "\n\n", encoding="utf-8")
        launch = playwright.chromium.launch
        browser = launch(executable_path=executable, headless=True, args=["--disable-dev-shm-usage"])
        with served(model) as server:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(server.url)
            page.wait_for_selector(".verdict .class")
            if collapse:
                revision = _revision(page)
                page.check("#collapse")
                _wait(page, revision)
            page.click("#editor")
            page.keyboard.press("Control+Home" if relayout else "Control+End")
            keys = ("Enter", "Backspace") if relayout else ("#", "Backspace")
            samples: list[float] = []
            for i in range(KEYSTROKES):
                revision = _revision(page)
                start = time.perf_counter()
                page.keyboard.press(keys[i % 2])
                _wait(page, revision)
                samples.append(1e3 * (time.perf_counter() - start))
            browser.close()
    return samples[1:]


def _revision(page: Page) -> int:
    return int(page.get_attribute("#diagram", "data-revision") or 0)


def _wait(page: Page, revision: int) -> None:
    page.wait_for_function(
        "(r) => Number(document.getElementById('diagram').dataset.revision) > r", arg=revision, polling=5
    )


def server_side() -> tuple[float, float]:
    """Median ms of the check after an edit and of the SVG drawing, in this process."""
    from survae_dsl.playground.workspace import Workspace

    workspace = Workspace(None, GLOW.name)
    text = GLOW.read_text(encoding="utf-8")
    checks, drawings = [], []
    workspace.check(text)
    from survae_dsl.compiler.backends.render_dot import render
    from survae_dsl.compiler.drivers.driver import check_partial

    previous = check_partial(text, GLOW.name)
    for i in range(10):
        edited = text + "#" * (i % 2)
        start = time.perf_counter()
        found = check_partial(edited, GLOW.name, previous)
        middle = time.perf_counter()
        render(found.models, "svg", lines=True)
        checks.append(1e3 * (middle - start))
        drawings.append(1e3 * (time.perf_counter() - middle))
        previous = found
    return statistics.median(checks), statistics.median(drawings)


def run(rows: list[Row]) -> None:
    print("10. playground: keystroke → updated page in headless Chromium (Glow CIFAR-10, 40 ms debounce included)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        print("    skipped: playwright is not installed (pip install 'survae-dsl[test]')")
        return
    if find_chromium() is None or shutil.which("dot") is None:
        print("    skipped: needs chromium and Graphviz's dot (`make bench` installs both)")
        return
    check_ms, draw_ms = server_side()
    print(f"    server side: check after an edit {check_ms:.0f} ms, dot's SVG {draw_ms:.0f} ms (medians)")
    for collapse, relayout in ((False, True), (True, True), (False, False)):
        samples = browser_latencies(collapse, relayout)
        median = statistics.median(samples)
        p90 = sorted(samples)[int(0.9 * (len(samples) - 1))]
        label = ("new layout" if relayout else "same graph") + (", collapsed" if collapse else ", every node")
        print(f"    {label}: median {median:.0f} ms, 90th percentile {p90:.0f} ms over {len(samples)} keystrokes")
        targeted = relayout and not collapse
        rows.append(
            Row(
                f"playground keystroke → diagram, Glow ({label})",
                f"{median:.0f} ms",
                f"< {TARGET_MS:.0f} ms" if targeted else "-",
                verdict(median < TARGET_MS) if targeted else "-",
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
