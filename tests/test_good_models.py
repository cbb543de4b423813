"""Good models: the `--check` report and the generated module of each, against golden files.

The models are `examples/abs_flow.survae` and `examples/coupling_flow.survae` (read from
`examples/`, so the goldens follow the examples users see) and the models of `tests/good`.
For NAME, `tests/good/NAME.check.expected` is the stdout of `survae-compile NAME.survae
--check` and `tests/good/NAME.py.expected` the module written by `-o`; `pytest
--update-goldens` rewrites them. The likelihood class and the reasons for a bound are also
asserted here explicitly, and every compiled module is run.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args

import pytest

from survae_dsl.compiler.catalogue import DIST_TABLE, OP_TABLE
from survae_dsl.compiler.catalogue.ops_bijective import AffineCouplingParams
from survae_dsl.compiler.drivers.driver import check_source

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
GOOD = TESTS / "good"
EXAMPLES = ROOT / "examples"


# name -> (the file, the first line of its report, the ops each reason for a bound names)
MODELS: dict[str, tuple[Path, str, list[set[str]]]] = {
    "abs_flow": (EXAMPLES / "abs_flow.survae", "AbsFlow: exact log-likelihood", []),
    "coupling_flow": (EXAMPLES / "coupling_flow.survae", "CouplingFlow: exact log-likelihood", []),
    "abs_flow_leak": (GOOD / "abs_flow_leak.survae", "AbsFlowLeak: lower bound", [{"abs", "affine_coupling"}]),
    "dequantized": (GOOD / "dequantized.survae", "Dequantized: lower bound", [{"dequantize"}]),
    "every_op": (GOOD / "every_op.survae", "Everything: lower bound", [{"dequantize"}]),
    "context_squeezed": (GOOD / "context_squeezed.survae", "SqueezedContext: exact log-likelihood", []),
    "label_embedding": (GOOD / "label_embedding.survae", "LabelEmbedding: exact log-likelihood", []),
    "multiscale_context": (GOOD / "multiscale_context.survae", "MultiscaleContext: exact log-likelihood", []),
}
LIKELIHOOD = {"exact log-likelihood": "exact", "lower bound": "lower_bound"}


def test_every_good_model_is_listed() -> None:
    """A model added to tests/good without a row above would not be tested."""
    listed = {path.name for path, _, _ in MODELS.values() if path.parent == GOOD}
    assert {p.name for p in GOOD.glob("*.survae")} == listed
    goldens = {p.name for p in GOOD.glob("*.expected")}
    wanted = {f"{n}.{kind}.expected" for n in MODELS for kind in ("check", "py", "info")} | {"abs_flow.dot.expected"}
    assert goldens == wanted, "each good model has its .check and .py goldens, and nothing else is left over"


@pytest.mark.parametrize("name", sorted(MODELS))
def test_check_report(name: str, cli: Callable[..., Any], golden: Callable[[Path, str], None]) -> None:
    path, class_line, reasons = MODELS[name]
    result = cli(path, "--check")
    assert (result.status, result.err) == (0, ""), result.err
    golden(GOOD / f"{name}.check.expected", result.out)

    lines = result.out.splitlines()
    assert lines[0] == class_line
    # the reasons listed under `because:` (a `note:` list may follow, e.g. for `batchnorm`)
    start = lines.index("    because:") + 1 if "    because:" in lines else len(lines)
    because = []
    for line in lines[start:]:
        if not line.startswith("      - "):
            break
        because.append(line)
    assert ("    because:" in lines) == bool(reasons)
    assert len(because) == len(reasons)
    for line, ops in zip(because, reasons, strict=True):
        assert all(f"`{op}`" in line for op in ops), line
        assert re.search(r"at line \d+", line)
    assert "    tensors:" in lines
    assert all(line.startswith("    ") for line in lines[1:]), "only the class line is at column 0"


@pytest.mark.parametrize("name", sorted(MODELS))
def test_info_json(
    name: str, cli: Callable[..., Any], golden: Callable[[Path, str], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--info` is the `--check` report as JSON, valid against its own schema."""
    from survae_dsl.compiler.backends.info import Info

    path, class_line, reasons = MODELS[name]
    monkeypatch.chdir(path.parent)  # positions name the file as given: keep goldens machine-independent
    result = cli(path.name, "--info")
    assert (result.status, result.err) == (0, ""), result.err
    golden(GOOD / f"{name}.info.expected", result.out)
    info = Info.model_validate_json(result.out)
    assert info.ok and info.file == path.name
    first = info.models[0]
    assert f"{first.name}: " + ("exact log-likelihood" if first.likelihood == "exact" else "lower bound") == class_line
    assert len(first.reasons) == len(reasons)
    report = cli(path.name, "--check").out
    assert len(first.tensors) == report.split("    tensors:")[1].split("    layers:")[0].count("\n") - 2
    known = [layer.parameters for layer in first.layers]
    assert first.parameters == (sum(known) if None not in known else None)  # type: ignore[arg-type]  # None not in known
    assert f"{first.parameters:,}" in report


@pytest.mark.parametrize("name", sorted(MODELS))
def test_generated_module(
    name: str, cli: Callable[..., Any], golden: Callable[[Path, str], None], tmp_path: Path
) -> None:
    path, class_line, _ = MODELS[name]
    out = tmp_path / f"{name}.py"
    result = cli(path, "-o", out)
    assert (result.status, result.out, result.err) == (0, "", "")
    code = out.read_text(encoding="utf-8")
    golden(GOOD / f"{name}.py.expected", code)

    klass = LIKELIHOOD[class_line.split(": ", 1)[1]]
    assert f"    likelihood = {klass!r}\n" in code
    assert code.startswith(f"# Generated by survae-compile from {path.name}.")
    compile(code, str(out), "exec")

    again = tmp_path / "again.py"
    assert cli(path, "-o", again).status == 0
    assert again.read_bytes() == out.read_bytes(), "the same source compiles to the same bytes"


