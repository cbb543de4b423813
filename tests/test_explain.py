"""`survae-compile --explain CODE`: every code is explained, and every example compiles as it claims.

Each explanation's `wrong` file must produce its code (an error for `E`, a warning for `W`),
and its `right` file must compile with no error and no warning at all.
"""

from __future__ import annotations

import pytest

from survae_dsl.compiler.core import codes
from survae_dsl.compiler.core.diagnostics import CompileError
from survae_dsl.compiler.doctools.explain import EXPLANATIONS, WITHOUT_EXAMPLES, explain
from survae_dsl.compiler.drivers.driver import check_source

EXPLAINED = sorted(EXPLANATIONS)

# Wrong examples that also produce codes besides their own (none so far). Keep this short:
# an example is clearest when it shows one mistake.
ALSO: dict[str, set[str]] = {}


def _codes(text: str, name: str) -> tuple[bool, list[str]]:
    """(compiled, codes of every diagnostic) for a model file."""
    try:
        compilation = check_source(text, name)
    except CompileError as e:
        return False, [d.code for d in e.diagnostics]
    return True, [d.code for d in compilation.warnings]


def test_every_code_is_explained_or_listed() -> None:
    every = set(codes.BY_CODE)
    assert set(EXPLANATIONS) | WITHOUT_EXAMPLES == every
    assert not set(EXPLANATIONS) & WITHOUT_EXAMPLES
    assert WITHOUT_EXAMPLES == {"E212", "E213", "E216", "E501", "W404"}


@pytest.mark.parametrize("code", EXPLAINED)
def test_entry_is_well_formed(code: str) -> None:
    e = EXPLANATIONS[code]
    assert e.code == code
    words = len(e.text.split())
    assert 80 <= words <= 200, f"{code}: {words} words"
    assert "\n\n" in e.text, "a few paragraphs"
    assert all(len(line) <= 88 for line in e.text.splitlines())
    assert e.wrong != e.right
    for example in (e.wrong, e.right):
        assert example.endswith("\n") and not example.startswith((" ", "\n"))
        assert "model " in example or code == "E210"


@pytest.mark.parametrize("code", EXPLAINED)
def test_wrong_example_produces_the_code(code: str) -> None:
    compiled, found = _codes(EXPLANATIONS[code].wrong, f"{code}_wrong.survae")
    assert code in found
    assert compiled == code.startswith("W"), f"{code}: compiled={compiled}, found {found}"
    assert set(found) - {code} == ALSO.get(code, set()), f"{code}: also {sorted(set(found) - {code})}"


@pytest.mark.parametrize("code", EXPLAINED)
def test_right_example_compiles_cleanly(code: str) -> None:
    compiled, found = _codes(EXPLANATIONS[code].right, f"{code}_right.survae")
    assert compiled, f"{code}: {found}"
    assert found == [], f"{code}: warnings {found}"


@pytest.mark.parametrize("code", EXPLAINED)
def test_explain_output(code: str) -> None:
    entry = codes.BY_CODE[code]
    e = EXPLANATIONS[code]
    out = explain(code)
    lines = out.splitlines()
    assert lines[0] == f"{code}: {entry.heading}"
    assert e.text in out
    assert "\nWrong:\n" in out and "\nRight:\n" in out
    assert out.index("Wrong:") < out.index("Right:")
    wrong_part, right_part = out.split("\nRight:\n")
    for example, part in ((e.wrong, wrong_part), (e.right, right_part)):
        indented = "\n".join("    " + line if line else "" for line in example.rstrip("\n").split("\n"))
        assert indented in part
    assert out.endswith("\n")


@pytest.mark.parametrize("code", sorted(WITHOUT_EXAMPLES))
def test_explain_without_examples(code: str) -> None:
    entry = codes.BY_CODE[code]
    out = explain(code)
    assert out.splitlines()[0] == f"{code}: {entry.heading}"
    assert " ".join(out.split("\n", 1)[1].split()) == entry.explanation
    assert "Wrong:" not in out and "Right:" not in out


def test_explain_is_case_and_space_tolerant() -> None:
    assert explain(" e405 ") == explain("E405")


@pytest.mark.parametrize("code", ["E999", "W400", "", "405", "error"])
def test_unknown_code_raises_keyerror(code: str) -> None:
    with pytest.raises(KeyError):
        explain(code)
