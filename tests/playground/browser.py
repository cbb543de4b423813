"""Launching the headless browser that drives the playground tests (not a test module itself).

The tests use Playwright for Python against the system's Chromium (Debian's `chromium` package,
which `make test` installs through scripts/ensure_chromium.sh), never the browsers Playwright
downloads itself (`playwright install`): CI and the development machines reach only package
registries, so nothing may be fetched at test time, and a Debian package is versioned, cached and
patched like every other system dependency. Playwright drives any recent Chromium given its
`executable_path`.

Where the playwright package or the browser is missing, `launched_browser` skips the test with a
one-line reason that names the missing piece and how to install it, so a plain `pytest` on a
machine without a browser still passes.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    # Only for the annotation: the package itself is imported lazily, so that collecting the tests
    # works without it and the tests skip instead of erroring.
    from playwright.sync_api import Browser

CHROMIUM_ENV = "SURVAE_CHROMIUM"
"""Environment variable naming the browser executable (a path or a name on PATH); it wins over the search."""

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
"""Executables searched for on PATH, in this order: Debian's package first, as CI installs it."""

# Debian's /dev/shm check in its launcher misreads some container mounts, and a small /dev/shm
# crashes the renderer; /tmp is always big enough for the few pages the tests open.
_LAUNCH_ARGS = ["--disable-dev-shm-usage"]


def find_chromium() -> str | None:
    """Returns the path of the Chromium-family browser to test with, or None when there is none.

    SURVAE_CHROMIUM, when set, is the only candidate: a wrong value gives None rather than quietly
    testing another browser than the one asked for.
    """
    override = os.environ.get(CHROMIUM_ENV)
    if override:
        return shutil.which(override)
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found is not None:
            return found
    return None


@contextmanager
def launched_browser() -> Iterator[Browser]:
    """Yields a headless Chromium driven by Playwright's sync API, closed on exit.

    Calls `pytest.skip` when the playwright package or the browser is missing. A browser that is
    found but fails to start is an error, not a skip: that is a broken installation to report.
    Meant for a module- or session-scoped fixture (one launch takes a fraction of a second, the
    Playwright driver about a second). The sync API refuses to run inside a running asyncio event
    loop, so use it from plain (non-async) tests and fixtures.
    """
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip(
            "playwright is not installed: pip install 'survae-dsl[test]' (`make test` installs it and chromium)"
        )
    executable = find_chromium()
    if executable is None:
        override = os.environ.get(CHROMIUM_ENV)
        if override:
            pytest.skip(f"{CHROMIUM_ENV}={override!r} is not an executable browser; unset it or fix the path")
        pytest.skip(
            "no Chromium browser on PATH (looked for " + ", ".join(CHROMIUM_NAMES) + "): "
            "apt-get install chromium (`make test` installs it), or set " + CHROMIUM_ENV
        )
    with sync_playwright() as playwright:
        # chromium_sandbox=False (Playwright's default, spelt out): Chromium's sandbox refuses to
        # start as root, which CI and containers run as; the tests load only our own local pages.
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, chromium_sandbox=False, args=_LAUNCH_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()
