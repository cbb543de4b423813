"""`survae-fmt`: canonical, idempotent, meaning-preserving, and it never loses a comment.

Every `.survae` file of the repository is formatted and checked: formatting twice changes
nothing, the AST (spans aside) and the lowered IR are unchanged, and every comment is still
there. Comments are counted with a Lark lexer callback, independently of the formatter's own
comment scanner.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest
from lark import Lark, Token

from survae_dsl.compiler.core.diagnostics import CompileError, InternalError
from survae_dsl.compiler.core.source import Source
from survae_dsl.compiler.frontend import format as fmt
from survae_dsl.compiler.frontend.format import format_source, main, strip_spans
from survae_dsl.compiler.frontend.parse import _BracketNewlines, parse
from survae_dsl.compiler.lowering.lower import lower_module

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted(
    [*ROOT.glob("examples/**/*.survae"), *ROOT.glob("tests/good/*.survae"), *ROOT.glob("tests/bad/*.survae")]
)
IDS = [str(p.relative_to(ROOT)) for p in FILES]


_SEEN: list[str] = []


@lru_cache(maxsize=1)
def _comment_lexing_parser() -> Lark:
    grammar = resources.files("survae_dsl.grammar").joinpath("survae.lark").read_text("utf-8")
    return Lark(grammar, parser="lalr", postlex=_BracketNewlines(), lexer_callbacks={"COMMENT": _keep}, cache=True)


def _keep(token: Token) -> Token:
    _SEEN.append(str(token).rstrip())
    return token


def comments(text: str) -> list[str]:
    """The comment tokens of a file, as the grammar's own lexer sees them."""
    _SEEN.clear()
    _comment_lexing_parser().parse(text)
    return list(_SEEN)


def parses(text: str) -> bool:
    try:
        parse(Source("f.survae", text))
    except CompileError:
        return False
    return True


def ir_summary(text: str) -> list[tuple[str, list[tuple[Any, ...]]]] | None:
    """Per model, (op or distribution, keyword values, tensors) in order; None if lowering fails."""
    models, diagnostics = lower_module(parse(Source("f.survae", text)))
    if any(d.is_error for d in diagnostics):
        return None
    summary = []
    for model in models:
        nodes = []
        for node in model.graph.nodes:
            payload = model.payload(node)
            kwargs = tuple((k.name, strip_spans(k.value)) for k in getattr(payload, "kwargs", ()))
            name = getattr(payload, "op", None) or getattr(payload, "dist", None) or type(payload).__name__
            tensors = (getattr(payload, "inputs", ()), getattr(payload, "outputs", ()), getattr(payload, "input", None))
            nodes.append((name, kwargs, tensors))
        summary.append((model.name, nodes))
    return summary


