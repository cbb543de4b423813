"""survae_dsl.types: the one standard-library-only home of declared domains and tensor types."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from survae_dsl import types
from survae_dsl.types import POSITIVE, REAL, UNIT, TensorType, integers, interval, parse_type

CANONICAL = [
    ("real[2]", TensorType(REAL, (2,))),
    ("positive[3]", TensorType(POSITIVE, (3,))),
    ("unit[4, 5]", TensorType(UNIT, (4, 5))),
    ("interval(-4, 4)[2]", TensorType(interval(-4, 4), (2,))),
    ("interval(-1.5, 0.5)[1]", TensorType(interval(-1.5, 0.5), (1,))),
    ("int<17>[1, 8, 8]", TensorType(integers(17), (1, 8, 8))),
]


@pytest.mark.parametrize(("text", "value"), CANONICAL)
def test_parse_and_str_round_trip(text: str, value: TensorType) -> None:
    parsed = parse_type(text)
    assert parsed == value and hash(parsed) == hash(value)
    assert str(parsed) == text
    assert parse_type(str(value)) == value


def test_parse_accepts_loose_spacing_and_writes_canonical_text() -> None:
    assert str(parse_type(" unit[ 4 ,5 ] ")) == "unit[4, 5]"
    assert str(parse_type("interval(-1.5e0, .5)[1]")) == "interval(-1.5, 0.5)[1]"
    assert parse_type("interval(0, 1)[2]") == parse_type("unit[2]")  # one value, one canonical name
    assert len({parse_type("int<3>[2]"), parse_type("int<3>[ 2 ]"), parse_type("int<4>[2]")}) == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("real", "cannot read the type 'real'"),
        ("real[0]", "dimensions must be whole numbers >= 1"),
        ("real[D]", "dimensions must be whole numbers >= 1"),
        ("int[3]", "`int` needs its number of classes K >= 2"),
        ("int<1>[3]", "`int` needs its number of classes K >= 2"),
        ("interval(2, 1)[3]", "interval bounds need a < b"),
        ("interval(1)[3]", "`interval` needs two numbers"),
        ("real<3>[2]", "`real` takes no arguments"),
        ("ordered[2]", "unknown domain `ordered`; the domains are real, positive, unit, interval(a, b) and int<K>"),
    ],
)
def test_bad_text_is_refused_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_type(text)


def test_parse_domain() -> None:
    assert types.parse_domain("int<256>") == integers(256)
    assert str(types.parse_domain("interval(-4, 4)")) == "interval(-4, 4)"
    with pytest.raises(ValueError, match="cannot read the domain"):
        types.parse_domain("real[2]")


def test_standard_library_only() -> None:
    tree = ast.parse(Path(types.__file__).read_text(encoding="utf-8"))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported <= {"__future__", "math", "re"}


def test_the_compiler_shares_the_domain_type() -> None:
    from survae_dsl.compiler.core import domains

    assert domains.Domain is types.Domain and domains.REAL is types.REAL


def test_training_reads_a_compiled_models_structured_input_type() -> None:
    import survae_dsl
    from survae_dsl.train.model_input import single_input

    source = (
        "model M {\n    input x: int<17>[1, 8, 8]\n"
        "    h = dequantize(x)\n    h = logit(h)\n    h ~ standard_normal()\n}\n"
    )
    cls = survae_dsl.compile_source(source)["M"]
    declared = cls.input_types["x"]
    assert isinstance(declared, TensorType)
    assert declared == TensorType(integers(17), (1, 8, 8))
    read = single_input(cls)
    assert read is declared and read.size == 64 and read.domain.classes == 17
