"""Compiling a model file never runs code: not the modules its `transform`s name, not text in it.

Each command of `survae-compile` runs in a fresh process with a booby-trapped module on its
path; the module would write a marker file if anything imported it. Only loading the
generated module (what a user does on purpose) imports it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # a fresh process per command: about 8 s

TRAP = """
from pathlib import Path
Path({marker!r}).write_text("imported")

class Clip:
    pass
"""
MODEL = """\
transform clip(h): bijective {
    impl "trapped_layers:Clip"
    shape [D] -> [D]
    domain real -> real
}

model Trapped {
    doc "__import__('os').system('touch owned')"
    input x: real[2]
    h = clip(x)
    h ~ normal()
}
"""


@pytest.fixture
def trapped(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    marker = tmp_path / "marker.txt"
    (tmp_path / "trapped_layers.py").write_text(TRAP.format(marker=str(marker)), encoding="utf-8")
    model = tmp_path / "trapped.survae"
    model.write_text(MODEL, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    return model, marker, env


@pytest.mark.parametrize(
    "options",
    [
        ["--check"],
        ["-o", "out.py"],
        ["-o", "out.py", "--standalone"],
        ["--render", "out.dot"],
        ["--info"],
        ["--emit", "python"],
    ],
    ids=lambda o: " ".join(o),
)
def test_compiling_imports_nothing_the_model_names(
    trapped: tuple[Path, Path, dict[str, str]], options: list[str]
) -> None:
    model, marker, env = trapped
    run = subprocess.run(
        [sys.executable, "-m", "survae_dsl.compiler.drivers.cli", str(model), *options],
        cwd=model.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert not marker.exists()
    assert not (model.parent / "owned").exists()


def test_loading_the_generated_module_imports_it(trapped: tuple[Path, Path, dict[str, str]]) -> None:
    """The trap works: the module is imported once the user loads the compiled model."""
    model, marker, env = trapped
    code = "import survae_dsl; survae_dsl.load('trapped.survae')"
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=model.parent, env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr
    assert marker.read_text() == "imported"
    assert not (model.parent / "owned").exists()
