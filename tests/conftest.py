"""Shared fixtures of the compiler tests: golden files and the command line run in-process.

Golden files (`tests/good/*.expected`, `tests/bad/*.expected`) hold the exact output of a
phase. After a deliberate change of that output, regenerate them with

    .venv/bin/python -m pytest tests --update-goldens

and review the diff before committing it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-goldens",
        action="store_true",
        default=False,
        help="rewrite the golden files of tests/good and tests/bad from the current output",
    )


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Callable[[Path, str], None]:
    """`golden(path, actual)`: assert `actual` equals the file, or rewrite it with --update-goldens."""
    update = request.config.getoption("--update-goldens")

    def check(path: Path, actual: str) -> None:
        if update:
            if not path.exists() or path.read_text(encoding="utf-8") != actual:
                path.write_bytes(actual.encode("utf-8"))
            return
        assert path.exists(), f"golden file {path.relative_to(ROOT)} is missing: run pytest --update-goldens"
        expected = path.read_text(encoding="utf-8")
        assert actual == expected, f"output differs from {path.relative_to(ROOT)} (pytest --update-goldens rewrites it)"

    return check


@dataclass(frozen=True)
class CliResult:
    status: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """`cli(*args)`: `survae-compile ARGS` run in-process; exit status and captured output.

    argparse's own usage errors exit through SystemExit; they become a status like any other.
    """
    from survae_dsl.compiler.drivers.cli import main

    def run(*args: str | Path) -> CliResult:
        capsys.readouterr()  # drop anything printed before
        try:
            status = main([str(a) for a in args])
        except SystemExit as exc:
            status = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        return CliResult(status, captured.out, captured.err)

    return run
