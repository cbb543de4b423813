"""Diagrams: clusters for `repeat`s and block calls, `--collapse`, the sampling direction,
golden `.dot` files for the examples, and the Python API (`survae_dsl.render`, `_repr_svg_`).

`tests/render/NAME.dot.expected` holds the exact Graphviz source (`pytest --update-goldens`
rewrites it); the assertions below check the structure independently of the layout text.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import survae_dsl
from survae_dsl.compiler.backends.render_dot import build_graph
from survae_dsl.compiler.drivers.driver import check_source

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "render"
EXAMPLES = ROOT / "examples"
GLOW = EXAMPLES / "language" / "glow.survae"

# golden name -> (file, options)
DIAGRAMS: dict[str, tuple[Path, dict[str, Any]]] = {
    "glow": (GLOW, {}),
    "glow_collapsed": (GLOW, {"collapse": True}),
    "abs_flow_generative": (EXAMPLES / "abs_flow.survae", {"direction": "generative"}),
    "conditional": (EXAMPLES / "language" / "conditional.survae", {}),
    "images": (EXAMPLES / "catalogue" / "images.survae", {}),
}


def _graph(path: Path, **options: Any) -> str:
    models = check_source(path.read_text(encoding="utf-8"), path.name).models
    return build_graph(models, **options).source


@pytest.mark.parametrize("name", sorted(DIAGRAMS))
def test_golden_dot(name: str, golden: Callable[[Path, str], None]) -> None:
    path, options = DIAGRAMS[name]
    golden(GOLDEN / f"{name}.dot.expected", _graph(path, **options))


def test_repeats_and_block_calls_are_labelled_clusters() -> None:
    source = _graph(GLOW)
    labels = re.findall(r'subgraph "cluster[^"]*" \{\n[^\n]*label="([^"]+)"', source)
    repeats = [label for label in labels if label.startswith("repeat 2")]
    calls = [label for label in labels if label.startswith("glow_step")]
    outs = [label for label in labels if label.startswith("factor_out")]
    assert (len(repeats), len(calls), len(outs)) == (3, 6, 2)
    assert source.count("line 9") == 6  # every coupling of every step is drawn


def test_collapse_draws_each_repeat_and_call_as_one_node() -> None:
    source = _graph(GLOW, collapse=True)
    assert "cluster" not in source.replace("cluster_legend", "")
    groups = re.findall(r'label="(repeat 2 \(line \d+\)[^"]*)"', source)
    assert len(groups) == 3 and all("6 layers (2 × 3)" in g for g in groups)
    assert len(re.findall(r'label="factor_out', source)) == 2
    assert "actnorm\\nline 7" not in source  # the layers inside are not drawn one by one
    node = re.compile(r'^\s*(?!legend_)"?[\w./]+"? \[label=', re.M)
    # input, dequantize, logit, 3 squeezes, 3 repeat groups, 2 factor_out calls, the final `~`
    assert len(node.findall(source)) == 12
    assert len(node.findall(_graph(GLOW))) == 29  # the same model drawn layer by layer: 18 steps, 2 splits, 3 `~`s, ...


def test_generative_direction_points_from_the_latent_to_the_data() -> None:
    inference = _graph(EXAMPLES / "abs_flow.survae")
    generative = _graph(EXAMPLES / "abs_flow.survae", direction="generative")
    assert '"input.x" -> op1 ' in inference and 'op1 -> "input.x" ' in generative
    assert "(sampling direction)" in generative and "(sampling direction)" not in inference


def test_context_reads_are_dashed_and_not_reversed() -> None:
    source = _graph(EXAMPLES / "language" / "conditional.survae", direction="generative")
    reads = [line for line in source.splitlines() if "context." in line and "->" in line]
    assert reads and all(
        "style=dashed" in line
        and line.strip().startswith('"ConditionalFlow.context.c')
        or "ClassConditional.context" in line
        for line in reads
    )


def test_python_api_gives_a_graphviz_object_and_notebook_svg() -> None:
    graph = survae_dsl.render(EXAMPLES / "abs_flow.survae", collapse=True)
    assert type(graph).__name__ == "Digraph" and "AbsFlow: exact log-likelihood" in graph.source
    source = "model M {\n    input x: real[2]\n    x ~ normal()\n}\n"
    assert survae_dsl.render(source).source.count("~ normal") == 1
    checked = survae_dsl.check(source)
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed: no SVG to show")
    assert checked._repr_svg_().lstrip().startswith("<?xml")
    assert checked.models[0]._repr_svg_().count("<svg") == 1


def test_render_flags_on_the_command_line(cli: Callable[..., Any], tmp_path: Path) -> None:
    out = tmp_path / "glow.dot"
    assert cli(GLOW, "--render", out, "--collapse", "--direction", "generative").status == 0
    text = out.read_text(encoding="utf-8")
    assert "box3d" in text and "(sampling direction)" in text
    assert cli(GLOW, "--render", out, "--direction", "sideways").status == 2
