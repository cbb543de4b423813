"""Arithmetic in values (`hidden=[2 * width]`, `by=1/4`): computed when the model is compiled.

The rules (docs/language.md, Values and arithmetic):

- `+ - * /` and unary minus, over numbers and constants (a block's keyword parameters inside
  its body); `*` and `/` bind tighter than `+` and `-`, all left-associative, unary minus
  tightest; parentheses group.
- Whole numbers compute exactly, as fractions: `/` of whole numbers is the exact quotient, so
  `(c / 3) * 3` is `c` again. A result whose denominator is 1 is a whole number (`12 / 4` is
  3, an int); any other is a `Quotient`, a number that remembers its fraction and the text
  that made it. Where a whole number is required (a size, a width, a count), a `Quotient` is
  an error (E305: "`c / 3` is 4/3, not a whole number"); where any number is, it is one.
- A decimal number (`0.5`, `1e-3`) makes the result a float, as in Python.
- Division by zero, a non-finite float or a whole number of 2**63 or more are E217, as is an
  operand that is not a number (a tensor, a list, an enum name).

The result is always a plain number: generated code never sees an expression.
"""

from __future__ import annotations

import math
from fractions import Fraction

from ..core import codes
from ..core.diagnostics import Diagnostic, error
from ..core.source import Span
from . import syntax as ast

MAX_WHOLE = 2**63 - 1  # as for a written integer (E105): what a torch int64 holds

_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}


class Quotient(float):
    """A non-whole result of `/` on whole numbers: a float, with its exact fraction and the
    expression that made it (for the message where a whole number is required).

    pydantic's strict float fields accept it and store a plain float, and codegen refuses
    any type but float itself, so it never reaches generated code.
    """

    exact: Fraction
    text: str
    span: Span  # where the expression is written, for the diagnostic

    def __new__(cls, exact: Fraction, text: str, span: Span) -> Quotient:
        made = super().__new__(cls, float(exact))
        made.exact = exact
        made.text = text
        made.span = span
        return made

    def __reduce__(self) -> tuple[type[Quotient], tuple[Fraction, str, Span]]:
        """Copies and pickles keep the fraction, text and span (float's own would drop them)."""
        return (Quotient, (self.exact, self.text, self.span))

    def fraction(self) -> str:
        """`` `c / 3` is 4/3 ``: for "X must be a whole number, but ..." (E305)."""
        return f"`{self.text}` is {self.exact.numerator}/{self.exact.denominator}"


# The hint of E305 for a division that is not exact where a whole number is required.
NOT_WHOLE_HINT = "make the division exact (a multiple of what you divide by), or write the size itself"


class ArithError(Exception):
    """An operation that has no value (reported as its diagnostic)."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


Number = int | float  # a Quotient is a float


def is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def negate(node: ast.Negate, operand: object) -> Number:
    """`-operand`."""
    value = _operand(node, node.operand, operand)
    if isinstance(value, Fraction):
        return _settle(-value, node)
    return _finite(-value, node)


def combine(node: ast.Arith, left: object, right: object) -> Number:
    """`left OP right` for the operands' resolved values; ArithError when it has no value."""
    a, b = _operand(node, node.left, left), _operand(node, node.right, right)
    if node.op == "/" and b == 0:
        raise ArithError(
            error(
                codes.E217,
                node.span,
                f"`{text(node)}` divides by zero"
                + ("" if isinstance(node.right, ast.Number) else f" (`{text(node.right)}` is 0)"),
                "divide by a number other than 0",
            )
        )
    if isinstance(a, Fraction) and isinstance(b, Fraction):
        exact = {"+": a + b, "-": a - b, "*": a * b, "/": a / b if b else a}[node.op]
        return _settle(exact, node)
    x, y = float(a), float(b)
    try:
        value = {"+": x + y, "-": x - y, "*": x * y, "/": x / y if y else x}[node.op]
    except OverflowError:  # float operations give inf rather than raise; kept for safety
        value = math.inf
    return _finite(value, node)


