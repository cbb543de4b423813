"""Arithmetic in values (docs/language.md, Values and arithmetic) and per-copy `shuffle` seeds
(docs/language.md, Our choices).

Values compute when the model is compiled: the generated module holds the numbers, which these
tests read from its constructor calls; bad arithmetic is a diagnostic, never a rounded value.
"""

from __future__ import annotations

import copy
import pickle
import re
from fractions import Fraction

import pytest
import torch

import survae_dsl
from survae_dsl.compiler.backends.codegen import emit_module
from survae_dsl.compiler.catalogue.ops_structural import copy_seed
from survae_dsl.compiler.core.diagnostics import CompileError
from survae_dsl.compiler.drivers.driver import check_source
from survae_dsl.compiler.frontend.arith import Quotient
from survae_dsl.compiler.frontend.format import format_source


def _module(text: str) -> str:
    """The generated Python module of `text`."""
    return emit_module(list(check_source(text, "t.survae").models), "t.survae")


def _errors(text: str) -> list[tuple[str, str]]:
    """(code, message) of each diagnostic of `text`, which must not compile."""
    with pytest.raises(CompileError) as caught:
        check_source(text, "t.survae")
    return [(d.code.code, d.message) for d in caught.value.diagnostics if d.is_error]


# ---------------------------------------------------------------------------------------------
# Arithmetic that compiles


def test_keyword_values_and_list_entries_compute_numbers() -> None:
    module = _module(
        """
        const c = 4
        const width = 2 * c + 1
        model M {
            input x: real[2 * 3 - 4]
            h = scale(x, by=1/4)
            h = shift(h, by=-(c + 1) / 2)
            h = affine_coupling(h, net=mlp(hidden=[2 * width, (c + 4) / 2, -c + 9, c * (c - 1) / 6]))
            h ~ normal()
        }
        """
    )
    assert "input_types = {'x': snn.TensorType(snn.REAL, (2,))}" in module
    assert "snn.Scale(shape=(2,), by=0.25)" in module  # `/` is true division where a number is wanted
    assert "snn.Shift(shape=(2,), by=-2.5)" in module
    assert "hidden=(18, 4, 5, 2)" in module  # exact divisions give whole widths


def test_repeat_counts_dimensions_domains_and_block_keywords_compute() -> None:
    module = _module(
        """
        const LEVELS = 3
        block step(h, width=8) {
            h = affine_coupling(h, net=mlp(hidden=[width * 2, width / 2]))
            return h
        }
        model M {
            input x: interval(-1 / 2, 1 / 2)[LEVELS - 1]
            h = x |> shift(by=1 / 2) |> logit()
            repeat LEVELS - 1 { h = step(h, width=4 * LEVELS) }
            h ~ normal()
        }
        """
    )
    assert module.count("hidden=(24, 6)") == 2  # two copies, each with width = 12
    assert "(-0.5, 0.5)" in module and "(2,)" in module


def test_whole_number_arithmetic_is_exact() -> None:
    # (c / 3) * 3 is c again: fractions, not floats, so no 3.9999... is ever rounded
    module = _module(
        """
        const c = 4
        model M {
            input x: real[(c / 3) * 3 - 2]
            h = affine_coupling(x, net=mlp(hidden=[(c / 3) * 6, 1 / 3 + 2 / 3]))
            h ~ normal()
        }
        """
    )
    assert "hidden=(8, 1)" in module
    assert "(2,)" in module


def test_a_decimal_operand_gives_a_float() -> None:
    errors = _errors(
        "model M {\n    input x: real[2]\n    h = affine_coupling(x, net=mlp(hidden=[2 * 0.5]))\n    h ~ normal()\n}\n"
    )
    assert [code for code, _ in errors] == ["E205"]  # 1.0 is a float, which a width refuses


def test_quotient_is_a_float_that_remembers_its_fraction() -> None:
    values = check_source(
        "const c = 4\nmodel M {\n    input x: real[2]\n    h = scale(x, by=c / 3)\n    h ~ normal()\n}\n"
    )
    assert values.models  # by=4/3 is a number where any number is wanted
    from survae_dsl.compiler.core.source import Span

    q = Quotient(Fraction(4, 3), "c / 3", Span("f", 1, 1, 1, 2))
    assert q == 4 / 3 and q.fraction() == "`c / 3` is 4/3"
    assert type(float(q)) is float
    for copied in (copy.deepcopy(q), pickle.loads(pickle.dumps(q))):
        assert (copied, copied.exact, copied.text, copied.span) == (q, q.exact, q.text, q.span)


# ---------------------------------------------------------------------------------------------
# Arithmetic that does not


@pytest.mark.parametrize(
    ("text", "code", "message"),
    [
        ("h = affine_coupling(x, net=mlp(hidden=[c / 3]))", "E305", "`c / 3` is 4/3"),
        ("h = shuffle(x, seed=c / 8)", "E305", "`c / 8` is 1/2"),
        ("h = shift(x, by=c / (c - 4))", "E217", "`c / (c - 4)` divides by zero (`c - 4` is 0)"),
        ("h = shift(x, by=1 / 0)", "E217", "`1 / 0` divides by zero"),
        ("h = shift(x, by=x + 1)", "E217", "`x` in `x + 1` is not a constant"),
        ("h = shift(x, by=[1] * 2)", "E217", "`*` needs numbers, found a list"),
        ("h = shift(x, by=c * 4611686018427387904)", "E217", "is too large"),
        ("h = shift(x, by=c * 1e308)", "E217", "too large to represent"),
    ],
)
def test_bad_arithmetic_is_reported(text: str, code: str, message: str) -> None:
    errors = _errors(f"const c = 4\nmodel M {{\n    input x: real[2]\n    {text}\n    h ~ normal()\n}}\n")
    assert [c for c, _ in errors] == [code], errors
    assert message in errors[0][1]


