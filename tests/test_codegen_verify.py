"""The self-check every generated module passes before it is returned (`verify_generated`).

It reads imports from the bytecode and runtime names from the code outside strings and
comments; these tests feed it modules that break each rule, wherever the offence hides.
"""

from __future__ import annotations

import re

import pytest

from survae_dsl.compiler.backends.codegen import emit_module, verify_generated
from survae_dsl.compiler.core.diagnostics import InternalError
from survae_dsl.compiler.drivers.driver import check_source

HEADER = "from __future__ import annotations\nimport torch\nimport survae_dsl.nn as snn\n"


def test_a_generated_module_passes() -> None:
    source = 'model M {\n    doc "mentions snn.Evil and import os"\n    input x: real[2]\n    x ~ normal()\n}\n'
    verify_generated(emit_module(check_source(source, "m.survae").models, "m.survae"))


def test_runtime_names_in_strings_and_comments_are_text() -> None:
    verify_generated(
        HEADER + 'class A(snn.Model):\n    \'uses snn.Evil\'\n    x = "snn.Bad\\""  # snn.Worse\n'
        "    def f(self):\n        return snn.Abs, torch.zeros\n"
    )


@pytest.mark.parametrize(
    ("code", "refused"),
    [
        ("import os\n", "['os']"),
        ("def f():\n    import subprocess\n", "['subprocess']"),
        ("class A:\n    def g(self):\n        from os import path\n", "['os']"),
        ("x = [lambda: __import__ for _ in ()]\ndef f():\n    import torch.nn, shutil\n", "['shutil']"),
        ("from . import torch\n", "['.']"),
        ("from .torch import x\n", "['.torch']"),
        ("def f():\n    def g():\n        class C:\n            import sys\n", "['sys']"),
    ],
)
def test_any_other_import_is_refused(code: str, refused: str) -> None:
    with pytest.raises(InternalError, match=re.escape(f"generated code imports {refused}")):
        verify_generated(HEADER + code)


def test_user_modules_are_allowed_only_when_named() -> None:
    code = HEADER + "import mylayers as impl_mylayers\n"
    verify_generated(code, frozenset({"mylayers"}))
    with pytest.raises(InternalError, match="mylayers"):
        verify_generated(code)


@pytest.mark.parametrize(
    "code", ["x = snn.Evil\n", "def f():\n    return [snn.Nope for _ in ()]\n", "y = 'a' + snn.Bad\n"]
)
def test_unknown_runtime_names_are_refused(code: str) -> None:
    with pytest.raises(InternalError, match="unknown runtime name"):
        verify_generated(HEADER + code)


def test_code_that_does_not_parse_is_refused() -> None:
    with pytest.raises(InternalError, match="does not parse"):
        verify_generated(HEADER + "def f(:\n")


def test_standalone_modules_may_not_import_the_runtime() -> None:
    with pytest.raises(InternalError, match="survae_dsl.nn"):
        verify_generated(HEADER, runtime=False)
