"""The catalogue of diagnostic codes: a stable code, a title, and when it fires.

Each code is a module-level constant (`codes.E405`), and the compiler names codes only through
them: `error(codes.E405, ...)`, so a misspelt code is a NameError and a mypy error rather than a
new code. `CODES` lists them in order. `docs/diagnostics.md` is generated from this table and
`explain.py` (`python -m survae_dsl.compiler.doctools.docs_pages docs`), and the test suite checks
that every code here has an explanation, a docs entry and a bad model in `tests/bad`.
"""

from __future__ import annotations

import sys
from typing import Final


class Code(str):
    """A diagnostic code with its title and one-sentence explanation.

    A `Code` is the string of the code itself (`"E405"`): it prints, formats, hashes, compares
    and serialises (JSON, `--info`) exactly as that string, so a `Diagnostic.code` reads the same
    everywhere it is shown and tests may compare it with plain strings.
    """

    heading: str  # the title (`str.title` is the string method)
    explanation: str

    def __new__(cls, code: str, title: str, explanation: str) -> Code:
        self = super().__new__(cls, code)
        self.heading = title
        self.explanation = explanation
        return self

    @property
    def code(self) -> str:
        """The code as a plain `str`."""
        return str.__str__(self)

    def __reduce__(self) -> tuple[object, tuple[str]]:
        # Copies and pickles are the registered constant itself.
        return _lookup, (self.code,)


def _lookup(code: str) -> Code:
    return BY_CODE[code]


