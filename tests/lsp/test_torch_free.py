"""The language server never imports torch: it starts in a fraction of the time and runs where
only the checker is installed."""

from __future__ import annotations

import subprocess
import sys

from .conftest import ROOT

SCRIPT = """
import sys
from lsprotocol import types as lsp
from survae_dsl.lsp.server import build_server
from survae_dsl.lsp.hover import hover_markdown
from survae_dsl.lsp.complete import completions
from survae_dsl.lsp.actions import code_actions
from survae_dsl.compiler.drivers.analysis import analyse

build_server()
text = open(sys.argv[1], encoding="utf-8").read()
analysis = analyse(text, "glow.survae")
assert analysis.models, analysis.diagnostics
lines = text.split("\\n")
hovers = [hover_markdown(analysis, lines[n], n, c) for n in range(len(lines)) for c in range(0, len(lines[n]), 3)]
assert any(h and "parameters:" in h for h in hovers)  # a model's hover counts its parameters
completions(text, 24, 4, analysis)
code_actions(analysis, "file:///glow.survae", lsp.Range(lsp.Position(0, 0), lsp.Position(40, 0)))
loaded = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))
print("torch modules:", loaded)
sys.exit(1 if loaded else 0)
"""


def test_the_server_and_every_feature_run_without_torch() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(ROOT / "examples/language/glow.survae")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "torch modules: []" in done.stdout


def test_without_pygls_the_command_says_which_extra_to_install() -> None:
    script = "import sys; sys.modules['pygls'] = None; from survae_dsl.lsp import main; sys.exit(main([]))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr == "survae-lsp: error: the language server needs pygls: pip install 'survae-dsl[lsp]'\n"


def test_an_argument_is_refused_in_one_line() -> None:
    done = subprocess.run([sys.executable, "-m", "survae_dsl.lsp", "--stdio-please"], capture_output=True, text=True)
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and done.stderr.startswith("survae-lsp: error:")


def test_stdio_flag_of_editor_clients_is_accepted_and_the_server_ends_with_its_input() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "survae_dsl.lsp", "--stdio"], input="", capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
