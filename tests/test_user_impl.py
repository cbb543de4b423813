"""Where the modules of user transforms are found (`impl "module:Class"`): E216 and W404.

`load()` and `compile_source()` import them from the model file's folder first, then
`search_path`, then the import path, whatever the working directory, and never change
`sys.path`; what is not found, fails to import or lacks the class is E216 at the `impl` line.
`survae-compile` only looks (W404), never imports.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

import survae_dsl

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "user_transform" / "soft_clip.survae"

# A layer that says where it was imported from, and a model that uses it.
LAYER = """\
import torch

ORIGIN = {origin!r}


class Clip(torch.nn.Module):
    origin = ORIGIN

    def __init__(self, shape, bound=3.0):
        super().__init__()
        self.bound = bound

    def forward(self, x, context=None):
        u = x.abs() / self.bound
        ldj = 2.0 * (0.6931471805599453 - u - torch.nn.functional.softplus(-2.0 * u))
        return self.bound * torch.tanh(x / self.bound), ldj.reshape(x.shape[0], -1).sum(dim=1)

    def inverse(self, z, context=None, generator=None):
        return self.bound * torch.atanh(torch.clamp(z / self.bound, -0.999999, 0.999999))
"""


def model_text(impl: str, second: str | None = None) -> str:
    """A model calling a transform `clip` whose `impl` is on line 3, column 10; with `second`,
    another transform `clip2` (its `impl` on line 9) called after it."""
    text = f'# a model with a layer of its own\ntransform clip(h, bound=3.0): bijective {{\n    impl "{impl}"\n'
    text += "    domain real -> interval(-bound, bound)\n}\n"
    calls = "    h = clip(x)\n"
    if second is not None:
        text += f'\ntransform clip2(h): bijective {{\n    impl "{second}"\n}}\n'
        calls += "    h = clip2(h)\n"
    body = f"    input x: real[2]\n{calls}    h = scale(h, by=0.1) |> shift(by=0.5) |> logit()\n    h ~ normal()\n"
    return text + f"\nmodel M {{\n{body}}}\n"


NAMES = ("mylayers", "uimpl_layers", "uimpl_pkg", "uimpl_ns", "uimpl_broken", "uimpl_trap")


@pytest.fixture(autouse=True)
def clean_modules() -> Iterator[None]:
    """No test sees or leaves the modules these tests import, and none changes `sys.path`."""

    def ours() -> list[str]:
        return [n for n in sys.modules if n.partition(".")[0] in NAMES]

    for name in ours():
        del sys.modules[name]
    path = list(sys.path)
    yield
    assert sys.path == path, "sys.path is left as it was"
    for name in ours():
        del sys.modules[name]


def write(folder: Path, relative: str, text: str) -> Path:
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def runs(model_class: type[Any]) -> torch.nn.Module:
    """An instance whose log_prob gives finite values, and the instance."""
    model = model_class().double()
    log_p = model.log_prob(torch.randn(5, 2, dtype=torch.float64))
    assert log_p.shape == (5,) and torch.isfinite(log_p).all()
    return model


def caught(call: Callable[[], object]) -> survae_dsl.CompileError:
    with pytest.raises(survae_dsl.CompileError) as info:
        call()
    return info.value


# --------------------------------------------------------------------------------------------
# The shipped example, from anywhere


def test_load_from_another_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    model = runs(survae_dsl.load(EXAMPLE))
    assert type(model.soft_clip_1).__module__ == "mylayers"
    assert sys.modules["mylayers"].__file__ == str(EXAMPLE.parent / "mylayers.py")


def test_load_by_a_relative_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT / "tests")
    runs(survae_dsl.load(Path("..") / "examples" / "user_transform" / "soft_clip.survae"))


def test_compile_source_with_the_file_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    classes = survae_dsl.compile_source(EXAMPLE.read_text(encoding="utf-8"), filename=str(EXAMPLE))
    runs(classes["SoftClipFlow"])


def test_compile_source_without_a_file_searches_search_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "layers", "uimpl_layers.py", LAYER.format(origin="layers"))
    monkeypatch.chdir(tmp_path)
    text = model_text("uimpl_layers:Clip")
    error = caught(lambda: survae_dsl.compile_source(text))
    (diagnostic,) = error.diagnostics
    assert (diagnostic.code, diagnostic.span.filename, diagnostic.span.line) == ("E216", "<string>", 3)
    assert diagnostic.message == "transform `clip` imports `uimpl_layers`, which is not on the Python import path"
    assert "search_path=" in (diagnostic.hint or "") and "filename=" in (diagnostic.hint or "")
    for search_path in ([tmp_path / "layers"], str(tmp_path / "layers")):
        assert runs(survae_dsl.compile_source(text, search_path=search_path)["M"]).clip_1.origin == "layers"
    example = EXAMPLE.read_text(encoding="utf-8")
    runs(survae_dsl.compile_source(example, search_path=[EXAMPLE.parent])["SoftClipFlow"])


# --------------------------------------------------------------------------------------------
# Missing, broken, without the class: E216 at the `impl` line


def test_a_missing_module_is_E216_naming_where_it_looked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = write(tmp_path / "models", "m.survae", model_text("uimpl_layers.clip:Clip"))
    extra = tmp_path / "more"
    extra.mkdir()
    monkeypatch.chdir(tmp_path)
    modules = set(sys.modules)
    error = caught(lambda: survae_dsl.load(model, search_path=[extra]))
    (diagnostic,) = error.diagnostics
    assert diagnostic.code == "E216" and diagnostic.is_error
    assert (diagnostic.span.filename, diagnostic.span.line, diagnostic.span.column) == (str(model), 3, 10)
    assert diagnostic.message == (
        "transform `clip` imports `uimpl_layers.clip`, which is not in "
        f"{model.parent} (the model file's folder), not in {extra} (`search_path`) "
        "and not on the Python import path"
    )
    assert "`uimpl_layers/clip.py`" in (diagnostic.hint or "")
    rendered = error.render()
    assert rendered.startswith(f"{model}:3:10: error[E216]: transform `clip` imports `uimpl_layers.clip`")
    assert '3 |     impl "uimpl_layers.clip:Clip"' in rendered and "Traceback" not in rendered
    assert set(sys.modules) == modules


def test_a_module_found_in_search_path(tmp_path: Path) -> None:
    model = write(tmp_path / "models", "m.survae", model_text("uimpl_pkg.clip:Clip"))
    write(tmp_path / "layers", "uimpl_pkg/__init__.py", "")
    write(tmp_path / "layers", "uimpl_pkg/clip.py", LAYER.format(origin="search_path"))
    instance = runs(survae_dsl.load(model, search_path=[tmp_path / "layers"]))
    assert instance.clip_1.origin == "search_path"


def test_a_namespace_package_next_to_the_model(tmp_path: Path) -> None:
    """A folder without `__init__.py` holding the module works as it would on the path."""
    model = write(tmp_path, "m.survae", model_text("uimpl_ns.deep.clip:Clip"))
    write(tmp_path, "uimpl_ns/deep/clip.py", LAYER.format(origin="namespace"))
    assert runs(survae_dsl.load(model)).clip_1.origin == "namespace"


def test_a_folder_without_the_module_is_not_a_hit(tmp_path: Path) -> None:
    """A folder of the module's name that lacks the module does not stop the search."""
    model = write(tmp_path / "models", "m.survae", model_text("uimpl_ns.clip:Clip"))
    (tmp_path / "models" / "uimpl_ns").mkdir()
    write(tmp_path / "layers", "uimpl_ns/clip.py", LAYER.format(origin="layers"))
    assert runs(survae_dsl.load(model, search_path=[tmp_path / "layers"])).clip_1.origin == "layers"


