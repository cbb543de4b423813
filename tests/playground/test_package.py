"""A built wheel carries the playground: its package and every file of its page."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[2]
PLAYGROUND = ROOT / "survae_dsl" / "playground"


def test_every_page_file_and_the_starter_are_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    assert "survae_dsl.playground" in config["packages"]
    patterns = config["package-data"]["survae_dsl.playground"]
    shipped = [p for p in PLAYGROUND.rglob("*") if p.is_file() and p.suffix not in (".py", ".pyc")]
    shipped = [p for p in shipped if "__pycache__" not in p.parts]
    assert {p.name for p in shipped} >= {"index.html", "playground.js", "playground.css", "starter.survae"}
    missing = [
        str(p.relative_to(PLAYGROUND))
        for p in shipped
        if not any(fnmatch.fnmatch(str(p.relative_to(PLAYGROUND)), pattern) for pattern in patterns)
    ]
    assert missing == [], f"files a wheel would leave out: {missing}"


def test_the_serve_extra_names_the_server_libraries() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    names = {requirement.split(">")[0].split("=")[0] for requirement in extras["serve"]}
    assert names == {"starlette", "uvicorn"}


def test_without_the_serve_extra_serve_says_how_to_install_it() -> None:
    """starlette hidden from the import system: one line naming the extra, no traceback."""
    import subprocess
    import sys

    hide = "import sys; sys.modules['starlette'] = None; "
    run = "from survae_dsl.compiler.drivers.cli import main; sys.exit(main(['--serve', '--port', '0']))"
    result = subprocess.run([sys.executable, "-c", hide + run], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "survae-compile: error: the playground needs the serve extra: pip install 'survae-dsl[serve]' "
        "(starlette is missing)"
    ]
