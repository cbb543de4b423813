"""`make screenshot`: the README's picture of the playground (docs/playground.png).

The browser tests' driver (tests/playground: the real `survae-compile --serve`, Debian's headless
Chromium through Playwright) on a copy of the starter model in a temporary folder: the
`softplus_inv` line is deleted with the keyboard, so the verdict turns to "lower bound" and the
leaking coupling is drawn in red, and a click on that node selects its line.

    python scripts/playground_screenshot.py docs/playground.png
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from playground.browser import find_chromium  # noqa: E402 - the tests' helpers, after the path
from playground.server import served  # noqa: E402

STARTER = ROOT / "survae_dsl" / "playground" / "starter.survae"


def main() -> int:
    parser = argparse.ArgumentParser(description="Take the README's screenshot of the playground.")
    parser.add_argument("output", type=Path, help="the PNG to write")
    args = parser.parse_args()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("make screenshot needs playwright: pip install 'survae-dsl[test]'", file=sys.stderr)
        return 1
    executable = find_chromium()
    if executable is None:
        print("make screenshot needs Chromium: apt-get install chromium (or set SURVAE_CHROMIUM)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        model = Path(folder) / "model.survae"
        shutil.copy(STARTER, model)
        browser = playwright.chromium.launch(executable_path=executable, headless=True)
        with served(model) as server:
            page = browser.new_page(viewport={"width": 1440, "height": 860}, device_scale_factor=1)
            page.goto(server.url)
            page.wait_for_selector(".verdict .class")
            lines = page.input_value("#editor").split("\n")
            target = next(i for i, line in enumerate(lines, 1) if "softplus_inv(" in line.split("#")[0])
            page.click("#editor")
            page.keyboard.press("Control+Home")
            for _ in range(target - 1):
                page.keyboard.press("ArrowDown")
            page.keyboard.press("Shift+ArrowDown")
            page.keyboard.press("Backspace")
            page.wait_for_function(
                "() => document.querySelector('.verdict .class').textContent === 'lower bound'"
                " && document.body.dataset.state !== 'busy'"
            )
            red = page.locator("#diagram g.sv-node").filter(has=page.locator("[stroke='#cc0000']")).first
            red.click()
            page.screenshot(path=str(args.output))
        browser.close()
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