def test_a_module_that_raises_is_E216_with_the_cause_chained(tmp_path: Path) -> None:
    model = write(tmp_path, "m.survae", model_text("uimpl_broken:Clip"))
    write(tmp_path, "uimpl_broken.py", "import torch\nraise RuntimeError('no GPU here\\nsecond line')\n")
    error = caught(lambda: survae_dsl.load(model))
    (diagnostic,) = error.diagnostics
    assert (diagnostic.code, diagnostic.span.line, diagnostic.span.column) == ("E216", 3, 10)
    assert diagnostic.message == (
        f"transform `clip`: importing `uimpl_broken` (from {tmp_path / 'uimpl_broken.py'}) "
        "raised RuntimeError: no GPU here"
    )
    assert isinstance(error.__cause__, RuntimeError)
    assert "uimpl_broken" not in sys.modules, "a module that failed is not left half-imported"


def test_a_missing_class_is_E216_with_a_suggestion(tmp_path: Path) -> None:
    model = write(tmp_path, "m.survae", model_text("uimpl_layers:Clp"))
    write(tmp_path, "uimpl_layers.py", LAYER.format(origin="here"))
    (diagnostic,) = caught(lambda: survae_dsl.load(model)).diagnostics
    assert diagnostic.code == "E216"
    assert diagnostic.message == (
        f"transform `clip`: module `uimpl_layers` (from {tmp_path / 'uimpl_layers.py'}) has no `Clp`"
    )
    assert diagnostic.hint == "did you mean `Clip`?"
    assert "uimpl_layers" not in sys.modules


def test_a_missing_submodule_of_a_package_on_the_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "site", "uimpl_pkg/__init__.py", "")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    path = list(sys.path)
    text = model_text("uimpl_pkg.nope:Clip")
    (diagnostic,) = caught(lambda: survae_dsl.compile_source(text, filename="m.survae")).diagnostics
    assert diagnostic.code == "E216"
    assert diagnostic.message == (
        "transform `clip` imports `uimpl_pkg.nope`, but `uimpl_pkg` "
        f"(from {tmp_path / 'site' / 'uimpl_pkg' / '__init__.py'}) has no module `nope`"
    )
    assert sys.path == path


