"""Bad models: each `tests/bad/NAME.survae` against the exact diagnostics of `--check`.

`NAME.expected` is the stderr of `survae-compile NAME.survae --check` run in `tests/bad`
(`pytest --update-goldens` rewrites it). Every file starts with a header comment

    # CODE at LINE:COL: what is wrong

which each test checks on its own, independently of the golden file: the diagnostic with that
code is reported at that position, with the source line and a caret under the column, the exit
status fits its severity, and no traceback shows. Names start with the code they exercise.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from survae_dsl.compiler.core import codes
from survae_dsl.compiler.core.diagnostics import EXCERPT_WIDTH, CompileError
from survae_dsl.compiler.drivers.driver import MAX_SOURCE_BYTES, check_source

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
BAD = TESTS / "bad"
HEADER = re.compile(r"# (?P<code>[EW]\d{3}) at (?P<line>\d+):(?P<col>\d+): \S")
RENDERED = re.compile(
    r"^(?P<file>\S+?):(?P<line>\d+):(?P<col>\d+): (?P<severity>error|warning)\[(?P<code>[EW]\d{3})\]: \S", re.M
)


def _too_large() -> str:
    """A valid model padded with comments past the size limit (not committed: 1 MB)."""
    model = "model M {\n    input x: real[2]\n    x ~ standard_normal()\n}\n"
    padding = ("#" * 99 + "\n") * (MAX_SOURCE_BYTES // 100 + 1)
    return "# E501 at 10007:10: over the size limit of the file.\n" + model + padding + "# the end"


# Bad models built by the test instead of stored, with their golden files in tests/bad.
def _too_deep() -> str:
    """A `repeat` nested 101 deep (one level over the limit): not committed, it is one long line."""
    body = "repeat 1 { " * 101 + "x = reverse(x)" + " }" * 101
    return (
        "# E505 at 3:1099: nested past the limit (the model brace and 100 repeats).\n"
        f"model M {{\n{body}\n    x ~ standard_normal()\n}}\n"
    )


GENERATED: dict[str, Callable[[], str]] = {"E501_file_too_large": _too_large, "E505_nesting_too_deep": _too_deep}

# Codes tested outside this file, because no model text alone produces them.
TESTED_ELSEWHERE = {
    "E212": "`--model NAME` or `model=` naming a missing model: test_cli.py, test_api.py",
    "E213": "`load()` on a file with several models and no `model=`: test_api.py",
    "E216": "`load()` of a transform whose module is missing, broken or lacks the class: test_user_impl.py",
    "W404": "`survae-compile` on a transform whose module is not found (looked for, never imported): test_user_impl.py",
}

STORED = sorted(p.stem for p in BAD.glob("*.survae"))
ALL_BAD = sorted([*STORED, *GENERATED])


def _source(name: str) -> str:
    return GENERATED[name]() if name in GENERATED else (BAD / f"{name}.survae").read_text(encoding="utf-8")


def _header(text: str) -> tuple[str, int, int]:
    match = HEADER.match(text)
    assert match, "a bad model starts with `# CODE at LINE:COL: what is wrong`"
    return match["code"], int(match["line"]), int(match["col"])


def _run(name: str, cli: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """`survae-compile NAME.survae --check` from the folder of the file."""
    if name in GENERATED:
        (tmp_path / f"{name}.survae").write_text(_source(name), encoding="utf-8")
        monkeypatch.chdir(tmp_path)
    else:
        monkeypatch.chdir(BAD)
    return cli(f"{name}.survae", "--check")


@pytest.mark.parametrize("name", ALL_BAD)
def test_bad_model_diagnostics(
    name: str,
    cli: Callable[..., Any],
    golden: Callable[[Path, str], None],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = _source(name)
    code, line, col = _header(text)
    assert name.startswith(code + "_"), "bad models are named after their code"

    result = _run(name, cli, tmp_path, monkeypatch)
    golden(BAD / f"{name}.expected", result.err)

    assert "Traceback" not in result.err + result.out
    found = [(m["file"], int(m["line"]), int(m["col"]), m["code"]) for m in RENDERED.finditer(result.err)]
    assert (f"{name}.survae", line, col, code) in found, result.err
    _assert_excerpt(result.err, text, code, line, col)
    errors = [f for f in found if f[3].startswith("E")]
    if code.startswith("E"):
        assert result.status == 1
        assert result.out == "", "a model with errors gets no report"
        plural = "s" if len(errors) != 1 else ""
        assert result.err.rstrip("\n").endswith(f"{name}.survae: {len(errors)} error{plural}")
    else:
        assert result.status == 0, "a warning does not fail the compile"
        assert errors == []
        assert re.match(r"\w+: (exact log-likelihood|lower bound)\n", result.out)


def _assert_excerpt(err: str, text: str, code: str, line: int, col: int) -> None:
    """The diagnostic shows its source line numbered, and a caret under the column."""
    block = next(b for b in err.split("\n\n") if re.search(rf":{line}:{col}: \w+\[{code}\]", b))
    source_line = text.split("\n")[line - 1]
    rows = block.splitlines()
    gutter = " " * len(str(line)) + " | "
    if len(source_line) > EXCERPT_WIDTH:
        # A long line is cut around the column: the part shown is the line's own text, and
        # the caret stands under the same character.
        (numbered,) = [r for r in rows if r.startswith(f"{line} | ")]
        shown = numbered[len(f"{line} | ") :]
        inner = shown.strip("…")
        assert len(inner) == EXCERPT_WIDTH
        if not shown.startswith("…"):  # the start of the line
            assert source_line.startswith(inner)
            start = 0
        elif not shown.endswith("…"):  # its end
            assert source_line.endswith(inner)
            start = len(source_line) - EXCERPT_WIDTH - 1  # the `…` takes a column
        else:
            assert source_line.count(inner) == 1
            start = source_line.index(inner) - 1
    else:
        numbered, start = f"{line} | {source_line}", 0
    assert numbered in rows, block
    caret_row = rows[rows.index(numbered) + 1]
    assert caret_row.startswith(gutter)
    assert caret_row[len(gutter) :].index("^") + start == col - 1, block


@pytest.mark.parametrize("name", ALL_BAD)
def test_api_reports_the_same_diagnostic(name: str) -> None:
    """`check_source` raises (errors) or returns warnings with the diagnostic of the header."""
    text = _source(name)
    code, line, col = _header(text)
    if code.startswith("E"):
        with pytest.raises(CompileError) as caught:
            check_source(text, f"{name}.survae")
        diagnostics = caught.value.diagnostics
    else:
        diagnostics = check_source(text, f"{name}.survae").warnings
    assert any((d.code, d.span.line, d.span.column) == (code, line, col) for d in diagnostics)
    keys = [(d.code, d.span, d.message) for d in diagnostics]
    assert len(keys) == len(set(keys)), "each finding is reported once (even inside `repeat`)"


@pytest.mark.parametrize("separator", ["\u2028", "\x0c", "\x85"])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_excerpt_is_the_line_of_the_diagnostic(separator: str, newline: str) -> None:
    """Lines end at a new line only, as for the parser, whatever a doc or a comment holds."""
    lines = [
        "model M {",
        f'    doc "a{separator}b"  # c{separator}d',
        "    input x: real[2]",
        "    h = logit(x)",
        "    h ~ standard_normal()",
        "}",
    ]
    with pytest.raises(CompileError) as caught:
        check_source(newline.join(lines) + newline, "m.survae")
    rendered = caught.value.render().splitlines()
    assert rendered[0].startswith("m.survae:4:15: error[E405]")
    assert rendered[2] == "4 |     h = logit(x)"
    assert rendered[3] == "  |               ^"


@pytest.mark.parametrize(
    "body",
    [
        "repeat 1000000000000 { }",
        'repeat 1000000000000 { doc "again" }',
        "repeat 1000000000000 { repeat 0 { x = reverse(x) } }",
    ],
)
def test_repeat_without_ops_is_not_unrolled(body: str) -> None:
    """A body without ops is the same every time: a huge count must not make the compiler spin."""
    source = f"model M {{\n    input x: real[2]\n    {body}\n    x ~ standard_normal()\n}}\n"
    with _deadline(seconds=10):
        try:
            diagnostics = check_source(source).warnings
        except CompileError as error:
            diagnostics = error.diagnostics
    assert len(diagnostics) <= 1


@contextmanager
def _deadline(seconds: int) -> Iterator[None]:
    """Fail (instead of hanging the suite) if the block runs longer than `seconds`."""
    if not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"took longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("kind", ["repeat", "list"])
def test_deep_nesting_is_a_diagnostic(kind: str) -> None:
    """docs/diagnostics.md lists nesting depth among the E5xx limits; it must not be a crash."""
    depth = 3000
    if kind == "repeat":
        body = "repeat 1 { " * depth + "x = reverse(x)" + " }" * depth
        source = f"model M {{\n    input x: real[2]\n    {body}\n    x ~ standard_normal()\n}}\n"
    else:
        source = (
            "const A = "
            + "[" * depth
            + "1"
            + "]" * depth
            + "\nmodel M {\n    input x: real[2]\n    x ~ standard_normal()\n}\n"
        )
    with pytest.raises(CompileError) as caught:
        check_source(source)
    assert [d.code for d in caught.value.diagnostics] == ["E505"]


def test_every_reachable_code_has_a_bad_model() -> None:
    covered = {name[:4] for name in ALL_BAD}
    assert covered <= set(codes.BY_CODE), "a bad model names a code that codes.py does not list"
    missing = set(codes.BY_CODE) - covered - set(TESTED_ELSEWHERE)
    assert missing == set()


def test_bad_model_files_come_in_pairs() -> None:
    expected = {p.stem for p in BAD.glob("*.expected")}
    assert expected == set(ALL_BAD), "each bad model has its .expected, and each .expected its model"
    assert not set(STORED) & set(GENERATED)


def test_every_registered_code_is_explained_documented_and_shown_by_a_bad_model() -> None:
    """Read from the registry (`codes.CODES`), not from the compiler's source: the compiler can
    only name a code through its constant (`codes.E405`; mypy and the import reject any other),
    and each registered code has an `--explain` text, its entries in docs/diagnostics.md, and a
    bad model whose expected output shows it with its severity (or a test elsewhere, for the
    command-line and API codes), so no code is listed that the compiler never emits."""
    from survae_dsl.compiler.doctools.explain import explain

    page = (ROOT / "docs" / "diagnostics.md").read_text(encoding="utf-8")
    shown: dict[str, set[str]] = {}
    for name in ALL_BAD:
        for match in RENDERED.finditer((BAD / f"{name}.expected").read_text(encoding="utf-8")):
            shown.setdefault(match["code"], set()).add(match["severity"])
    assert set(shown) <= set(codes.BY_CODE), "an expected output shows a code that codes.py does not list"
    for code in codes.CODES:
        assert getattr(codes, code.code) is code is codes.BY_CODE[code.code], f"{code}: constant named by its code"
        assert explain(code).startswith(f"{code}: {code.heading}\n"), code
        assert f"| `{code}` | {code.heading} |" in page and f"### `{code}`: {code.heading}\n" in page, code
        if code.code in TESTED_ELSEWHERE:
            continue
        severity = "error" if code.startswith("E") else "warning"
        assert shown.get(code.code) == {severity}, f"{code}: no bad model's expected output shows {severity}[{code}]"
        assert any(name.startswith(f"{code}_") for name in ALL_BAD), f"{code}: no tests/bad/{code}_*.survae"


def test_a_code_is_its_string() -> None:
    """`Diagnostic.code` is a `codes.Code`: it must print, compare, hash and serialise as the
    plain code string, so CLI output, `--info` JSON and the goldens read the same as before."""
    import copy
    import json
    import pickle

    code = codes.E405
    assert code == "E405" and hash(code) == hash("E405") and {"E405": 1}[code] == 1
    assert str(code) == f"{code}" == repr(code)[1:-1] == "E405" and type(code.code) is str
    assert json.dumps({"code": code}) == '{"code": "E405"}'
    assert copy.deepcopy(code) is code and pickle.loads(pickle.dumps(code)) is code


def test_codes_are_well_formed() -> None:
    names = [c.code for c in codes.CODES]
    assert len(names) == len(set(names))
    assert names == sorted(names, key=lambda c: (c[0] == "W", c))
    for c in codes.CODES:
        assert re.fullmatch(r"[EW][1-5]\d\d", c.code)
        assert c.heading and c.explanation.endswith((".", ")"))


def test_diagnostics_page_is_generated_from_codes() -> None:
    page = (ROOT / "docs" / "diagnostics.md").read_text(encoding="utf-8")
    from survae_dsl.compiler.doctools.docs_pages import diagnostics_with_explanations

    assert page == diagnostics_with_explanations(), (
        "regenerate it: python -m survae_dsl.compiler.doctools.docs_pages docs"
    )
    for c in codes.CODES:
        assert f"| `{c.code}` |" in page