E101: Final = Code(
    "E101",
    "unexpected character",
    "A character that no token starts with: a non-ASCII letter in a name, a stray symbol, a string not closed on its line.",
)
E102: Final = Code(
    "E102",
    "unexpected token",
    "The parser expected something else here; the message spells what it accepts (`)`, a name, a new line, ...).",
)
E103: Final = Code(
    "E103",
    "unexpected end of the file",
    "The file ends inside a declaration: usually a `{` without its `}` or an unclosed bracket.",
)
E104: Final = Code(
    "E104",
    "keyword used as a name",
    "Keywords (`model`, `input`, `repeat`, `const`, ...) cannot name models, tensors or constants.",
)
E105: Final = Code(
    "E105",
    "invalid literal",
    'A number too large to represent (`1e999`) or an unknown escape in a string (only `\\"`, `\\\\`, `\\n`).',
)
E201: Final = Code(
    "E201",
    "unknown op, distribution or net",
    "The name is not in the catalogue; the hint suggests the closest one.",
)
E202: Final = Code(
    "E202",
    "unknown tensor",
    "A tensor is used before it is defined (or never is); the hint suggests a defined name.",
)
E203: Final = Code("E203", "unknown or repeated keyword", "The op has no such keyword argument, or it is given twice.")
E204: Final = Code(
    "E204", "missing keyword", "A required keyword argument (such as `net=` of a coupling) is not given."
)
E205: Final = Code(
    "E205",
    "invalid keyword value",
    "A keyword's value has the wrong type or is out of range (`split=0`, `scale=bogus`, `hidden=[]`).",
)
E206: Final = Code(
    "E206",
    "wrong number of tensors",
    "An op is given or bound to the wrong number of tensors, or a distribution is given a tensor argument.",
)
E207: Final = Code(
    "E207",
    "invalid type",
    "An unknown data domain, `int` without its `<K>`, `interval` without a < b, or `ordered` declared.",
)
E208: Final = Code(
    "E208",
    "duplicate declaration",
    "Two declarations, inputs or `doc`s with the same name in one scope; or a constant defined through itself.",
)
E209: Final = Code(
    "E209",
    "wrong kind of name here",
    "A distribution used as an op, a net after `~`, `input` inside `repeat`, or a non-tensor positional argument.",
)
E210: Final = Code("E210", "nothing to model", "A model without an `input`, or a file without a model.")
E211: Final = Code("E211", "invalid repeat count", "`repeat` needs a whole number of at least 1.")
E212: Final = Code("E212", "no such model", "`--model NAME` (or `model=`) names a model the file does not have.")
E213: Final = Code("E213", "several models", "`load()` found several models in the file; pass `model=NAME`.")
E214: Final = Code(
    "E214",
    "conditional distribution without a context",
    "A distribution with `net=` after `~`: nothing gives it the context its net reads. Use it as an op's `encoder=`/`decoder=`.",
)
E215: Final = Code(
    "E215",
    "invalid transform declaration",
    'A `transform` with an unknown kind, no or a malformed `impl "package.module:Class"` (or one in the standard library), a keyword its class cannot receive (`lambda`, `_x`, `self`), a shape rule using a name its input side does not bind, a domain other than real, positive, unit or interval(a, b), or an item given twice; likewise a `net` declaration, or a `net`/`parameters` item naming what is not a size or numeric keyword.',
)
E216: Final = Code(
    "E216",
    "transform module not importable",
    "`load()` or `compile_source()` could not import the class a `transform`'s `impl` names: its module is not in the model file's folder, in `search_path` or on the Python import path (the message lists where it looked), importing it raised an error (quoted, and chained to the `CompileError`), or the module has no such class.",
)
E217: Final = Code(
    "E217",
    "invalid arithmetic",
    "Arithmetic in a value that has no value: a division by zero, a result too large (a whole number of 2**63 or more, a float past 1.8e308), or an operand that is not a number (a tensor, a list, an enum name).",
)
E301: Final = Code(
    "E301",
    "axis out of range",
    "`dim` names an axis the tensor does not have (axes count from 0, without the batch).",
)
E302: Final = Code(
    "E302", "cannot split", "A coupling needs at least 2 entries along `dim`, and `split` between 1 and n − 1."
)
E303: Final = Code("E303", "invalid dimension", "Each dimension of a declared shape is a whole number ≥ 1.")
E304: Final = Code(
    "E304",
    "wrong number of axes",
    "The op works on tensors of another rank: `linear` and `affine_autoregressive` on vectors `[D]`, `squeeze2d` on `[C, H, W]`, `max_pool` on `[C, L]` or `[C, H, W]`, `sort` on `[N]` or `[F, N]`.",
)
E305: Final = Code(
    "E305",
    "size not divisible",
    "`squeeze2d`, `unsqueeze2d` and `max_pool` need the sizes they divide to be multiples of `factor` (or `kernel`); a division in a value where a whole number is required (a size, a width, a count) must be exact.",
)
E306: Final = Code(
    "E306", "invalid axis permutation", "`transpose(dims=...)` must list every axis of the tensor exactly once."
)
E307: Final = Code("E307", "reshape changes the size", "`reshape(shape=...)` must keep the number of entries.")
E308: Final = Code("E308", "concat sizes disagree", "Tensors joined by `concat` must agree on every axis but `dim`.")
E309: Final = Code(
    "E309",
    "net cannot connect these shapes",
    "A convolutional net or transformer keeps the spatial (or set) size, but the op needs another: couple along the channels, or use `mlp`; `affine_autoregressive` needs `made`, and `made` serves only it.",
)
E310: Final = Code(
    "E310",
    "used model does not fit",
    "A model used as a distribution must have one input of the tensor's shape, at most one context, and read a context of the shape its user gives.",
)
E311: Final = Code(
    "E311",
    "context at another resolution",
    "A convolutional net or transformer reads a context with axes of its own only at its input's spatial (or set) size; declare the context at that size, or flat (`[F]`) to broadcast it to every position.",
)
E312: Final = Code(
    "E312",
    "list does not fit the shape",
    "`shift(by=[...])` and `scale(by=[...])` need one number per entry of the tensor (`per=element`, the default) or per entry of axis 0 (`per=channel`).",
)
E401: Final = Code(
    "E401",
    "tensor never consumed",
    "Every tensor must be consumed exactly once; an unconsumed one would lose its density.",
)
E402: Final = Code(
    "E402", "tensor consumed twice", "A tensor consumed a second time would have its density counted twice."
)
E403: Final = Code(
    "E403",
    "density on discrete data",
    "A continuous distribution on int<K> data is not a likelihood: `dequantize` first.",
)
E404: Final = Code(
    "E404",
    "discrete distribution on continuous data",
    "A categorical or bernoulli distribution on a continuous tensor.",
)
E405: Final = Code(
    "E405",
    "op on a domain it cannot accept",
    "`logit` on real values, `softplus_inv` on real values, `dequantize` on continuous data, a flow on int data, `scale` by a negative number on a non-real tensor.",
)
E406: Final = Code(
    "E406",
    "support narrower than the data",
    "The distribution gives −∞ log-density to valid values of the tensor (`half_normal` on real).",
)
E407: Final = Code(
    "E407",
    "encoder outside its domain",
    "An op's encoder must draw values in the domain the op fills: `dequantize`'s noise in (0, 1) (`standard_uniform`, `logit_normal`).",
)
E408: Final = Code(
    "E408",
    "sampling cannot be ordered",
    "The generative direction has a cycle: an op or distribution reads (with `context=`) a tensor that can only be sampled after it, e.g. `affine_coupling(a, context=a)`. The message names the cycle.",
)
E409: Final = Code(
    "E409",
    "context consumed",
    "A `context` declaration, and what structural ops and `embed` compute from it, is read with `context=NAME`, never given a density or transformed by a density-bearing op (a coupling, a surjection, `dequantize`, ...).",
)
E410: Final = Code(
    "E410",
    "inexact encoder model",
    "A model used as an encoder must be exact and warning-free: a bound on log q would over-estimate the likelihood.",
)
E411: Final = Code(
    "E411",
    "values overflow",
    "An op maps its input's domain past float32's largest value (±3.4e38): `scale` or `shift` by a huge number, `exp` of values above 88. Such values are stored as inf and their log-density is not a number.",
)
E412: Final = Code(
    "E412",
    "context meets the flow",
    "A tensor computed from a context (by structural ops or `embed`) is joined with a flow tensor (`concat`), or a context net (`embed`) is given a flow tensor: values of the context would enter the flow with a density from nothing, or a flow tensor's density would be lost. Read context-side tensors with `context=`.",
)
E501: Final = Code("E501", "file too large", "The file is over the size limit (1,000,000 bytes).")
E502: Final = Code("E502", "too many ops", "The model unrolls to more than 100,000 ops.")
E503: Final = Code(
    "E503", "tensor too large", "A tensor (declared or made by an op) has more than 2**40 entries per example."
)
E504: Final = Code(
    "E504",
    "recursive block or model",
    "A block calls itself (directly or through others), or blocks nest more than 64 deep: blocks are inlined, so they cannot recurse. Likewise a model cannot use itself as a distribution.",
)
E505: Final = Code(
    "E505",
    "nesting too deep",
    "Brackets and braces (`repeat` bodies, lists, calls) nest more than 100 deep, or as deep with the operators of a shape rule or the constants a value names: flatten the model with `repeat`, blocks or constants.",
)
E506: Final = Code(
    "E506",
    "model too large",
    "The model has more than 2**34 (17,179,869,184) parameters in all: usually a dense layer (`linear`, `mlp`, `made`) on a large tensor, or a typo in a width.",
)
E507: Final = Code(
    "E507",
    "value too large",
    "A value expands, through the constants it names, to more than 1,000,000 entries (`const B = [A, A]` doubles `A`).",
)
W401: Final = Code(
    "W401",
    "waste: mass outside the data's domain",
    "A consumer accepts more values than the tensor's domain (a coupling on positive data): the model stays exact or a bound as before, but can generate values outside the domain, so its density integrates to less than 1 over it. Map the tensor onto the reals first.",
)
W402: Final = Code(
    "W402",
    "unused constant",
    "A `const` that nothing reads: often a typo in the name where it was meant to be used.",
)
W403: Final = Code("W403", "unused block or transform", "A `block` or `transform` that no model calls.")
W404: Final = Code(
    "W404",
    "transform module not found",
    "`survae-compile` looked for the module a `transform`'s `impl` names, without importing it, in the model file's folder and on its own Python import path, and found it in neither: `load()` would stop with E216, and a module written with `-o` imports it by name, so it must be importable where that module runs.",
)