# ---------------------------------------------------------------------------------------------
# Every file of the repository


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_every_file_formats_idempotently_with_the_same_meaning(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    if not parses(text):
        with pytest.raises(CompileError):
            format_source(text, str(path))
        return
    once = format_source(text, str(path))
    assert format_source(once, str(path)) == once
    assert strip_spans(parse(Source(str(path), once))) == strip_spans(parse(Source(str(path), text)))
    before, after = comments(text), comments(once)
    assert len(after) == len(before) and sorted(after) == sorted(before)
    code = [line.split("  #")[0] for line in once.splitlines() if not line.lstrip().startswith("#")]
    assert all(len(line) <= 100 or "[" in line for line in code)  # lists do not wrap
    assert not any(line != line.rstrip() for line in once.splitlines())


@pytest.mark.parametrize("path", [p for p in FILES if "bad" not in p.parts], ids=lambda p: p.name)
def test_formatting_keeps_the_lowered_ir(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    before = ir_summary(text)
    if before is None:
        pytest.skip("does not lower without errors")
    assert ir_summary(format_source(text)) == before


_TOKENS = re.compile(r'"(?:\\.|[^"\\\n])*"|#[^\n]*|[()\[\]{,]')


def sprinkle(text: str) -> str:
    """`text` with a comment and a line break after every `(`, `[` and `,` inside brackets, and
    a comment after every `{`: a comment in every place the grammar allows one."""
    out, depth, last, count = [], 0, 0, 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        depth += token in "([" and len(token) == 1
        depth -= token in ")]" and len(token) == 1
        if token == "{" or (token in "([," and depth > 0):
            count += 1
            out += [text[last : match.end()], f"  # s{count}\n"]
            last = match.end()
    return "".join(out) + text[last:]


@pytest.mark.parametrize("path", [p for p in FILES if "bad" not in p.parts], ids=lambda p: p.name)
def test_comments_everywhere_are_kept_and_formatting_is_still_idempotent(path: Path) -> None:
    text = sprinkle(path.read_text(encoding="utf-8"))
    assert parses(text)
    once = format_source(text)
    assert format_source(once) == once
    assert sorted(comments(once)) == sorted(comments(text))
    assert strip_spans(parse(Source("f.survae", once))) == strip_spans(parse(Source("f.survae", text)))


def test_the_repository_files_are_checked() -> None:
    assert len(FILES) > 50
    assert sum(not parses(p.read_text(encoding="utf-8")) for p in FILES) >= 5  # bad syntax is covered


# ---------------------------------------------------------------------------------------------
# The canonical layout

MESSY = """\


# header comment
const   A=1e-3 # on a constant
const B = [ 1,2 ,3, ]


const C = -0.5
transform t ( h , k = 2 ) : bijective {   # after the brace
  impl "m:C" ; shape [ C , L ] -> [ C , L / 2 ]  # shape
  domain real->interval( - k , k )
  shape [(C+1)*2, C-(L-1), -C, 0 - C, -(2)] -> same
}
block   b(h,k=A){h=affine_coupling(h,net=mlp(hidden=B)) ; return h}
model M{
  doc "a \\"q\\" \\\\ \\n line"   # doc
  input x :int(4)[2,3]


  context c: interval(-1,1)[2]
  # lead 1

  # lead 2
  h = dequantize(x) |>logit( )|> scale( by = .5 )   # pipeline
  h = shift(  # header of shift
     h,  # after h
     # before by
     by=[1,  # inside a list
     2],
     # footer of shift
  )
  repeat 2 { h = b(h) }   # after repeat
  repeat 3 {  # repeat header
    # only a comment
  }
  h ~ normal(context=c, net=mlp(hidden=[64, 64, 64, 64, 64, 64, 64, 64], activation=gelu), per=channel)

}
model E {}
# end comment


"""

EXPECTED = """\
# header comment
const A = 1e-3  # on a constant
const B = [1, 2, 3]

const C = -0.5

transform t(h, k=2): bijective {  # after the brace
    impl "m:C"
    shape [C, L] -> [C, L / 2]  # shape
    domain real -> interval(-k, k)
    shape [(C + 1) * 2, C - (L - 1), -C, 0 - C, -(2)] -> same
}

block b(h, k=A) {
    h = affine_coupling(h, net=mlp(hidden=B))
    return h
}

model M {
    doc "a \\"q\\" \\\\ \\n line"  # doc
    input x: int<4>[2, 3]

    context c: interval(-1, 1)[2]
    # lead 1

    # lead 2
    h = dequantize(x) |> logit() |> scale(by=.5)  # pipeline
    h = shift(  # header of shift
        h,  # after h
        # before by
        # inside a list
        by=[1, 2],
        # footer of shift
    )
    repeat 2 {
        h = b(h)
    }  # after repeat
    repeat 3 {  # repeat header
        # only a comment
    }
    h ~ normal(
        context=c,
        net=mlp(hidden=[64, 64, 64, 64, 64, 64, 64, 64], activation=gelu),
        per=channel,
    )
}

model E {}
# end comment
"""


def test_a_messy_file_formats_to_the_canonical_text() -> None:
    assert format_source(MESSY) == EXPECTED
    assert format_source(EXPECTED) == EXPECTED


def test_semicolons_split_into_one_statement_per_line() -> None:
    text = "const A = 1; const B = 2\nmodel M { input x: real[2]; h = reverse(x);; h ~ normal() }  # end\n"
    assert format_source(text) == dedent(
        """\
        const A = 1
        const B = 2

        model M {
            input x: real[2]
            h = reverse(x)
            h ~ normal()
        }  # end
        """
    )


def test_a_trailing_comment_after_semicolons_stays_with_the_last_statement() -> None:
    text = "model M {\n    input x: real[2]\n    h = reverse(x); h = reverse(h)  # twice\n    h ~ normal()\n}\n"
    assert "    h = reverse(x)\n    h = reverse(h)  # twice\n" in format_source(text)


def test_a_long_call_wraps_one_argument_per_line() -> None:
    call = "affine_coupling(h, net=mlp(hidden=[256, 256, 256], activation=gelu), scale=tanh_exp, dim=1, split=2)"
    text = f"model M {{\n    input h: real[8]\n    h = {call}\n    h ~ normal()\n}}\n"
    assert format_source(text) == (
        "model M {\n"
        "    input h: real[8]\n"
        "    h = affine_coupling(\n"
        "        h,\n"
        "        net=mlp(hidden=[256, 256, 256], activation=gelu),\n"
        "        scale=tanh_exp,\n"
        "        dim=1,\n"
        "        split=2,\n"
        "    )\n"
        "    h ~ normal()\n"
        "}\n"
    )


def test_a_call_that_fits_is_joined_onto_one_line() -> None:
    text = "model M {\n    input h: real[8]\n    h = affine_coupling(\n        h,\n        dim=1,\n    )\n}\n"
    assert "    h = affine_coupling(h, dim=1)\n" in format_source(text)


def test_a_nested_call_wraps_when_its_line_is_still_too_long() -> None:
    hidden = ", ".join(["64"] * 24)
    text = f"model M {{\n    h = affine_coupling(h, net=mlp(hidden=[{hidden}], activation=gelu), scale=exp)\n}}\n"
    assert format_source(text) == (
        "model M {\n"
        "    h = affine_coupling(\n"
        "        h,\n"
        "        net=mlp(\n"
        f"            hidden=[{hidden}],\n"
        "            activation=gelu,\n"
        "        ),\n"
        "        scale=exp,\n"
        "    )\n"
        "}\n"
    )


def test_in_a_long_pipeline_the_longest_call_wraps() -> None:
    long = "dequantize(x, encoder=logit_normal(net=conv(hidden=8, layers=2, kernel=3)), flow=something_long)"
    formatted = format_source(f"model M {{\n    h = {long} |> logit()\n}}\n")
    assert formatted == (
        "model M {\n"
        "    h = dequantize(\n"
        "        x,\n"
        "        encoder=logit_normal(net=conv(hidden=8, layers=2, kernel=3)),\n"
        "        flow=something_long,\n"
        "    ) |> logit()\n"
        "}\n"
    )


def test_comments_in_a_wrapped_call_keep_their_argument() -> None:
    text = (
        "model M {\n"
        "    h = affine_coupling(  # why\n"
        "        h,  # the flow\n"
        "        # the net\n"
        "        net=mlp(hidden=[64]),\n"
        "    )  # done\n"
        "}\n"
    )
    assert format_source(text) == text


def test_keywords_print_after_positional_arguments() -> None:
    assert format_source("const A = f(k=1, x)\n") == "const A = f(x, k=1)\n"


def test_numbers_keep_their_text_and_strings_are_re_escaped() -> None:
    text = 'const A = 1e-3\nconst B = -0.5\nconst C = .5\nconst D = 1.0\nmodel M { doc "tab\tq\\"b\\\\n\\n" }\n'
    formatted = format_source(text)
    assert formatted.startswith("const A = 1e-3\nconst B = -0.5\nconst C = .5\nconst D = 1.0\n")
    assert 'doc "tab\tq\\"b\\\\n\\n"' in formatted


def test_arithmetic_in_values_prints_spaced_with_needed_parentheses_only() -> None:
    text = (
        "const A = -(c+1)*(2 - -c)/ (3*c) - - c\n"
        "const B = [(a*2)*3, a*(2*3), a/(2/1), a-(b-1), (a-b)-1, -(2), - 3, -(a), -(-a)]\n"
        "block f(h, k=2*w+1) {\n    return h\n}\n"
        "model M {\n    input x: int<2*K>[2*3-4]\n    repeat (n - 1) / 2 { h = shift(h, by=1/4) }\n}\n"
    )
    assert format_source(text) == (
        "const A = -(c + 1) * (2 - -c) / (3 * c) - -c\n"
        "const B = [a * 2 * 3, a * (2 * 3), a / (2 / 1), a - (b - 1), a - b - 1, -2, -3, -a, --a]\n"
        "\n"
        "block f(h, k=2 * w + 1) {\n"
        "    return h\n"
        "}\n"
        "\n"
        "model M {\n"
        "    input x: int<2 * K>[2 * 3 - 4]\n"
        "    repeat (n - 1) / 2 {\n"
        "        h = shift(h, by=1 / 4)\n"
        "    }\n"
        "}\n"
    )


def test_types_and_headers() -> None:
    text = "block  f( h ,k=[1,2] ){return h}\nmodel M{input x:int(4)[2,3];context c :interval(-1, 1)[2]}\n"
    assert format_source(text) == (
        "block f(h, k=[1, 2]) {\n"
        "    return h\n"
        "}\n"
        "\n"
        "model M {\n"
        "    input x: int<4>[2, 3]\n"
        "    context c: interval(-1, 1)[2]\n"
        "}\n"
    )


def test_a_repeated_transform_item_is_kept() -> None:
    text = 'transform t(h): bijective {\n    impl "a:B"\n    impl "c:D"  # repeated: an error, but kept\n}\n'
    assert format_source(text) == text


def test_blank_lines_collapse_and_never_touch_braces() -> None:
    text = "model M {\n\n\n    input x: real[2]\n\n\n\n    x ~ normal()\n\n}\n\n\n\n# end\n"
    assert format_source(text) == "model M {\n    input x: real[2]\n\n    x ~ normal()\n}\n\n# end\n"


def test_odd_inputs() -> None:
    assert format_source("") == ""
    assert format_source("\n\n") == ""
    assert format_source("# only\n\n\n# comments") == "# only\n\n# comments\n"
    assert format_source("model M {\r\n\tinput x: real[2]  # c\r\n}\r\n") == "model M {\n    input x: real[2]  # c\n}\n"


def test_a_comment_where_no_line_remains_moves_above_its_statement() -> None:
    text = "model M {\n    input x: real[  # two\n        2]\n}\n"
    assert format_source(text) == "model M {\n    # two\n    input x: real[2]\n}\n"


def test_a_syntax_error_raises_the_parsers_compile_error() -> None:
    with pytest.raises(CompileError) as raised:
        format_source("model M {\n    h = f(x\n}\n", "bad.survae")
    with pytest.raises(CompileError) as expected:
        parse(Source("bad.survae", "model M {\n    h = f(x\n}\n"))
    assert raised.value.render() == expected.value.render()


def test_a_printer_that_changes_the_meaning_raises_an_internal_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fmt._Printer, "_number", lambda self, value, span: "7")
    with pytest.raises(InternalError):
        format_source("const A = 1\n")


def test_a_printer_that_loses_a_comment_raises_an_internal_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fmt, "_aligned", lambda lines: [line.text for line in lines])
    with pytest.raises(InternalError):
        format_source("const A = 1  # kept\n")


