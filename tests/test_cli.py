"""`survae-compile`: exit statuses, outputs that are never half-written, rendering, determinism.

Most tests call `cli.main` in-process (the `cli` fixture of conftest.py); a few run a real
process where only one shows the behaviour: no traceback on a user error, byte-identical output
under different hash seeds, and `--check` not importing torch.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from survae_dsl.compiler.drivers import cli as cli_module

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
GOOD = TESTS / "good"
BAD = TESTS / "bad"
ABS_FLOW = ROOT / "examples" / "abs_flow.survae"
EVERY_OP = GOOD / "every_op.survae"
BAD_MODEL = BAD / "E401_never_consumed.survae"
SENTINEL = b"# an earlier output that a failed compile must leave alone\n"

TWO_MODELS = """\
model First {
    input x: real[2]
    x ~ standard_normal()
}

model Second {
    input y: positive[3]
    y ~ half_normal()
}
"""

Cli = Callable[..., Any]


def _one_line_error(err: str) -> str:
    """The message of a command-line error: exactly one line, no traceback."""
    assert "Traceback" not in err
    lines = err.strip("\n").splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("survae-compile: error: ")
    return lines[0]


@pytest.fixture
def two_models(tmp_path: Path) -> Path:
    path = tmp_path / "two.survae"
    path.write_text(TWO_MODELS, encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------
# Exit statuses


def test_success_exits_0(cli: Cli) -> None:
    result = cli(ABS_FLOW, "--check")
    assert (result.status, result.err) == (0, "")
    assert result.out.startswith("AbsFlow: exact log-likelihood\n")


def test_without_outputs_the_report_is_printed(cli: Cli) -> None:
    plain = cli(ABS_FLOW)
    assert plain.status == 0
    assert plain.out.startswith("AbsFlow: exact log-likelihood\n")
    assert plain.out == cli(ABS_FLOW, "--check").out


def test_model_error_exits_1(cli: Cli) -> None:
    result = cli(BAD_MODEL, "--check")
    assert result.status == 1
    assert "error[E401]" in result.err
    assert result.out == ""


@pytest.mark.parametrize(
    "argv", [[], ["--check"], [str(ABS_FLOW), "--bogus"], [str(ABS_FLOW), "--model"], [str(ABS_FLOW), "-o"]]
)
def test_usage_error_exits_2(cli: Cli, argv: list[str]) -> None:
    result = cli(*argv)
    assert result.status == 2
    assert "usage: survae-compile" in result.err
    assert "Traceback" not in result.err


def test_internal_error_exits_3_and_says_it_is_a_bug(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(cli_module, "check_source", broken)
    result = cli(ABS_FLOW, "--check")
    assert result.status == 3
    assert "simulated bug" in result.err
    assert "this is a bug in survae-compile, not in your model" in result.err


def test_warnings_do_not_fail(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "m.py"
    result = cli(BAD / "W401_coupling_on_positive.survae", "-o", out)
    assert result.status == 0
    assert "warning[W401]" in result.err
    assert "error" not in result.err
    assert out.exists()


# --------------------------------------------------------------------------------------------
# Files: read errors, never overwriting the input, never half-writing an output


@pytest.mark.parametrize("kind", ["missing", "directory", "not utf-8"])
def test_unreadable_input_is_a_one_line_error(cli: Cli, tmp_path: Path, kind: str) -> None:
    path = tmp_path / "model.survae"
    if kind == "directory":
        path.mkdir()
    elif kind == "not utf-8":
        path.write_bytes(b'model M {\n    doc "\xff\xfe"\n}\n')
    result = cli(path, "--check")
    assert result.status == 1
    message = _one_line_error(result.err)
    assert f"cannot read {path}" in message
    assert result.out == ""


def test_output_equal_to_the_input_is_refused(cli: Cli, tmp_path: Path) -> None:
    source = tmp_path / "abs_flow.survae"
    shutil.copy(ABS_FLOW, source)
    before = source.read_bytes()
    for spelling in (source, tmp_path / "sub" / ".." / "abs_flow.survae"):
        (tmp_path / "sub").mkdir(exist_ok=True)
        result = cli(source, "-o", spelling)
        assert result.status == 1
        assert "refusing to overwrite the input file" in _one_line_error(result.err)
        assert source.read_bytes() == before


def test_render_equal_to_the_input_is_refused(cli: Cli, tmp_path: Path) -> None:
    source = tmp_path / "abs_flow.dot"
    shutil.copy(ABS_FLOW, source)
    before = source.read_bytes()
    result = cli(source, "--render", source)
    assert result.status == 1
    assert "refusing to overwrite" in _one_line_error(result.err)
    assert source.read_bytes() == before


def test_failed_compile_leaves_existing_outputs_untouched(cli: Cli, tmp_path: Path) -> None:
    out, drawing = tmp_path / "m.py", tmp_path / "m.dot"
    out.write_bytes(SENTINEL)
    drawing.write_bytes(SENTINEL)
    result = cli(BAD_MODEL, "-o", out, "--render", drawing)
    assert result.status == 1
    assert result.err.rstrip().endswith("1 error; nothing written")
    assert out.read_bytes() == SENTINEL
    assert drawing.read_bytes() == SENTINEL
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.dot", "m.py"], "no temporary files left behind"


def test_failed_render_writes_no_output_at_all(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The module is only written once the diagram is ready too."""
    monkeypatch.setattr(shutil, "which", lambda *args, **kwargs: None)
    out, drawing = tmp_path / "m.py", tmp_path / "m.svg"
    out.write_bytes(SENTINEL)
    result = cli(ABS_FLOW, "-o", out, "--render", drawing)
    assert result.status == 1
    assert out.read_bytes() == SENTINEL
    assert not drawing.exists()