def test_each_transform_of_a_missing_module_is_reported_once(tmp_path: Path) -> None:
    model = write(tmp_path, "m.survae", model_text("uimpl_layers.a:Clip", second="uimpl_layers.b:Clip"))
    found = [(d.code, d.span.line) for d in caught(lambda: survae_dsl.load(model)).diagnostics]
    assert found == [("E216", 3)], "the package is missing once, at the first transform that names it"


# --------------------------------------------------------------------------------------------
# A module of the same name elsewhere


def test_the_module_next_to_the_model_wins_over_one_imported_already(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "site", "uimpl_layers.py", LAYER.format(origin="site"))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    import uimpl_layers  # type: ignore[import-not-found]

    model = write(tmp_path / "models", "m.survae", model_text("uimpl_layers:Clip"))
    write(tmp_path / "models", "uimpl_layers.py", LAYER.format(origin="next to the model"))
    assert runs(survae_dsl.load(model)).clip_1.origin == "next to the model"
    assert sys.modules["uimpl_layers"] is uimpl_layers, "the rest of the process keeps its module"


def test_a_module_hiding_one_on_the_path_is_not_left_imported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "site", "uimpl_layers.py", LAYER.format(origin="site"))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    model = write(tmp_path / "models", "m.survae", model_text("uimpl_layers:Clip"))
    write(tmp_path / "models", "uimpl_layers.py", LAYER.format(origin="next to the model"))
    assert runs(survae_dsl.load(model)).clip_1.origin == "next to the model"
    assert "uimpl_layers" not in sys.modules
    import uimpl_layers

    assert uimpl_layers.ORIGIN == "site", "a later import still gets the module of the import path"


def test_a_module_hiding_nothing_stays_imported_and_is_reused(tmp_path: Path) -> None:
    model = write(tmp_path, "m.survae", model_text("uimpl_layers:Clip"))
    write(tmp_path, "uimpl_layers.py", LAYER.format(origin="here"))
    first = survae_dsl.load(model)
    module = sys.modules["uimpl_layers"]
    assert type(runs(first).clip_1) is module.Clip
    second = survae_dsl.load(model)
    assert sys.modules["uimpl_layers"] is module and type(runs(second).clip_1) is module.Clip


def test_a_module_on_the_import_path_is_used_when_none_is_next_to_the_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "site", "uimpl_layers.py", LAYER.format(origin="site"))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    model = write(tmp_path / "models", "m.survae", model_text("uimpl_layers:Clip"))
    assert runs(survae_dsl.load(model)).clip_1.origin == "site"


# --------------------------------------------------------------------------------------------
# The command line looks, never imports: W404


TRAP = "from pathlib import Path\nPath({marker!r}).write_text('imported')\n\nclass Clip:\n    pass\n"


def test_check_warns_when_the_module_is_nowhere(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "m.survae", model_text("uimpl_layers.clip:Clip"))
    monkeypatch.chdir(tmp_path)
    result = cli("m.survae", "--check")
    assert result.status == 0 and result.out.startswith("M: exact log-likelihood")
    assert result.err.startswith(
        "m.survae:3:10: warning[W404]: transform `clip` imports `uimpl_layers.clip`, which is neither in "
        f"{tmp_path} (the model file's folder) nor on this Python's import path\n"
    )
    assert "`uimpl_layers/clip.py`" in result.err and "Traceback" not in result.err
    info = cli("m.survae", "--info")
    assert info.status == 0 and '"W404"' in info.out


@pytest.mark.parametrize("layout", ["uimpl_trap.py", "uimpl_trap/__init__.py"])
def test_check_finds_the_module_without_importing_it(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layout: str
) -> None:
    marker = tmp_path / "marker.txt"
    write(tmp_path, layout, TRAP.format(marker=str(marker)))
    write(tmp_path, "m.survae", model_text("uimpl_trap:Clip"))
    monkeypatch.chdir(tmp_path)
    for options in (["--check"], ["-o", "out.py"], ["--info"]):
        result = cli("m.survae", *options)
        assert result.status == 0 and "W404" not in result.err + result.out, options
    assert not marker.exists() and "uimpl_trap" not in sys.modules
    assert "import uimpl_trap as impl_uimpl_0trap" in (tmp_path / "out.py").read_text(encoding="utf-8")


def test_check_finds_a_missing_submodule_of_a_package_next_to_the_file(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "marker.txt"
    write(tmp_path, "uimpl_trap/__init__.py", TRAP.format(marker=str(marker)))
    write(tmp_path, "m.survae", model_text("uimpl_trap.clip:Clip"))
    monkeypatch.chdir(tmp_path)
    result = cli("m.survae", "--check")
    assert result.status == 0 and "warning[W404]" in result.err and "`uimpl_trap/clip.py`" in result.err
    assert not marker.exists() and "uimpl_trap" not in sys.modules


def test_the_example_checks_without_a_warning(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli(EXAMPLE, "--check")
    assert result.status == 0 and result.err == ""
    assert "mylayers" not in sys.modules