def _operand(node: ast.Arith | ast.Negate, operand: ast.Value, value: object) -> Fraction | float:
    """A number to compute with: whole numbers and quotients exactly, floats as floats."""
    if isinstance(value, Quotient):
        return value.exact
    if isinstance(value, int) and not isinstance(value, bool):
        return Fraction(value)
    if isinstance(value, float):
        return value
    symbol = "-" if isinstance(node, ast.Negate) else node.op
    if isinstance(operand, ast.Ident) and isinstance(value, str) and value == operand.name:
        # Not a constant: a tensor, an enum name or a typo.
        message = f"`{operand.name}` in `{text(node)}` is not a constant"
        hint = (
            "arithmetic computes numbers when the model is compiled, from numbers and constants "
            f"(`const {operand.name} = ...`, or a block's keyword parameter); it cannot combine tensors"
        )
    elif isinstance(operand, ast.Ident):
        message = f"`{operand.name}` in `{text(node)}` holds {_kind(value)}, not a number"
        hint = "arithmetic works on numbers and constants that hold numbers"
    else:
        message = f"`{symbol}` needs numbers, found {_kind(value)} in `{text(node)}`"
        hint = "arithmetic works on numbers and constants that hold numbers"
    raise ArithError(error(codes.E217, operand.span, message, hint))


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, tuple):
        return "a list"
    if isinstance(value, str):
        return f'the text "{value}"'
    return "a call"


def _settle(exact: Fraction, node: ast.Arith | ast.Negate) -> Number:
    """A whole number (an int) when the fraction is one, else a `Quotient`."""
    if exact.denominator == 1:
        if abs(exact.numerator) > MAX_WHOLE:
            raise ArithError(
                error(
                    codes.E217,
                    node.span,
                    f"`{text(node)}` is too large: {abs(exact.numerator).bit_length()} bits, over 2**63 - 1",
                    "sizes, widths and counts fit in 63 bits; check the expression",
                )
            )
        return exact.numerator
    if abs(exact) > MAX_WHOLE:
        raise ArithError(error(codes.E217, node.span, f"`{text(node)}` is too large", "check the expression"))
    return Quotient(exact, text(node), node.span)


def _finite(value: float, node: ast.Arith | ast.Negate) -> float:
    if not math.isfinite(value):
        raise ArithError(
            error(
                codes.E217,
                node.span,
                f"`{text(node)}` is too large to represent ({value})",
                "keep the numbers within float range (about 1.8e308)",
            )
        )
    return value


# ---------------------------------------------------------------------------------------------
# Printing (messages and the formatter)


def needs_parentheses(operand: ast.Value, op: str, right_side: bool) -> bool:
    """Whether `operand` must be parenthesised as an operand of `op` (all bind left)."""
    if not isinstance(operand, ast.Arith):
        return False
    mine, theirs = _PRECEDENCE[operand.op], _PRECEDENCE[op]
    return mine < theirs or (right_side and mine == theirs)


def text(value: ast.Value) -> str:
    """An arithmetic value as the formatter prints it: spaced operators, parentheses only
    where precedence needs them. Other values print as a short description."""
    if isinstance(value, ast.Arith):
        left, right = text(value.left), text(value.right)
        if needs_parentheses(value.left, value.op, right_side=False):
            left = f"({left})"
        if needs_parentheses(value.right, value.op, right_side=True):
            right = f"({right})"
        return f"{left} {value.op} {right}"
    if isinstance(value, ast.Negate):
        inner = text(value.operand)
        return f"-({inner})" if isinstance(value.operand, (ast.Arith, ast.Number)) else f"-{inner}"
    if isinstance(value, ast.Number):
        return repr(value.value) if isinstance(value.value, float) else str(value.value)
    if isinstance(value, ast.Ident):
        return value.name
    if isinstance(value, ast.Bool):
        return "true" if value.value else "false"
    if isinstance(value, ast.String):
        return '"…"'
    if isinstance(value, ast.ListValue):
        return "[…]"
    return f"{value.callee.text}(…)"