def test_unwritable_output_is_a_one_line_error(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "no" / "such" / "folder" / "m.py"
    result = cli(ABS_FLOW, "-o", out)
    assert result.status == 1
    assert f"cannot write {out}" in _one_line_error(result.err)


def test_output_and_check_together(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "m.py"
    result = cli(ABS_FLOW, "--check", "-o", out)
    assert result.status == 0
    assert result.out == cli(ABS_FLOW, "--check").out
    assert out.read_text(encoding="utf-8").startswith("# Generated by survae-compile from abs_flow.survae.")


# --------------------------------------------------------------------------------------------
# Rendering


def test_render_dot_matches_golden(cli: Cli, golden: Callable[[Path, str], None], tmp_path: Path) -> None:
    drawing = tmp_path / "abs_flow.dot"
    result = cli(ABS_FLOW, "--render", drawing)
    assert (result.status, result.out, result.err) == (0, "", "")
    text = drawing.read_text(encoding="utf-8")
    golden(GOOD / "abs_flow.dot.expected", text)
    assert text.startswith("digraph ")
    assert 'label="AbsFlow: exact log-likelihood"' in text
    assert text.count("affine_coupling\\nline 10") == 4


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_render_svg(cli: Cli, tmp_path: Path) -> None:
    drawing = tmp_path / "abs_flow.svg"
    result = cli(ABS_FLOW, "--render", drawing)
    assert result.status == 0, result.err
    data = drawing.read_bytes()
    assert b"<svg" in data[:1000]
    assert data.rstrip().endswith(b"</svg>")
    assert b"AbsFlow: exact log&#45;likelihood" in data  # SVG escapes the hyphen


def test_without_dot_svg_fails_clearly_and_dot_still_works(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda *args, **kwargs: None)
    drawing = tmp_path / "abs_flow.svg"
    result = cli(ABS_FLOW, "--render", drawing)
    assert result.status == 1
    message = _one_line_error(result.err)
    assert "Graphviz's `dot`" in message
    assert "apt-get install graphviz" in message
    assert ".dot file instead" in message
    assert not drawing.exists()

    text_drawing = tmp_path / "abs_flow.dot"
    assert cli(ABS_FLOW, "--render", text_drawing).status == 0
    assert text_drawing.read_text(encoding="utf-8").startswith("digraph ")


@pytest.mark.parametrize("name", ["abs_flow.gif", "abs_flow", "abs_flow.svg.txt"])
def test_unknown_render_suffix(cli: Cli, tmp_path: Path, name: str) -> None:
    drawing = tmp_path / name
    result = cli(ABS_FLOW, "--render", drawing)
    assert result.status == 1
    message = _one_line_error(result.err)
    assert f"cannot render to `{drawing}`" in message
    assert ".svg, .png, .pdf, .dot" in message
    assert not drawing.exists()


def test_render_of_several_models_keeps_their_nodes_apart(cli: Cli, tmp_path: Path) -> None:
    """Node and cluster names of different models never merge, whatever the models are called."""
    source = tmp_path / "clash.survae"
    source.write_text(
        "model M {\n    input op1: real[2]\n    op1 ~ standard_normal()\n}\n"
        "model M_input {\n    input x: real[2]\n    h = reverse(x)\n    h ~ standard_normal()\n}\n"
        "model legend {\n    input y: real[2]\n    y ~ standard_normal()\n}\n",
        encoding="utf-8",
    )
    drawing = tmp_path / "clash.dot"
    assert cli(source, "--render", drawing).status == 0
    text = drawing.read_text(encoding="utf-8")
    nodes = re.findall(r'^\s*("[^"]*"|\w+) \[label=', text, re.M)
    clusters = re.findall(r"^\s*subgraph (\S+) \{", text, re.M)
    assert len(nodes) == len(set(nodes)) == 2 + 3 + 2 + 3, nodes  # models' nodes, then the legend's
    assert len(clusters) == len(set(clusters)) == 4, clusters


# --------------------------------------------------------------------------------------------
# --model


def test_model_option_picks_one_model(cli: Cli, two_models: Path, tmp_path: Path) -> None:
    both = cli(two_models, "--check")
    assert both.status == 0
    assert [line for line in both.out.splitlines() if not line.startswith(" ")] == [
        "First: exact log-likelihood",
        "",
        "Second: exact log-likelihood",
    ]

    one = cli(two_models, "--check", "--model", "Second")
    assert one.status == 0
    assert one.out.startswith("Second: exact log-likelihood\n")
    assert "First" not in one.out

    out = tmp_path / "second.py"
    assert cli(two_models, "-o", out, "--model", "Second").status == 0
    code = out.read_text(encoding="utf-8")
    assert "class Second(snn.Model):" in code
    assert "class First" not in code
    assert "MODELS = {'Second': Second}" in code


def test_model_option_with_a_wrong_name_is_E212(cli: Cli, two_models: Path, tmp_path: Path) -> None:
    out = tmp_path / "third.py"
    result = cli(two_models, "-o", out, "--model", "Third")
    assert result.status == 1
    assert "error[E212]: no model called `Third` in this file" in result.err
    assert "help: its models: `First`, `Second`" in result.err
    assert "Traceback" not in result.err
    assert not out.exists()


# --------------------------------------------------------------------------------------------
# Determinism


def test_same_source_gives_the_same_bytes(cli: Cli, tmp_path: Path) -> None:
    outputs = []
    for i in range(2):
        out, drawing = tmp_path / f"m{i}.py", tmp_path / f"m{i}.dot"
        assert cli(EVERY_OP, "-o", out, "--render", drawing).status == 0
        outputs.append((out.read_bytes(), drawing.read_bytes()))
    assert outputs[0] == outputs[1]


def _run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, **env}
    return subprocess.run(args, cwd=cwd, env=environment, capture_output=True, text=True, timeout=120, check=False)


def test_output_does_not_depend_on_the_hash_seed(tmp_path: Path) -> None:
    outputs = []
    for seed in ("1", "2"):
        out = tmp_path / f"m{seed}.py"
        done = _run(
            [sys.executable, "-m", "survae_dsl.compiler.drivers.cli", str(EVERY_OP), "-o", str(out)],
            tmp_path,
            PYTHONHASHSEED=seed,
        )
        assert done.returncode == 0, done.stderr
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    assert outputs[0].decode("utf-8") == (GOOD / "every_op.py.expected").read_text(encoding="utf-8")


# --------------------------------------------------------------------------------------------
# Real processes


def test_check_does_not_import_torch(tmp_path: Path) -> None:
    program = (
        "import sys\n"
        "from survae_dsl.compiler.drivers.cli import main\n"
        "status = main([sys.argv[1], '--check'])\n"
        "assert status == 0, status\n"
        "loaded = sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.'))\n"
        "assert not loaded, loaded\n"
        "print('no torch')\n"
    )
    done = _run([sys.executable, "-c", program, str(EVERY_OP)], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().endswith("no torch")
    assert done.stdout.startswith("Everything: lower bound\n")


def test_installed_command_shows_no_traceback_for_a_bad_model(tmp_path: Path) -> None:
    command = Path(sys.executable).parent / "survae-compile"
    if not command.exists():
        pytest.skip("the survae-compile script is not installed next to this Python")
    shutil.copy(BAD / "E402_consumed_twice.survae", tmp_path / "model.survae")
    done = _run([str(command), "model.survae", "--check"], tmp_path)
    assert done.returncode == 1
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("model.survae:5:17: error[E402]: tensor `x` (real[2]) is consumed a second time")


# --------------------------------------------------------------------------------------------
# The checker as a tool: --info, --info-schema, --emit, --explain, --format


def test_info_of_a_bad_model_lists_the_errors_and_exits_1(cli: Cli) -> None:
    import json

    result = cli(BAD_MODEL, "--info")
    assert result.status == 1
    info = json.loads(result.out)
    assert info["ok"] is False and info["models"] == []
    assert [d["code"] for d in info["diagnostics"]] == ["E401"]
    assert info["diagnostics"][0]["position"]["line"] == int(re.search(r"at (\d+):", BAD_MODEL.read_text()).group(1))


def test_info_schema_describes_info(cli: Cli) -> None:
    import json

    from survae_dsl.compiler.backends.info import Info

    result = cli("--info-schema")
    assert result.status == 0
    schema = json.loads(result.out)
    assert schema == Info.model_json_schema()
    assert {"ModelInfo", "TensorInfo", "LayerInfo", "DiagnosticInfo"} <= set(schema["$defs"])


def test_emit_each_phase(cli: Cli) -> None:
    ast = cli(ABS_FLOW, "--emit", "ast")
    assert ast.status == 0 and ast.out.startswith("Module\n") and "affine_coupling" in ast.out
    ir = cli(ABS_FLOW, "--emit", "ir")
    assert ir.status == 0 and ir.out.startswith("model AbsFlow (exact)\n")
    assert "op1: abs(x) -> h: positive[2]  (line 7)" in ir.out and "sampling order:" in ir.out
    python = cli(ABS_FLOW, "--emit", "python")
    assert python.status == 0 and python.out.startswith("# Generated by survae-compile from abs_flow.survae.")
    compile(python.out, "abs_flow.py", "exec")


def test_explain_a_code_and_refuse_an_unknown_one(cli: Cli) -> None:
    known = cli("--explain", "E401")
    assert known.status == 0 and known.out.startswith("E401: tensor never consumed\n")
    assert "Wrong:" in known.out and "Right:" in known.out
    unknown = cli("--explain", "E4O1")
    assert unknown.status == 1
    assert "did you mean `E401`" in _one_line_error(unknown.err)


def test_format_rewrites_in_place_and_keeps_a_file_with_errors(cli: Cli, tmp_path: Path) -> None:
    messy = tmp_path / "messy.survae"
    messy.write_text("model M {\n  input x: real[2]   # data\n  x ~ normal( ) ; }\n", encoding="utf-8")
    assert cli(messy, "--format").status == 0
    tidy = messy.read_text(encoding="utf-8")
    assert "# data" in tidy and "    x ~ normal()\n" in tidy
    assert cli(messy, "--format").status == 0 and messy.read_text(encoding="utf-8") == tidy
    broken = tmp_path / "broken.survae"
    broken.write_bytes(b"model M {\n  input x real[2]\n}\n")
    assert cli(broken, "--format").status == 1
    assert broken.read_bytes() == b"model M {\n  input x real[2]\n}\n"


def test_check_lists_layers_and_their_parameters(cli: Cli) -> None:
    out = cli(ABS_FLOW, "--check").out
    layers = out.split("    layers:\n")[1].splitlines()
    assert layers[0].split() == ["layer", "line", "op", "parameters"]
    assert layers[-1].split() == ["total", "82,808"]  # the demo's AbsFlow: 4 couplings of 20,702
    assert sum(1 for line in layers if "affine_coupling" in line) == 4