def test_an_inexact_repeat_count_and_dimension_are_reported() -> None:
    errors = _errors("const c = 4\nmodel M {\n    input x: real[c / 3]\n    repeat c / 8 { }\n    x ~ normal()\n}\n")
    assert errors == [
        ("E305", "a dimension must be a whole number, but `c / 3` is 4/3"),
        ("E305", "`repeat` needs a whole number, but `c / 8` is 1/2"),
    ]


@pytest.mark.parametrize(
    ("line", "hint"),
    [
        ("h = x + 1", "arithmetic (`+ - * /`) computes numbers when the model is compiled"),
        ("h ~ normal() * 2", "it is allowed in values"),
        ("h = shift(x, by=4 // 2)", "there is no `//`"),
        ("h = shift(x, by=2 ** 2)", "there is no power operator"),
    ],
)
def test_arithmetic_where_it_is_not_allowed_says_where_it_is(line: str, hint: str) -> None:
    with pytest.raises(CompileError) as caught:
        check_source(f"model M {{\n    input x: real[2]\n    {line}\n    h ~ normal()\n}}\n")
    first = caught.value.diagnostics[0]
    assert first.code.code == "E102"
    assert first.hint is not None and hint in first.hint
    assert "`+`" not in first.message.split("found")[0]  # operators are not listed as expected


def test_the_formatter_prints_arithmetic_back() -> None:
    text = (
        "const c = 4\n"
        "const d = -(c+1)*(2 - -c)/ (3*c) - - c\n"
        "model M {\n"
        "    input x: real[2*3-4]\n"
        "    h = shift(x, by=-(2) + - 3 * c-(1-2))\n"
        "    repeat (c - 2) { h = affine_coupling(h, net=mlp(hidden=[(c*2)*3, c*(2*3), c/(2/1), c-(c-1)])) }\n"
        "    h ~ normal()\n"
        "}\n"
    )
    formatted = format_source(text)
    assert "const d = -(c + 1) * (2 - -c) / (3 * c) - -c\n" in formatted
    assert "input x: real[2 * 3 - 4]" in formatted
    assert "h = shift(x, by=-2 + -3 * c - (1 - 2))" in formatted
    assert "repeat c - 2 {" in formatted
    assert "hidden=[c * 2 * 3, c * (2 * 3), c / (2 / 1), c - (c - 1)]" in formatted
    assert format_source(formatted) == formatted
    strip = re.compile(r"  # t\.survae:\d+")  # line numbers move; the layers do not
    assert strip.sub("", _module(formatted)) == strip.sub("", _module(text))


# ---------------------------------------------------------------------------------------------
# Distinct seeds per unrolled copy


SIXTEEN = """
model M {
    input x: real[8]
    h = x
    repeat 16 { h = shuffle(h%s) }
    h ~ normal()
}
"""


def _perms(text: str) -> list[tuple[int, ...]]:
    model = survae_dsl.compile_source(text, "t.survae", model="M")["M"]()
    return [tuple(m.perm.tolist()) for m in model.modules() if type(m).__name__ == "Shuffle"]


def test_sixteen_unrolled_shuffles_draw_sixteen_permutations() -> None:
    perms = _perms(SIXTEEN % "")
    assert len(perms) == 16 and len(set(perms)) == 16


def test_recompiling_gives_the_same_permutations() -> None:
    assert _perms(SIXTEEN % "") == _perms(SIXTEEN % "")
    torch.manual_seed(123)  # the global generator plays no part
    assert _perms(SIXTEEN % ", seed=5") == _perms(SIXTEEN % ", seed=5")


def test_a_written_seed_changes_every_permutation() -> None:
    default, five = _perms(SIXTEEN % ""), _perms(SIXTEEN % ", seed=5")
    assert len(set(five)) == 16
    assert sum(a != b for a, b in zip(default, five, strict=True)) >= 14  # 8! perms: a chance match at most


def test_copies_of_a_block_draw_their_own_permutations() -> None:
    text = (
        "block mix(h) {\n    h = shuffle(h, seed=7)\n    return h\n}\n"
        "model M {\n    input x: real[8]\n    h = mix(x)\n    h = mix(h)\n    h = mix(h)\n    h ~ normal()\n}\n"
    )
    assert len(set(_perms(text))) == 3


def test_the_built_seed_is_the_documented_splitmix64() -> None:
    module = _module(
        "model M {\n    input x: real[4]\n    h = shuffle(x, seed=3)\n    h = shuffle(h)\n    h ~ normal()\n}\n"
    )
    seeds = [int(s) for s in re.findall(r"snn\.Shuffle\(shape=\(4,\), dim=0, seed=(\d+)\)", module)]
    assert seeds == [copy_seed(3, 1), copy_seed(0, 2)]
    # SplitMix64 of state 0: the reference sequence starts 0xE220A8397B1DCDAF (top bit dropped here)
    assert copy_seed(0, 1) == 0xE220A8397B1DCDAF >> 1
    assert all(0 <= copy_seed(s, k) < 2**63 for s in (0, 1, 2**63 - 1) for k in (1, 2, 10**6))
    assert len({copy_seed(0, k) for k in range(1, 10_001)}) == 10_000
