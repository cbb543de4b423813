"""The Python API: `survae_dsl.load`, `compile_source`, `CompileError`, and what importing costs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import survae_dsl
from survae_dsl.compiler.core.diagnostics import Diagnostic

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
ABS_FLOW = ROOT / "examples" / "abs_flow.survae"

TWO_MODELS = """\
model First {
    input x: real[2]
    x ~ standard_normal()
}

model Second {
    input y: positive[3]
    y = softplus_inv(y)
    y ~ standard_normal()
}
"""


@pytest.fixture
def two_models(tmp_path: Path) -> Path:
    path = tmp_path / "two.survae"
    path.write_text(TWO_MODELS, encoding="utf-8")
    return path


def test_load_returns_the_model_class() -> None:
    model_class = survae_dsl.load(ABS_FLOW)
    assert isinstance(model_class, type)
    assert issubclass(model_class, survae_dsl.Model)
    assert model_class.__name__ == "AbsFlow"
    assert model_class.likelihood == "exact"
    assert model_class.__doc__ == "Abs-surjection flow for 2-D data symmetric about both axes"
    assert survae_dsl.load(str(ABS_FLOW)).likelihood == "exact", "a str path works as well as a Path"


def test_load_picks_a_model_by_name(two_models: Path) -> None:
    second = survae_dsl.load(two_models, model="Second")
    assert second.__name__ == "Second"
    assert second.input_names == ("y",)
    assert survae_dsl.load(two_models, model="First").__name__ == "First"


def test_load_of_several_models_needs_model_E213(two_models: Path) -> None:
    with pytest.raises(survae_dsl.CompileError) as caught:
        survae_dsl.load(two_models)
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.code == "E213"
    assert "`First`, `Second`" in diagnostic.message
    assert diagnostic.hint == "pass `model=NAME`"
    assert str(two_models) in caught.value.render()


@pytest.mark.parametrize("load", ["load", "compile_source"])
def test_a_missing_model_name_is_E212(two_models: Path, load: str) -> None:
    with pytest.raises(survae_dsl.CompileError) as caught:
        if load == "load":
            survae_dsl.load(two_models, model="Third")
        else:
            survae_dsl.compile_source(TWO_MODELS, model="Third")
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.code == "E212"
    assert "`Third`" in diagnostic.message
    assert "`First`, `Second`" in (diagnostic.hint or "")


def test_compile_source_returns_every_class_by_name() -> None:
    classes = survae_dsl.compile_source(TWO_MODELS, filename="two.survae")
    assert list(classes) == ["First", "Second"]
    assert {name: c.likelihood for name, c in classes.items()} == {"First": "exact", "Second": "exact"}
    assert list(survae_dsl.compile_source(TWO_MODELS, model="Second")) == ["Second"]


@pytest.mark.parametrize(
    ("source", "code", "line", "column"),
    [
        ("model M {\n    input x: real[2]\n    x ~ standard_normal(\n}\n", "E102", 3, 24),
        ("model M {\n    input x: real[2]\n    h = reverse(x)\n}\n", "E401", 3, 5),
        ("model M {\n    input x: int<256>[2]\n    x ~ standard_normal()\n}\n", "E403", 3, 5),
        ("model M {\n    input x: real[2]\n    h = logit(x)\n    h ~ standard_normal()\n}\n", "E405", 3, 15),
    ],
)
def test_compile_source_raises_compile_error(source: str, code: str, line: int, column: int) -> None:
    with pytest.raises(survae_dsl.CompileError) as caught:
        survae_dsl.compile_source(source, filename="bad.survae")
    error = caught.value
    first = error.diagnostics[0]
    assert isinstance(first, Diagnostic)
    assert (first.code, first.span.filename, first.span.line, first.span.column) == (code, "bad.survae", line, column)
    assert first.is_error
    assert str(error).startswith(f"bad.survae:{line}:{column}: error[{code}]: ")
    assert error.render().startswith(f"bad.survae:{line}:{column}: error[{code}]: ")


def test_compile_error_collects_every_error_in_source_order() -> None:
    source = "model M {\n    input x: real[2]\n    a = reverse(x)\n    b = reverse(x)\n    h = logit(b)\n}\n"
    with pytest.raises(survae_dsl.CompileError) as caught:
        survae_dsl.compile_source(source)
    found = [(d.code, d.span.line) for d in caught.value.diagnostics]
    assert found == [("E401", 3), ("E402", 4), ("E405", 5)]


def test_load_of_a_missing_file_raises_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        survae_dsl.load(tmp_path / "missing.survae")


def test_generated_source_is_inspectable() -> None:
    """`load` registers the generated module with linecache, so tracebacks show its lines."""
    import inspect

    model_class = survae_dsl.load(ABS_FLOW)
    source = inspect.getsource(model_class.log_prob)
    assert source.lstrip().startswith("def log_prob(self, x: torch.Tensor) -> torch.Tensor:")
    assert "self.abs_1(x)  # abs_flow.survae:7" in source


@pytest.mark.parametrize("module", ["survae_dsl", "survae_dsl.compiler"])
def test_importing_the_compiler_does_not_import_torch(module: str) -> None:
    program = (
        f"import sys, {module}\n"
        "from survae_dsl.compiler import check_source\n"
        "check_source(open(sys.argv[1], encoding='utf-8').read())\n"
        "loaded = sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.'))\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program, str(ABS_FLOW)],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
        check=False,
    )
    assert done.returncode == 0, done.stderr