# ---------------------------------------------------------------------------------------------
# The command line


UGLY = "model M{input x:real[2];x~normal()}\n"
PRETTY = "model M {\n    input x: real[2]\n    x ~ normal()\n}\n"


def run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    capsys.readouterr()
    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def test_cli_rewrites_a_file_that_changes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "m.survae"
    path.write_text(UGLY)
    status, _, err = run(capsys, path)
    assert status == 0
    assert path.read_text() == PRETTY
    assert "reformatted" in err


def test_cli_leaves_a_formatted_file_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "m.survae"
    path.write_text(PRETTY)
    os.utime(path, (1_000_000, 1_000_000))
    status, out, err = run(capsys, path)
    assert (status, out, err) == (0, "", "")
    assert path.stat().st_mtime == 1_000_000


def test_cli_check_lists_files_that_would_change(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ugly, pretty = tmp_path / "ugly.survae", tmp_path / "pretty.survae"
    ugly.write_text(UGLY)
    pretty.write_text(PRETTY)
    status, out, _ = run(capsys, "--check", ugly, pretty)
    assert status == 1
    assert out.splitlines() == [str(ugly)]
    assert ugly.read_text() == UGLY
    assert run(capsys, "--check", pretty)[0] == 0


def test_cli_diff_prints_the_change_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "m.survae"
    path.write_text(UGLY)
    status, out, _ = run(capsys, "--diff", path)
    assert status == 0
    assert f"--- {path}" in out
    assert "+    x ~ normal()" in out
    assert path.read_text() == UGLY
    assert run(capsys, "--check", "--diff", path)[0] == 1


def test_cli_syntax_error_reports_and_leaves_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.survae"
    text = "model M {\n    h = f(x,, y)\n}\n"
    path.write_text(text)
    status, out, err = run(capsys, path)
    assert status == 1
    assert out == ""
    assert f"{path}:2:" in err and "error[E102]" in err
    assert "Traceback" not in err
    assert path.read_text() == text


def test_cli_missing_file_is_an_error_not_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "m.survae"
    good.write_text(UGLY)
    status, _, err = run(capsys, tmp_path / "missing.survae", good)
    assert status == 1
    assert "cannot read" in err and "Traceback" not in err
    assert good.read_text() == PRETTY  # the other files are still formatted


def test_cli_internal_error_exits_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "m.survae"
    path.write_text("const A = 1\n")
    monkeypatch.setattr(fmt._Printer, "_number", lambda self, value, span: "7")
    status, _, err = run(capsys, path)
    assert status == 3
    assert "internal error" in err
    assert path.read_text() == "const A = 1\n"