def _registry() -> tuple[Code, ...]:
    """Every `Code` constant of this module, in the order of definition; each constant is
    named by its own code (`E405 = Code("E405", ...)`), so a typo in either fails the import."""
    found = tuple(value for value in globals().values() if isinstance(value, Code))
    misnamed = [code for code in found if globals().get(code) is not code]
    if misnamed:
        raise ImportError(f"codes.py: constants not named by their code: {misnamed}")
    return found


CODES: tuple[Code, ...] = _registry()

BY_CODE: dict[str, Code] = {c.code: c for c in CODES}


def diagnostics_page() -> str:
    """docs/diagnostics.md, generated from `CODES`."""
    lines = [
        "# Diagnostics",
        "",
        "Every diagnostic has a stable code. Errors (`E`) stop the compile; warnings (`W`) do not.",
        "Families: `E1xx` syntax, `E2xx` names and arguments, `E3xx` shapes, `E4xx` density",
        "accounting and supports, `E5xx` limits. Lower-bound reasons are not diagnostics: `--check`",
        "lists them under `because:`.",
        "",
        "This page is generated from `compiler/codes.py` and `compiler/explain.py`",
        "(`python -m survae_dsl.compiler.doctools.docs_pages docs`); `survae-compile --explain CODE` prints",
        "the same explanation of one code.",
        "",
        "| code | title | when |",
        "|---|---|---|",
    ]
    lines += [f"| `{c.code}` | {c.heading} | {c.explanation} |" for c in CODES]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(diagnostics_page())