def _example(type_text: str, batch: int) -> Any:
    """A batch of valid values of a declared input type such as `real[3, 4]` or `int<4>[2]`."""
    import torch

    match = re.fullmatch(r"(\w+)(?:<(\d+)>|\(([^)]*)\))?\[([\d, ]+)\]", type_text)
    assert match, type_text
    domain, classes, bounds, dims = match.groups()
    shape = (batch, *(int(d) for d in dims.split(",")))
    if domain == "int":
        return torch.randint(0, int(classes), shape)
    if domain == "real":
        return torch.randn(shape)
    if domain == "positive":
        return torch.rand(shape) * 3 + 0.01
    if domain == "unit":
        return torch.rand(shape) * 0.98 + 0.01
    lo, hi = (float(b) for b in bounds.split(","))
    return lo + (hi - lo) * (torch.rand(shape) * 0.98 + 0.01)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_compiled_model_runs(name: str) -> None:
    import torch

    import survae_dsl

    path, class_line, _ = MODELS[name]
    model_class = survae_dsl.load(path)
    assert issubclass(model_class, survae_dsl.Model)
    assert model_class.likelihood == LIKELIHOOD[class_line.split(": ", 1)[1]]
    assert model_class.model_name == class_line.split(":")[0]

    torch.manual_seed(0)
    model = model_class()
    inputs = [_example(str(model_class.input_types[n]), 5) for n in model_class.input_names]
    contexts = {n: _example(str(model_class.context_types[n]), 5) for n in model_class.context_names}
    log_p = model.log_prob(*inputs, **contexts)
    assert log_p.shape == (5,)
    assert torch.isfinite(log_p).all()

    # with contexts, the batch is theirs: three rows of them draw three examples
    drawn = model.sample(3, **{n: c[:3] for n, c in contexts.items()}) if contexts else model.sample(3)
    drawn = drawn if isinstance(drawn, tuple) else (drawn,)
    assert len(drawn) == len(inputs)
    for value, example in zip(drawn, inputs, strict=True):
        assert value.shape == (3, *example.shape[1:])
        assert value.dtype.is_floating_point == example.dtype.is_floating_point
    assert torch.isfinite(model.log_prob(*drawn, **{n: c[:3] for n, c in contexts.items()})).all()


def test_every_op_covers_each_choice() -> None:
    """`every_op.survae` uses each coupling scale and normal parameterisation, with the syntax
    around them (the union with examples/catalogue covering every name is in
    test_catalogue_models.py)."""
    text = (GOOD / "every_op.survae").read_text(encoding="utf-8")
    (model,) = check_source(text, "every_op.survae").models
    used = {call.entry.name for call in model.bound.values()}
    assert used <= set(OP_TABLE) | set(DIST_TABLE)
    scales = {call.params.scale for call in model.bound.values() if call.entry.name == "affine_coupling"}
    assert scales == set(get_args(AffineCouplingParams.model_fields["scale"].annotation))
    additive = [call.params for call in model.bound.values() if call.entry.name == "additive_coupling"]
    assert any(p.split is not None and p.dim == 1 for p in additive)
    normals = {call.params.per for call in model.bound.values() if call.entry.name == "normal"}
    assert normals == {"element", "channel"}


def test_folds_of_the_first_model() -> None:
    """§1: `softplus_inv` closes the fold of `abs`; without it the couplings leak out of it."""
    (exact,) = check_source((EXAMPLES / "abs_flow.survae").read_text(encoding="utf-8")).models
    (leaky,) = check_source((GOOD / "abs_flow_leak.survae").read_text(encoding="utf-8")).models
    assert (exact.likelihood, exact.reasons) == ("exact", [])
    assert leaky.likelihood == "lower_bound"
    assert [(r.kind, r.op, r.span.line) for r in leaky.reasons] == [("leak", "affine_coupling", 9)]
    assert "`abs` (line 7)" in leaky.reasons[0].message


def test_abs_on_a_symmetric_interval_wastes_nothing() -> None:
    """The chain interval(-4, 4) → abs → scale(by=0.25) → logit maps each domain exactly onto the
    next (docs/language.md, What the checker enforces): exact, and it wastes nothing."""
    source = """model IntervalFold {
    input x: interval(-4, 4)[2]
    h = abs(x)
    h = scale(h, by=0.25)
    h = logit(h)
    h = affine_coupling(h, net=mlp(hidden=[32]))
    h ~ standard_normal()
}
"""
    compilation = check_source(source)
    (model,) = compilation.models
    assert model.likelihood == "exact"
    assert [str(model.types[t]) for t in ("h", "h_1", "h_2")] == ["interval(0, 4)[2]", "unit[2]", "real[2]"]
    assert compilation.warnings == []


def test_abs_on_an_asymmetric_interval_wastes() -> None:
    """sign · |x| reaches (-4, 4), more than interval(-1, 4): W401 at `abs`."""
    source = """model Lopsided {
    input x: interval(-1, 4)[2]
    h = abs(x)
    h = scale(h, by=0.25)
    h = logit(h)
    h ~ standard_normal()
}
"""
    compilation = check_source(source)
    assert [(w.code, w.span.line) for w in compilation.warnings] == [("W401", 3)]
