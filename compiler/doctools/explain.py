"""Long explanations of the diagnostic codes: `survae-compile --explain CODE`.

`codes.py` gives each code a title and one sentence; here each code a user can meet in a model
file gets a few paragraphs on what the rule protects (in the terms of SurVAE Flows: exact
likelihood or lower bound, supports and folds, density accounting), how to fix it, and two
small complete files: `wrong`, which produces the code, and `right`, which compiles without
it. `tests/test_explain.py` compiles every example. Codes that no model text produces (the
command-line and API ones, those about the modules of user transforms, and the file size) are
explained by their line in `codes.py` only.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

from ..core.codes import BY_CODE, Code

WIDTH = 88


@dataclass(frozen=True)
class Explanation:
    code: Code
    text: str  # paragraphs separated by a blank line, wrapped at WIDTH columns
    wrong: str  # a complete .survae file that produces `code`
    right: str  # the same file corrected: it compiles, without `code`


def _text(text: str) -> str:
    """Paragraphs (separated by blank lines), each refilled to WIDTH columns."""
    paragraphs = [" ".join(p.split()) for p in textwrap.dedent(text).strip().split("\n\n")]
    return "\n\n".join(textwrap.fill(p, WIDTH, break_on_hyphens=False) for p in paragraphs)


def _file(text: str) -> str:
    """A model file written indented in this module, without its indentation."""
    return textwrap.dedent(text).strip("\n") + "\n"


def _explanations(**entries: tuple[str, str, str]) -> dict[str, Explanation]:
    """`CODE=(text, wrong, right)` for each code, in order; a keyword that is not a code of
    codes.py fails the import (KeyError)."""
    return {
        BY_CODE[name]: Explanation(BY_CODE[name], _text(t), _file(w), _file(r)) for name, (t, w, r) in entries.items()
    }


# E505's wrong example: a constant nested 101 lists deep, ten brackets per line.
_NESTED_TOO_DEEP = (
    "const DEEP = "
    + "\n".join("[" * 10 for _ in range(10))
    + "\n[1]"
    + "]" * 100
    + "\n\nmodel Flow {\n    input x: real[2]\n    x ~ normal()\n}\n"
)

# E507's wrong example: a list that doubles twenty times, named by `hidden=`.
_DOUBLED_TWENTY_TIMES = (
    "const W0 = 64\n"
    + "".join(f"const W{i + 1} = [W{i}, W{i}]\n" for i in range(20))
    + "\nmodel Flow {\n    input x: real[2]\n    h = affine_coupling(x, net=mlp(hidden=W20))\n    h ~ normal()\n}\n"
)

EXPLANATIONS: dict[str, Explanation] = _explanations(
    # ---------------------------------------------------------------- E1xx: syntax
    E101=(
        """
        The lexer found a character that no token starts with. Most often it is a non-ASCII
        letter in a name (`hé`, a Greek `μ`, a Cyrillic `а` that looks like a Latin `a`), a
        stray symbol, or a string that is not closed on its own line.

        Names are ASCII only, `[A-Za-z_][A-Za-z0-9_]*`, and they are never silently
        normalised. Two names that look the same on screen can be different sequences of
        code points; normalising them would merge tensors the author meant to keep apart, and
        not normalising them would split one tensor in two. Either way the density accounting
        (every tensor consumed exactly once) would be checked on names the reader cannot see.
        Names also become Python identifiers in the generated module, where the same
        question would arise again.

        Fix: rename with ASCII letters, digits and `_`. Prose in any script belongs in the
        model's `doc` string, which may hold any character.
        """,
        """
        model AbsFlow {
            input x: real[2]
            hé = abs(x)
            hé = softplus_inv(hé)
            hé ~ normal()
        }
        """,
        """
        model AbsFlow {
            doc "abs fold, then softplus_inv: é and μ are fine in here"
            input x: real[2]
            h = abs(x)
            h = softplus_inv(h)
            h ~ normal()
        }
        """,
    ),
    E102=(
        """
        The parser expected something else at this point; the message lists what it would
        have accepted there (`)`, `,`, a name, a new line, ...). Common causes: a missing comma
        between a tensor and the first keyword argument, a keyword such as `model` or `input`
        at the start of a statement, `=` where `~` was meant, or two statements on one line
        without a `;` between them.

        A statement ends at a new line, at `;`, or at the `}` that closes its block; inside
        `( )` and `[ ]` new lines are ignored, so a long call can be wrapped freely. The
        parser skips to the next statement to report every broken one in a single run, but
        it never guesses a repair and compiles nothing until they are fixed: a guessed repair
        could change which tensor an op reads, and so the model's density.

        Fix: compare the line with the accepted tokens in the message; the caret points at
        the first token that does not fit.
        """,
        """
        model CouplingFlow {
            input x: real[2]
            h = affine_coupling(x net=mlp(hidden=[64, 64]))
            h = reverse(h)
            h ~ normal()
        }
        """,
        """
        model CouplingFlow {
            input x: real[2]
            h = affine_coupling(x, net=mlp(hidden=[64, 64]))
            h = reverse(h)
            h ~ normal()
        }
        """,
    ),
    E103=(
        """
        The file ended in the middle of a declaration. Almost always a `{` (of a model, a
        block, a `repeat` or a transform) has no matching `}`, or a `(` or `[` was never
        closed.

        The error is reported at the end of the file, because that is where the parser finds
        out, but the missing bracket is usually earlier: look for the last `{` you opened and
        check that each `repeat` body is closed before the statements that follow it. A
        truncated file is never compiled as if it were complete, since a model cut short
        would leave tensors without a consumer and silently lose their density.

        Fix: add the missing closing bracket where the declaration or loop really ends.
        """,
        """
        model CouplingFlow {
            input x: real[2]
            h = x
            repeat 4 {
                h = affine_coupling(h, net=mlp(hidden=[64, 64]))
                h = reverse(h)
            h ~ normal()
        }
        """,
        """
        model CouplingFlow {
            input x: real[2]
            h = x
            repeat 4 {
                h = affine_coupling(h, net=mlp(hidden=[64, 64]))
                h = reverse(h)
            }
            h ~ normal()
        }
        """,
    ),
    E104=(
        """
        A keyword was used as the name of a model, tensor, block, constant or input. The
        keywords are `model input context doc repeat block return const transform impl shape
        domain fold true false`; each starts a declaration or statement, so a name spelt like
        one would make the grammar ambiguous.

        Keyword arguments are a separate matter: an op may take a keyword argument spelt
        like a keyword, such as `shape=` of `reshape`, because it only ever appears before
        `=` inside a call. Names of tensors and declarations cannot.

        Fix: choose another name, for example with a trailing underscore (`shape_`) or a more
        descriptive one (`size`, `cond`, `data`).
        """,
        """
        model PointFlow {
            input shape: real[2]
            h = affine_coupling(shape, net=mlp(hidden=[64]))
            h ~ normal()
        }
        """,
        """
        model PointFlow {
            input points: real[2]
            h = affine_coupling(points, net=mlp(hidden=[64]))
            h ~ normal()
        }
        """,
    ),
    E105=(
        """
        A literal could not be read as written: a number too large for a double (`1e999`),
        or a string with an escape other than `\\"`, `\\\\` and `\\n`.

        Numbers feed the maths of the model. A `shift(by=1e999)` or `scale(by=1e999)` would
        become infinity, and log |det J| = D · log |by| and every log-density downstream would
        be infinite or NaN, so the compiler refuses the literal instead of rounding it.
        Strings appear only in `doc`, which is copied into the generated class's docstring;
        an unknown escape such as `\\t` is refused rather than guessed, so that the text in
        the module is exactly the text of the model file.

        Fix: write a finite number, or use one of the three escapes (or the character
        itself: a tab or any Unicode character may stand in a `doc` string as it is).
        """,
        r"""
        model Points {
            doc "2-D points:\tx and y in metres"
            input x: real[2]
            h = affine_coupling(x, net=mlp(hidden=[64]))
            h ~ normal()
        }
        """,
        r"""
        model Points {
            doc "2-D points:\nx and y in metres"
            input x: real[2]
            h = affine_coupling(x, net=mlp(hidden=[64]))
            h ~ normal()
        }
        """,
    ),
    # ---------------------------------------------------------------- E2xx: names and arguments
    E201=(
        """
        The name of an op, distribution or net is not in the catalogue (docs/catalogue.md);
        the hint suggests the closest one when it looks like a typo.

        The compiler cannot accept an op it does not know, because each op's kind decides the
        likelihood of the whole model. A bijection contributes log |det J| and keeps the model
        exact; an inference surjection (`abs`, `max_pool`, `sort`, `slice`) is exact only if
        the model downstream respects its fold; a generative surjection (`dequantize`,
        `augment`) or a stochastic op (`vae`) makes `log_prob` a lower bound. Without the
        op's kind, shape rule and domains nothing downstream could be checked.

        Fix: correct the spelling, or, for a layer of your own written in PyTorch, declare it
        with `transform name(h): KIND { impl "package.module:Class" ... }` so the checker
        knows its kind, shape and domains.
        """,
        """
        model CouplingFlow {
            input x: real[2]
            h = x
            repeat 4 {
                h = affine_coupler(h, net=mlp(hidden=[64, 64]))
                h = reverse(h)
            }
            h ~ normal()
        }
        """,
        """
        model CouplingFlow {
            input x: real[2]
            h = x
            repeat 4 {
                h = affine_coupling(h, net=mlp(hidden=[64, 64]))
                h = reverse(h)
            }
            h ~ normal()
        }
        """,
    ),
    E202=(
        """
        A tensor is read before it is defined, or never is. Statements run in source order
        in the inference direction, and a name always refers to its most recent binding, so
        a tensor must be an `input`, a declared `context`, or the result of an earlier
        statement. `context=NAME` follows the same rule: it reads a declared context or a
        tensor defined above it.

        The usual causes are a typo, a tensor renamed in one place only, or a context used
        without its `context NAME: TYPE` declaration at the top of the model. The hint
        suggests a defined name when one is close.

        Fix: spell the name as it was bound, declare the context, or move the statement
        that defines the tensor above its first use.
        """,
        """
        model ConditionalFlow {
            context label: real[2]
            input x: real[2]
            h = affine_coupling(x, net=mlp(hidden=[64]), context=lable)
            h ~ normal(context=label, net=mlp(hidden=[32]))
        }
        """,
        """
        model ConditionalFlow {
            context label: real[2]
            input x: real[2]
            h = affine_coupling(x, net=mlp(hidden=[64]), context=label)
            h ~ normal(context=label, net=mlp(hidden=[32]))
        }
        """,
    ),
    E203=(
        """
        The op, distribution, net or block has no keyword argument of this name, or the same
        keyword is given twice. Every call is checked against its schema (the tables of
        docs/catalogue.md, or the keywords a block or transform declares).

        An unknown keyword is an error rather than something to ignore: a misspelt
        `spilt=1` that was silently dropped would train a different model from the one
        written, with nothing to tell you. A keyword given twice leaves the compiler to guess
        which value you meant, so it does not guess.

        Fix: use the keyword the hint suggests, or remove the repeated one.
        """,
        """
        model CouplingFlow {
            input x: real[4]
            h = affine_coupling(x, net=mlp(hidden=[64]), spilt=1)
            h = reverse(h)
            h ~ normal()
        }
        """,
        """
        model CouplingFlow {
            input x: real[4]
            h = affine_coupling(x, net=mlp(hidden=[64]), split=1)
            h = reverse(h)
            h ~ normal()
        }
        """,
    ),
    E204=(
        """
        A required keyword argument is missing. Couplings and `affine_autoregressive` need
        `net=`, the network that computes the scale and shift of the transformed half from
        the conditioning half; `abs(sign=learned)` needs a `net=` that predicts the sign;
        `reshape` needs `shape=`, `transpose` `dims=`, `slice` `keep=`, `vae` its `latent=`,
        `encoder=` and `decoder=`. A used model conditioned on a context needs the use to say
        what that context is: `z ~ Prior(c=TENSOR)`.

        These have no default because any choice would be an architecture or a conditioning
        decision made behind your back. The sizes of a net are inferred; only its family and
        widths are yours to give.

        Fix: add the keyword; the hint shows a typical value.
        """,
        """
        model CouplingFlow {
            input x: real[2]
            h = affine_coupling(x)
            h = reverse(h)
            h ~ normal()
        }
        """,
        """
        model CouplingFlow {
            input x: real[2]
            h = affine_coupling(x, net=mlp(hidden=[64, 64]))
            h = reverse(h)
            h ~ normal()
        }
        """,
    ),
    E205=(
        """
        A keyword's value has the wrong type or is out of range: `net=64` where a net call
        such as `mlp(hidden=[64])` is expected, `hidden=[]` (a net needs at least one hidden
        layer), an enum name that is not one of the choices (`scale=tanh` for `tanh_exp`),
        `split=0`, or `normal(per=channel)` with a `net=`.

        Values are checked at compile time so that the generated module never receives an
        argument it would reject at run time, or, worse, accept with a meaning you did not
        intend. The message names the values the keyword takes.

        Fix: give a value of the listed type or one of the listed names; the hint suggests
        the closest name when it looks like a typo.
        """,
        """
        model CouplingFlow {
            input x: real[2]
            h = affine_coupling(x, net=mlp(hidden=[64]), scale=tanh)
            h = reverse(h)
            h ~ normal()
        }
        """,
        """
        model CouplingFlow {
            input x: real[2]
            h = affine_coupling(x, net=mlp(hidden=[64]), scale=tanh_exp)
            h = reverse(h)
            h ~ normal()
        }
        """,
    ),
    E206=(
        """
        An op is given, or bound to, the wrong number of tensors. `split` gives two parts
        unless `sizes=` says how many; `concat` joins two or more; most ops take one tensor
        and give one; a block takes the tensors its declaration lists and returns as many as
        its `return` names. A distribution takes no tensor at all: in `x ~ normal()` the
        tensor before `~` is the one it models.

        Every tensor must be accounted for exactly once, so the compiler cannot guess around
        a count that does not match: an extra name would be a tensor with no density, and a
        missing one would drop part of the data.

        Fix: bind as many names as the op gives (or pass `sizes=` to `split`), and pass the
        tensors the op or block declares.
        """,
        """
        model Factored {
            input x: real[6]
            a, b, c = split(x)
            a ~ normal()
            b ~ normal()
            c ~ normal()
        }
        """,
        """
        model Factored {
            input x: real[6]
            a, b, c = split(x, sizes=[2, 2, 2])
            a ~ normal()
            b ~ normal()
            c ~ normal()
        }
        """,
    ),
    E207=(
        """
        A type is not valid: an unknown data domain, `int` without its number of classes
        `<K>`, an `interval(a, b)` without a < b, or `ordered` declared by hand.

        The domain says where a tensor's values lie, and so what a likelihood of it means.
        Discrete `int<K>` data has probabilities, not densities; its K is needed by
        `dequantize`, whose contribution −D · log K turns a density on (0, 1)^D into a bound
        on the probability of the integers, and by `categorical`. Continuous domains decide
        which maps and distributions fit (E405, E406) and where a flow wastes mass (W401).
        `ordered` is produced only by `sort`, whose fold the checker tracks; declaring it
        would skip that bookkeeping.

        Fix: write `int<256>[...]` for 8-bit data, one of `real`, `positive`, `unit`,
        `interval(a, b)`, and declare sets as `real` and `sort` them.
        """,
        """
        model Dequantized {
            input x: int[2]
            h = dequantize(x)
            h = logit(h)
            h = affine_coupling(h, net=mlp(hidden=[32, 32]))
            h ~ normal()
        }
        """,
        """
        model Dequantized {
            input x: int<256>[2]
            h = dequantize(x)
            h = logit(h)
            h = affine_coupling(h, net=mlp(hidden=[32, 32]))
            h ~ normal()
        }
        """,
    ),
    E208=(
        """
        Two declarations share a name in one scope: two models, blocks, transforms or
        constants in the file, two inputs or contexts in a model, or a second `doc`. A
        constant defined through itself (`const A = B`, `const B = A`) is reported under the
        same code, as it has no value.

        Declarations are looked up by name: a model used as a prior (`z ~ Prior()`), the
        generated module's `MODELS` dict, `--model NAME` and `log_prob`'s argument names all
        rely on each name meaning one thing. Rebinding a tensor is different and allowed:
        `h = f(h)` binds a new tensor that shadows the old one.

        Fix: rename one of the two declarations, or give the constant a value.
        """,
        """
        model Flow {
            input x: real[2]
            x ~ normal()
        }

        model Flow {
            input x: real[2]
            h = affine_coupling(x, net=mlp(hidden=[64]))
            h ~ normal()
        }
        """,
        """
        model Gaussian {
            input x: real[2]
            x ~ normal()
        }

        model Flow {
            input x: real[2]
            h = affine_coupling(x, net=mlp(hidden=[64]))
            h ~ normal()
        }
        """,
    ),
    E209=(
        """
        A name of the wrong kind stands here: a distribution applied like an op
        (`h = normal(x)`), a net after `~`, an `input` inside `repeat`, a block without its
        `return`, or something other than a tensor as a positional argument.

        Ops and distributions play different parts in the density. An op transforms a
        tensor and contributes its term (log |det J| for a bijection, log p(x | z) for an
        inference surjection, −log q(z | x) for a generative one). A distribution ends a
        tensor's path: `z ~ normal()` adds log p(z). It can also serve an op as its
        `encoder=` or `decoder=`. Inputs are declared once at the top of a model, since
        `log_prob` takes them as its arguments.

        Fix: give the tensor its density with `~`, use the distribution as an encoder or
        decoder, or move the declaration where it belongs.
        """,
        """
        model CouplingFlow {
            input x: real[2]
            h = affine_coupling(x, net=mlp(hidden=[64]))
            z = normal(h)
            z ~ normal()
        }
        """,
        """
        model CouplingFlow {
            input x: real[2]
            h = affine_coupling(x, net=mlp(hidden=[64]))
            h ~ normal()
        }
        """,
    ),
    E210=(
        """
        There is nothing to model: a model declares no `input`, or the file declares no
        model at all (only constants, blocks or transforms).

        A model's `log_prob` is the log-density (or a lower bound on it) of its inputs, and
        the compiler derives `sample` by running the model backwards towards them. Without an
        input there is no data to give a likelihood to and nothing to generate; contexts do
        not count, since the model is conditioned on them and never models them.

        Fix: declare the data the model describes, `input x: TYPE`, and consume it; or add a
        `model Name { ... }` that uses the file's blocks.
        """,
        """
        block step(h) {
            h = affine_coupling(h, net=mlp(hidden=[64]))
            h = reverse(h)
            return h
        }
        """,
        """
        block step(h) {
            h = affine_coupling(h, net=mlp(hidden=[64]))
            h = reverse(h)
            return h
        }

        model Flow {
            input x: real[2]
            h = x
            repeat 4 { h = step(h) }
            h ~ normal()
        }
        """,
    ),
    E211=(
        """
        A `repeat` count must be a whole number of at least 1, written as a literal or a
        constant.

        `repeat N { ... }` is unrolled when the model is compiled: its body is copied N
        times, names carry from one copy to the next, and each copy gets its own layers and
        parameters. The count therefore has to be known and whole: a fraction has no
        meaning, and a count of zero would silently drop the whole body, so the layers you
        read in the file would not be in the model.

        Fix: give a count of 1 or more; to switch the steps off, remove the loop (or comment
        it out) instead of repeating it zero times.
        """,
        """
        const STEPS = 0

        model CouplingFlow {
            input x: real[2]
            h = x
            repeat STEPS {
                h = affine_coupling(h, net=mlp(hidden=[64]))
                h = reverse(h)
            }
            h ~ normal()
        }
        """,
        """
        const STEPS = 4

        model CouplingFlow {
            input x: real[2]
            h = x
            repeat STEPS {
                h = affine_coupling(h, net=mlp(hidden=[64]))
                h = reverse(h)
            }
            h ~ normal()
        }
        """,
    ),
    E214=(
        """
        A distribution with `net=` is conditional: it is p(z | c), its parameters (μ, log σ
        for a normal) coming from net(c). After `~` nothing gives it that c unless the
        statement says which tensor the net reads, so the density would be undefined.

        When the same distribution is an op's `encoder=` or `decoder=`, the op binds the
        context itself (the kept part for `slice`, the data for `dequantize`, the latent for
        a vae's decoder), which is why `net=` alone is right there and not after `~`.
        Reading a tensor with `context=` consumes nothing, so it does not count against the
        rule that each tensor is consumed once.

        Fix: name the tensor the net reads, `z ~ normal(context=c, net=mlp(hidden=[32]))`,
        for example a declared context or the other half of a `split`; or drop `net=` for a
        distribution with its own learned, unconditional parameters.
        """,
        """
        model Factored {
            input x: real[4]
            a, b = split(x)
            a ~ normal()
            b ~ normal(net=mlp(hidden=[32]))
        }
        """,
        """
        model Factored {
            input x: real[4]
            a, b = split(x)
            a ~ normal()
            b ~ normal(context=a, net=mlp(hidden=[32]))
        }
        """,
    ),
    E215=(
        """
        A `transform` declaration (a layer of your own) is malformed: an unknown kind, no
        `impl` or one not of the form "package.module:Class", a shape rule whose right side
        uses a name its input side does not bind, a domain other than real, positive, unit or
        interval(a, b), or an item given twice. So for a `net` declaration, and for `net [..] -> [..]`
        and `parameters` items that name what is not a size of the shape rule or a numeric
        keyword.

        The compiler never runs your layer, so it trusts the declaration for everything it
        checks. The kind decides the likelihood class as for built-ins: bijective and
        inference_surjective keep the model exact (the latter with a `fold` to respect),
        generative_surjective and stochastic make it a lower bound. The shape and domain
        rules feed the shape and support checks downstream, and `impl` is imported by the
        generated module.

        Fix: use one of the four kinds, a dotted import path with a colon before the class
        name, and shape and domain rules in the documented form.
        """,
        """
        transform soft_clip(h, bound=3.0): bijective {
            impl "mylayers/soft_clip.py"
            domain real -> interval(-bound, bound)
        }

        model Clipped {
            input x: real[2]
            h = soft_clip(x)
            h = shift(h, by=3.0)
            h = scale(h, by=0.16666666666666666)
            h = logit(h)
            h = affine_coupling(h, net=mlp(hidden=[64]))
            h ~ normal()
        }
        """,
        """
        transform soft_clip(h, bound=3.0): bijective {
            impl "mylayers:SoftClip"
            domain real -> interval(-bound, bound)
        }

        model Clipped {
            input x: real[2]
            h = soft_clip(x)
            h = shift(h, by=3.0)
            h = scale(h, by=0.16666666666666666)
            h = logit(h)
            h = affine_coupling(h, net=mlp(hidden=[64]))
            h ~ normal()
        }
        """,
    ),
    E217=(
        """
        Arithmetic in a value has no value: it divides by zero, its result is too large (a
        whole number of 2**63 or more, a float past about 1.8e308), or one of its operands is
        not a number: a tensor, a list, an enum name such as `tanh_exp`, or a name that is
        no constant.

        Values may compute numbers (`hidden=[2 * width]`, `by=1/4`), but only when the model
        is compiled: the generated module holds the resulting numbers, never the expression.
        So every operand must be known then: a number, a `const`, or, inside a block, one of
        its keyword parameters. Tensors are transformed by ops, not by arithmetic.

        Fix: divide by a non-zero number, keep sizes within 63 bits, and declare the names
        you compute with as constants.
        """,
        """
        const width = 64
        const groups = 0

        model M {
            input x: real[2]
            h = affine_coupling(x, net=mlp(hidden=[width / groups]))
            h ~ normal()
        }
        """,
        """
        const width = 64
        const groups = 2

        model M {
            input x: real[2]
            h = affine_coupling(x, net=mlp(hidden=[width / groups]))
            h ~ normal()
        }
        """,
    ),
    # ---------------------------------------------------------------- E3xx: shapes
    E301=(
        """
        `dim` names an axis the tensor does not have. Axes count from 0 and exclude the
        batch axis: a vector `real[2]` has only dim=0, a point cloud `real[3, 16]` has
        dim=0 (the 3 features) and dim=1 (the 16 points), an image `real[C, H, W]` has 0, 1
        and 2.

        Off-by-one errors here are common when coming from PyTorch, where axis 0 is the
        batch. The compiler works with per-example shapes because that is what a density is
        over: log_prob gives one number per example.

        Fix: subtract one from a PyTorch axis, or pick the axis from the tensor's shape
        printed in the message.
        """,
        """
        model PointFlow {
            input x: real[3, 16]
            h = reverse(x, dim=2)
            h = affine_coupling(h, net=mlp(hidden=[64]))
            h ~ normal()
        }
        """,
        """
        model PointFlow {
            input x: real[3, 16]
            h = reverse(x, dim=1)
            h = affine_coupling(h, net=mlp(hidden=[64]))
            h ~ normal()
        }
        """,
    ),
    E302=(
        """
        A coupling cannot split its input as asked. It cuts the tensor along `dim` into a
        conditioning part x_a (the first `split` entries) and a transformed part x_b, and
        maps z_b = x_b · scale(net(x_a)) + shift(net(x_a)). Both parts must be non-empty:
        with split = n nothing is transformed, and with split = 0 the net reads nothing, so
        the layer is a fixed affine map with a net that learns nothing. Hence
        1 ≤ split ≤ n − 1, and the axis needs at least two entries.

        For 2-D data the only choice is split=1, and a `reverse` between couplings lets each
        coordinate be transformed in turn.

        Fix: choose `split` between 1 and n − 1, or couple along an axis with at least two
        entries (or reshape the tensor first).
        """,
        """
        model CouplingFlow {
            input x: real[2]
            h = affine_coupling(x, net=mlp(hidden=[64]), split=2)
            h = reverse(h)
            h ~ normal()
        }
        """,
        """
        model CouplingFlow {
            input x: real[2]
            h = affine_coupling(x, net=mlp(hidden=[64]), split=1)
            h = reverse(h)
            h ~ normal()
        }
        """,
    ),
    E303=(
        """
        A dimension of a declared shape is not a whole number of at least 1. Shapes exclude
        the batch axis and every axis must hold something: a tensor with an axis of size 0
        has no entries, so it has no density to model (the empty product), and its nets
        would have no inputs.

        Sizes may be written as literals or constants (`real[D]` with `const D = 2`), and
        the error points at the dimension that is wrong. A size that comes out as 0 is
        often a constant defined to the wrong value.

        Fix: give every axis its real size, at least 1; drop the axis if it should not be
        there.
        """,
        """
        const POINTS = 0

        model PointFlow {
            input x: real[2, POINTS]
            h = affine_coupling(x, net=mlp(hidden=[64]))
            h ~ normal()
        }
        """,
        """
        const POINTS = 8

        model PointFlow {
            input x: real[2, POINTS]
            h = affine_coupling(x, net=mlp(hidden=[64]))
            h ~ normal()
        }
        """,
    ),
    E304=(
        """
        The op works on tensors of another rank. `linear` and `affine_autoregressive` map
        vectors `[D]`; `squeeze2d` and `unsqueeze2d` work on images `[C, H, W]`; `max_pool`
        on `[C, L]` or `[C, H, W]`; `sort` on `[N]` or `[F, N]`.

        The rank decides what the op means: a linear map is a D × D matrix on a vector, a
        squeeze moves 2 × 2 patches of an image into channels. The compiler does not flatten
        or reshape silently, because the layout of the entries matters to every layer that
        follows (which entries a coupling conditions on, which a convolution sees as
        neighbours).

        Fix: change the rank explicitly with `flatten` or `reshape` first. Both are
        permutations of the entries, with log |det J| = 0, so they cost nothing in the
        density and keep the model exact.
        """,
        """
        model ImageFlow {
            input x: real[1, 4, 4]
            h = linear(x)
            h ~ normal()
        }
        """,
        """
        model ImageFlow {
            input x: real[1, 4, 4]
            h = flatten(x)
            h = linear(h)
            h ~ normal()
        }
        """,
    ),
    E305=(
        """
        A size the op divides is not a multiple of its factor. `squeeze2d(factor=f)` turns
        each f × f patch into f² channels, so H and W must be multiples of f;
        `unsqueeze2d` needs the channels to be a multiple of f²; `max_pool(kernel=k)` needs
        the windows to tile the tensor; a user transform whose shape rule divides a size
        needs it to divide. Likewise a division written in a value where a whole number is
        required (a dimension, a width, a `repeat` count): `hidden=[c / 3]` with `c = 4` is
        4/3, not a width.

        Squeezes are bijections only if every entry lands somewhere: an entry left out of
        every patch or window would be dropped, and its density lost. Padding or cropping
        would change the data the model is about, so the compiler leaves that choice to you.

        Fix: choose a factor or kernel that divides the sizes (the hint lists the size), or
        make the sizes multiples first.
        """,
        """
        model ImageFlow {
            input x: real[1, 6, 6]
            h = squeeze2d(x, factor=4)
            h = affine_coupling(h, net=conv(hidden=32))
            h ~ normal()
        }
        """,
        """
        model ImageFlow {
            input x: real[1, 6, 6]
            h = squeeze2d(x, factor=2)
            h = affine_coupling(h, net=conv(hidden=32))
            h ~ normal()
        }
        """,
    ),
    E306=(
        """
        `transpose(dims=...)` must list every axis of the tensor exactly once: axis k of the
        result is axis dims[k] of the input. For a point cloud `[N, 2]` the only other order
        is `dims=[1, 0]`, giving `[2, N]`.

        A transpose is a bijection with log |det J| = 0 only if it is a permutation of the
        axes. Listing an axis twice would copy its entries and drop another axis's, which is
        not invertible: the dropped entries' density would be lost and the copied ones
        counted twice.

        Fix: write a permutation of 0 .. rank − 1.
        """,
        """
        model PointFlow {
            input x: real[16, 2]
            h = transpose(x, dims=[0, 0])
            h = affine_coupling(h, net=mlp(hidden=[64]))
            h ~ normal()
        }
        """,
        """
        model PointFlow {
            input x: real[16, 2]
            h = transpose(x, dims=[1, 0])
            h = affine_coupling(h, net=mlp(hidden=[64]))
            h ~ normal()
        }
        """,
    ),
    E307=(
        """
        `reshape(shape=...)` must keep the number of entries. A reshape reads the entries
        in row-major order into the new shape; it is a bijection with log |det J| = 0 only
        if the two shapes hold as many entries. Fewer would drop entries and lose their
        density; more would invent entries the data never had.

        To change the number of entries on purpose, SurVAE Flows have surjections for it:
        `slice(keep=...)` drops entries and models them with a decoder (still exact), and
        `augment(size=...)` appends noise entries (a lower bound).

        Fix: give a shape with the same product of sizes, or use `slice` or `augment` to
        change the size.
        """,
        """
        model ImageFlow {
            input x: real[32]
            h = reshape(x, shape=[2, 4, 5])
            h = affine_coupling(h, net=conv(hidden=32))
            h ~ normal()
        }
        """,
        """
        model ImageFlow {
            input x: real[32]
            h = reshape(x, shape=[2, 4, 4])
            h = affine_coupling(h, net=conv(hidden=32))
            h ~ normal()
        }
        """,
    ),
    E308=(
        """
        Tensors joined by `concat` must agree on every axis but `dim`: joining `[2, 1]` and
        `[2, 3]` along dim=1 gives `[2, 4]`, but along dim=0 they do not fit.

        `concat` is the inverse of `split`, a bijection with log |det J| = 0 that keeps each
        entry; there is no padding or broadcasting, since either would add entries with no
        density or count some twice.

        Fix: join along the axis on which the sizes differ (usually the one you split
        along), or reshape the parts so the other axes agree.
        """,
        """
        model PointFlow {
            input x: real[2, 4]
            a, b = split(x, dim=1, sizes=[1, 3])
            b = affine_coupling(b, net=mlp(hidden=[32]))
            h = concat(a, b, dim=0)
            h ~ normal()
        }
        """,
        """
        model PointFlow {
            input x: real[2, 4]
            a, b = split(x, dim=1, sizes=[1, 3])
            b = affine_coupling(b, net=mlp(hidden=[32]))
            h = concat(a, b, dim=1)
            h ~ normal()
        }
        """,
    ),
    E309=(
        """
        The net cannot connect the shapes the op gives it. The compiler infers a net's input
        and output sizes from the op: a coupling's net reads x_a and must produce the scale
        and shift of x_b. An `mlp` flattens, so it connects any sizes; `conv`, `resnet` and
        `transformer` keep every axis but the first, so they need x_a and x_b to agree there.
        On images, couple along dim=0 (the channels). Where an op maps between sizes (a
        `vae` encoder to a smaller latent, its decoder back, an `embed` context net),
        `conv(..., stride=s)` makes each spatial size L into ⌈L/s⌉ and `upsample=u` into L·u;
        the checker accepts exactly those sizes and names both when they differ.

        The autoregressive layers (`affine_autoregressive`, `spline_autoregressive`) need
        `made`, and `made` serves only them: the layer's Jacobian is triangular, so
        log |det J| = Σ_d log ∂y_d/∂x_d, only if output d depends on inputs before d alone.
        An unmasked net would break that structure and the log-determinant the layer reports
        would be wrong, making `log_prob` neither exact nor a bound.

        Fix: use `made(...)` for an autoregressive layer; use `mlp`, split along the
        channels, or give `conv` the `stride`/`upsample` that makes the sizes agree.
        """,
        """
        model MAF {
            input x: real[4]
            h = affine_autoregressive(x, net=mlp(hidden=[64]))
            h = reverse(h)
            h ~ normal()
        }
        """,
        """
        model MAF {
            input x: real[4]
            h = affine_autoregressive(x, net=made(hidden=[64]))
            h = reverse(h)
            h ~ normal()
        }
        """,
    ),
    E311=(
        """
        A net that keeps space (`conv`, `resnet` on `[C, ...]`, `transformer`) reads the op's
        context beside its input. A context with axes of its own is concatenated on the
        channels, which needs the same spatial (or set) size as the input; at another size the
        runtime could only flatten it and broadcast each of its values as a channel of its
        own: a `[3, 32, 32]` context read at 16×16 becomes 3,072 channels at every position,
        a first layer a hundred times larger than meant, and no spatial correspondence left.

        Fix: declare the context at the size the net works at (e.g. `[3, 16, 16]` for a net at
        16×16, or `[12, 16, 16]` for a 32×32 image squeezed once), or declare it flat (`[F]`)
        when every value is meant to reach every position, as for a label embedding.
        """,
        """
        model CondFlow {
            context c: real[3, 32, 32]
            input x: real[6, 16, 16]
            h = affine_coupling(x, net=conv(hidden=64), context=c)
            h ~ normal()
        }
        """,
        """
        model CondFlow {
            context c: real[3, 16, 16]
            input x: real[6, 16, 16]
            h = affine_coupling(x, net=conv(hidden=64), context=c)
            h ~ normal()
        }
        """,
    ),
    E312=(
        """
        `shift` and `scale` take one number for every entry (`by=0.5`) or a list of numbers.
        A list gives one number per entry of the tensor, in row-major order (`per=element`,
        the default), or one per entry of axis 0, shared along the other axes
        (`per=channel`, as `actnorm` and `normal(per=channel)` share theirs). Its length must
        be the number of entries it describes: a list that is too short or too long would
        leave entries without a number or numbers without an entry.

        Fix: give as many numbers as the tensor has entries, or as axis 0 has with
        `per=channel`.
        """,
        """
        model Scaled {
            input x: real[3, 4]
            h = scale(x, by=[0.5, 2])
            h ~ normal()
        }
        """,
        """
        model Scaled {
            input x: real[3, 4]
            h = scale(x, by=[0.5, 2, -1], per=channel)
            h ~ normal()
        }
        """,
    ),
    E310=(
        """
        A model used as a distribution (`z ~ Prior()`, `encoder=Noise`, `decoder=Decoder`)
        does not fit where it is used. It must have exactly one input, of the shape of the
        tensor it models, at most one context, and that context must have the shape of what
        the user binds to it (`z ~ Prior(c=h)`, or the data for a `dequantize` encoder).

        A used model stands in for a density p(z): its `log_prob` is added for the tensor it
        is given, and its `sample` draws that tensor in the generative direction. Both only
        make sense if it is a density over tensors of exactly that shape.

        Fix: declare the used model's input with the shape of the tensor, or give it the
        tensor it was written for.
        """,
        """
        model Prior {
            input z: real[4]
            z = affine_coupling(z, net=mlp(hidden=[32]))
            z ~ normal()
        }

        model Flow {
            input x: real[2]
            h = affine_coupling(x, net=mlp(hidden=[64]))
            h ~ Prior()
        }
        """,
        """
        model Prior {
            input z: real[2]
            z = affine_coupling(z, net=mlp(hidden=[32]))
            z ~ normal()
        }

        model Flow {
            input x: real[2]
            h = affine_coupling(x, net=mlp(hidden=[64]))
            h ~ Prior()
        }
        """,
    ),
    # ---------------------------------------------------------------- E4xx: densities and supports
    E401=(
        """
        A tensor is never consumed: no op transforms it and no `~` gives it a density.

        A model's log-likelihood is the sum of every op's contribution along the way plus
        the log-density of every latent at the end: log p(x) = Σ log |det J| (and the
        surjections' terms) + Σ log p(z_i). A tensor left without a consumer would drop its
        log p(z_i) term. The result is then no density of the data at all: integrated over
        the forgotten entries it is infinite. Linear density accounting, every tensor
        consumed exactly once, rules that out.

        Fix: give each part a distribution, or pass it on to an op. To drop part of a tensor
        deliberately, use `slice(keep=...)`, which models the dropped part with its decoder
        and stays exact.
        """,
        """
        model Factored {
            input x: real[4]
            a, b = split(x)
            a = affine_coupling(a, net=mlp(hidden=[32]), context=b)
            a ~ normal()
        }
        """,
        """
        model Factored {
            input x: real[4]
            a, b = split(x)
            a = affine_coupling(a, net=mlp(hidden=[32]), context=b)
            a ~ normal()
            b ~ normal()
        }
        """,
    ),
    E402=(
        """
        A tensor is consumed a second time: by two ops, or by an op and a `~`. The error
        points at the second use.

        Its density would be counted twice. In log p(x) each entry of the data must reach
        exactly one latent, so that the change of variables covers it once; a tensor fed to
        two consumers gives two copies, whose terms would both be added, and in the
        generative direction two ops would each claim to produce it. Density accounting is
        linear: every tensor consumed exactly once.

        Fix: transform the tensor and rebind the name (`h = f(h)`) instead of using the old
        one again. To let a layer see a tensor without consuming it, read it with
        `context=`: reading consumes nothing.
        """,
        """
        model Factored {
            input x: real[4]
            a, b = split(x)
            a = affine_coupling(a, net=mlp(hidden=[32]))
            b = affine_coupling(b, net=mlp(hidden=[32]))
            b ~ normal(context=a, net=mlp(hidden=[32]))
            a ~ normal()
            b ~ normal()
        }
        """,
        """
        model Factored {
            input x: real[4]
            a, b = split(x)
            a = affine_coupling(a, net=mlp(hidden=[32]))
            b = affine_coupling(b, net=mlp(hidden=[32]))
            b ~ normal(context=a, net=mlp(hidden=[32]))
            a ~ normal()
        }
        """,
    ),
    E403=(
        """
        A continuous density is put on discrete `int<K>` data. A density evaluated at
        integer points is not a probability: it is not bounded by 1, and maximising it lets
        the model collapse onto the integers with ever narrower peaks, reporting an
        unbounded "likelihood" that means nothing.

        Dequantize first. `dequantize(x)` adds noise u in (0, 1) and divides by K, so
        z = (x + u) / K lies in the unit cube; its contribution −D · log K − log q(u | x)
        makes `log_prob` a lower bound on log P(x), the ELBO of the discrete likelihood,
        which is tight when q is good. Then `logit` maps (0, 1) onto the reals, so a flow and
        a normal fit without wasting mass. Alternatively model the integers directly with
        `categorical()` (or `bernoulli()` for int<2>).

        Fix: `h = dequantize(x)` and `h = logit(h)` before the flow.
        """,
        """
        model Pixels {
            input x: int<256>[2]
            x ~ normal()
        }
        """,
        """
        model Pixels {
            input x: int<256>[2]
            h = dequantize(x)
            h = logit(h)
            h = affine_coupling(h, net=mlp(hidden=[32]))
            h ~ normal()
        }
        """,
    ),
    E404=(
        """
        A discrete distribution (`categorical` or `bernoulli`) is put on a continuous
        tensor. These give probabilities to the integers 0 .. K − 1; a real value has no
        probability under them, and a sum of log-probabilities cannot be mixed with the
        log-densities of the rest of the model into one likelihood.

        A continuous tensor needs a density whose support covers its domain: `normal()` or
        `standard_normal()` on real values, `half_normal()` or `truncated_normal()` on
        positive ones, `logit_normal()` or `standard_uniform()` on (0, 1).

        Fix: use a density that fits the tensor's domain; keep `categorical` and `bernoulli`
        for `int<K>` data (or a vae's decoder of it).
        """,
        """
        model Flow {
            input x: real[2]
            h = affine_coupling(x, net=mlp(hidden=[64]))
            h ~ categorical()
        }
        """,
        """
        model Flow {
            input x: real[2]
            h = affine_coupling(x, net=mlp(hidden=[64]))
            h ~ normal()
        }
        """,
    ),
    E405=(
        """
        An op is given a tensor whose domain it cannot accept: `logit` on values that are
        not in (0, 1), `log` or `softplus_inv` on values that are not positive,
        `dequantize` on continuous data, a learned flow on `int<K>` data, `scale` by a
        negative number on a tensor that is not real, `sorted_to_real` on values not in the
        order `sort` left them (unsorted, another key row, reversed, or joined runs).

        Fixed elementwise maps are bijections between domains: `logit` maps (0, 1) onto the
        reals, `softplus_inv` and `log` map (0, ∞) onto them. Outside their domain they are
        undefined (the runtime gives nan there), so log |det J| would be wrong and the inverse
        would not give the data back. A flow on integers has no Jacobian at all: a bijection of a
        discrete set has no density to change.

        Fix: declare the data with the domain it really has (`unit` for proportions), map the
        tensor onto the op's domain first (`sigmoid` for real → (0, 1), `dequantize` for int
        data), or drop the map if the tensor is already in the domain the next layer needs.
        A `context` is only ever read, with `context=c` (E409).
        """,
        """
        model Shares {
            doc "two proportions in (0, 1)"
            input x: real[2]
            h = logit(x)
            h = affine_coupling(h, net=mlp(hidden=[64]))
            h ~ normal()
        }
        """,
        """
        model Shares {
            doc "two proportions in (0, 1)"
            input x: unit[2]
            h = logit(x)
            h = affine_coupling(h, net=mlp(hidden=[64]))
            h ~ normal()
        }
        """,
    ),
    E406=(
        """
        The distribution's support is narrower than the tensor's domain: it gives
        log-density −∞ to values the tensor can take, such as `half_normal` (support
        (0, ∞)) on real values, or `bernoulli` (int<2>) on counts of int<5>.

        A likelihood must be finite on every value the data can hold. A single negative
        value under a half-normal makes log_prob −∞ and the training loss NaN; and a model
        that happens to see no such value in training still claims they are impossible.

        Fix: map the tensor onto the distribution's support first, or choose a distribution
        whose support covers the domain. For data symmetric about zero, `abs` folds it onto
        (0, ∞) exactly, and `half_normal` on the folded values respects the fold; for
        general real data, use `normal()`.
        """,
        """
        model Symmetric {
            input x: real[2]
            h = affine_coupling(x, net=mlp(hidden=[64]))
            h ~ half_normal()
        }
        """,
        """
        model Symmetric {
            input x: real[2]
            h = affine_coupling(x, net=mlp(hidden=[64]))
            h = abs(h)
            h ~ half_normal()
        }
        """,
    ),
    E407=(
        """
        An op's encoder draws values outside the domain the op fills. For `dequantize`, the
        noise u must lie in (0, 1): z = (x + u) / K then stays inside x's cell, and the
        generative direction x = ⌊K · z⌋ gives x back. The bound
        log P(x) ≥ E_q[log p(z) − log q(u | x)] − D · log K holds only if every draw of u
        decodes to the same x.

        A `normal` encoder draws u outside (0, 1) with positive probability: those draws
        land in a neighbouring cell, the likelihood would credit x with density that belongs
        to other integers, and `log_prob` would no longer be a lower bound.

        Fix: use an encoder on (0, 1), `logit_normal(net=mlp(...))` (variational
        dequantization) or `standard_uniform()`, or an encoder model whose input is declared
        `unit[...]`.
        """,
        """
        model Pixels {
            input x: int<256>[2]
            h = dequantize(x, encoder=normal(net=mlp(hidden=[32])))
            h = logit(h)
            h = affine_coupling(h, net=mlp(hidden=[32]))
            h ~ normal()
        }
        """,
        """
        model Pixels {
            input x: int<256>[2]
            h = dequantize(x, encoder=logit_normal(net=mlp(hidden=[32])))
            h = logit(h)
            h = affine_coupling(h, net=mlp(hidden=[32]))
            h ~ normal()
        }
        """,
    ),
    E408=(
        """
        The generative direction has a cycle, so the model cannot be sampled. The file is
        written in the inference direction; the compiler derives `sample` by running each op
        backwards and drawing each `~`. An op's inverse needs its outputs and the tensor it
        reads with `context=`; a `~` needs its context. If what a reader needs can only be
        sampled after the reader has run, there is no order that works.

        `c = affine_coupling(a, context=a)` is the smallest case: to invert it you need a,
        which is what the inverse produces. The example below is a longer one: the prior of
        `a` reads `b`, which only the coupling's inverse can give, and that inverse needs
        `a`. The message names every step of the cycle.

        Fix: read with `context=` a tensor that is available before the reader runs
        backwards: a declared context, or a part the flow does not transform, such as the
        other half of a `split`.
        """,
        """
        model Factored {
            input x: real[4]
            a, b = split(x)
            h = affine_coupling(b, net=mlp(hidden=[32]), context=a)
            a ~ normal(context=b, net=mlp(hidden=[32]))
            h ~ normal()
        }
        """,
        """
        model Factored {
            input x: real[4]
            a, b = split(x)
            h = affine_coupling(b, net=mlp(hidden=[32]), context=a)
            a ~ normal(context=h, net=mlp(hidden=[32]))
            h ~ normal()
        }
        """,
    ),
    E409=(
        """
        A `context` is transformed or given a density. A context declares data the model is
        conditioned on: the model is p(x | c), and c is given at both `log_prob` and
        `sample` time. It is read with `context=c` by couplings and conditional
        distributions, never modelled.

        Giving c a density would silently turn p(x | c) into the joint p(x, c), a different
        model with a different log-likelihood; transforming it would make it part of the
        density accounting, which it is not. Reading consumes nothing, so any number of
        layers may read the same context.

        A context may be mapped before it is read — by structural ops (`squeeze2d`,
        `reshape`, `flatten`, `split`, `transpose`, `concat` of contexts, ...) and by the
        context net `embed` — and the same rule holds for what they make: such a tensor is
        computed from the context, so a coupling, a surjection or a `~` on it is E409 too.

        Fix: read it with `context=c`; if you do mean to model it, declare it with `input`.
        """,
        """
        model ConditionalFlow {
            context c: real[2]
            input x: real[2]
            h = affine_coupling(x, net=mlp(hidden=[64]), context=c)
            c ~ normal()
            h ~ normal()
        }
        """,
        """
        model ConditionalFlow {
            context c: real[2]
            input x: real[2]
            h = affine_coupling(x, net=mlp(hidden=[64]), context=c)
            h ~ normal(context=c, net=mlp(hidden=[32]))
        }
        """,
    ),
    E411=(
        """
        An op maps the values of its input past the largest float32 (about 3.4e38), the
        type models compute in by default. The checker follows each tensor's domain through
        the model: `scale(by=1e30)` on values in (0, 1e10) gives (0, 1e40), and `exp` of
        values up to 100 gives values up to e^100 ≈ 2.7e43. Stored in float32 such values are
        inf; `log_prob` of them is inf or nan, and a single one makes a training loss nan.

        The same holds when the bounds themselves overflow: `scale(by=1e308)` twice maps
        (0, 1) onto (0, inf) in any precision.

        Fix: keep the values in range. Scale or shift by less; bring large data down with
        `scale` first (and put the constant back in your reading of the likelihood); take
        `exp` only of values below about 88.
        """,
        """
        model Big {
            input x: unit[2]
            h = scale(x, by=1e40)
            h ~ half_normal()
        }
        """,
        """
        model Big {
            input x: unit[2]
            h = logit(x)
            h ~ normal()
        }
        """,
    ),
    E412=(
        """
        A tensor computed from a context meets the flow. Structural ops and the context net
        `embed` may map a context (`f = embed(c, ...)`, `c2 = squeeze2d(c)`); what they make
        is deterministic given the context, read with `context=` and never modelled. Joining
        it to a flow tensor (`concat(h, f)`) would put values of the context into the flow:
        the layers after it would give them a density that nothing in the model pays for, and
        `log_prob` would no longer be log p(x | c). The other way round, a context net on a
        flow tensor (`embed(h, ...)`) would consume `h` in a map that gives it no density, so
        its density would be lost.

        Fix: read context-side tensors with `context=f` (a coupling or a conditional
        distribution); apply `embed` to contexts only. Data that should be modelled is an
        `input`.
        """,
        """
        model LabelFlow {
            context y: int<10>[1]
            input x: real[2]
            e = embed(y, net=mlp(hidden=[16]), shape=[2])
            h = concat(x, e)
            h ~ normal()
        }
        """,
        """
        model LabelFlow {
            context y: int<10>[1]
            input x: real[2]
            e = embed(y, net=mlp(hidden=[16]), shape=[2])
            h = affine_coupling(x, net=mlp(hidden=[16]), context=e)
            h ~ normal(context=e, net=mlp(hidden=[16]))
        }
        """,
    ),
    E410=(
        """
        A model used as an encoder is not exact, or it has warnings. In a variational
        `dequantize`, log P(x) ≥ E_q[log p(z) − log q(u | x)] − D · log K, and the term
        −log q(u | x) must be the encoder's exact log-density. If the encoder's `log_prob` is
        itself a lower bound L ≤ log q, then −L ≥ −log q: the objective can exceed log P(x),
        and the model would report a likelihood higher than the truth.

        The same goes for warnings: an encoder that wastes mass outside (0, 1) (W401) has a
        density that integrates to less than 1 there, which is another over-estimate.

        Fix: make the encoder model exact and warning-free: no `dequantize`, `augment`,
        `vae` or leaking fold inside it, and map its unit input onto the reals with `logit`
        before any flow. `survae-compile --check` lists why a model is a bound.
        """,
        """
        model Noise {
            context x: int<256>[2]
            input u: unit[2]
            h = logit(u)
            h = augment(h, size=2)
            h = affine_coupling(h, net=mlp(hidden=[32]), context=x)
            h ~ normal(context=x, net=mlp(hidden=[32]))
        }

        model Pixels {
            input x: int<256>[2]
            h = dequantize(x, encoder=Noise)
            h = logit(h)
            h = affine_coupling(h, net=mlp(hidden=[32]))
            h ~ normal()
        }
        """,
        """
        model Noise {
            context x: int<256>[2]
            input u: unit[2]
            h = logit(u)
            h = affine_coupling(h, net=mlp(hidden=[32]), context=x)
            h ~ normal(context=x, net=mlp(hidden=[32]))
        }

        model Pixels {
            input x: int<256>[2]
            h = dequantize(x, encoder=Noise)
            h = logit(h)
            h = affine_coupling(h, net=mlp(hidden=[32]))
            h ~ normal()
        }
        """,
    ),
    # ---------------------------------------------------------------- E5xx: limits
    E502=(
        """
        The model unrolls to more than 100,000 ops. `repeat` and block calls are expanded
        when the model is compiled, so nested loops multiply: `repeat 1000 { repeat 101 {
        ... } }` is 101,000 copies of the body, each with its own layers and parameters.

        The count is computed before anything is unrolled, so an accidental extra zero fails
        fast instead of exhausting memory while the compiler, and then PyTorch, build a
        module of that size. Real flows stay far below the limit: a Glow of a few scales has
        tens to hundreds of layers. The error points at the innermost `repeat` or block call
        that goes past the limit on its own or, if only their sum does, at the largest one.

        Fix: lower the `repeat` counts (often a typo), or share more structure in fewer,
        wider layers.
        """,
        """
        const STEPS = 100000

        model CouplingFlow {
            input x: real[2]
            h = x
            repeat STEPS {
                h = affine_coupling(h, net=mlp(hidden=[64]))
                h = reverse(h)
            }
            h ~ normal()
        }
        """,
        """
        const STEPS = 10

        model CouplingFlow {
            input x: real[2]
            h = x
            repeat STEPS {
                h = affine_coupling(h, net=mlp(hidden=[64]))
                h = reverse(h)
            }
            h ~ normal()
        }
        """,
    ),
    E503=(
        """
        A tensor has more than 2**40 entries per example: a declared `input` or `context`,
        or a tensor an op makes (`augment`'s `size=`, `vae`'s `shape=`, a `concat` of large
        tensors). Shapes exclude the batch axis, so this is the size of a single data point:
        at four bytes an entry, one example would take four terabytes, and no module built
        from it could run.

        The limit is there to stop a typo in a shape (an extra digit, a size in bytes where
        a size in entries was meant) from reaching the nets and distributions sized from
        it. For an op, the diagnostic points at the call, and the tensors after it are not
        checked further.

        Fix: check the declared shape or the op's sizes; it is usually a typo. A 3-channel
        1024 × 1024 image is `real[3, 1024, 1024]`, about three million entries.
        """,
        """
        model ImageFlow {
            input x: real[3, 1048576, 1048576]
            h = affine_coupling(x, net=conv(hidden=32))
            h ~ normal()
        }
        """,
        """
        model ImageFlow {
            input x: real[3, 1024, 1024]
            h = affine_coupling(x, net=conv(hidden=32))
            h ~ normal()
        }
        """,
    ),
    E504=(
        """
        A block calls itself, directly or through other blocks, or blocks nest more than 64
        deep; or a model uses itself as a distribution, directly or through others.

        Blocks are inlined at compile time: each call is replaced by the block's body, so a
        recursive block would unroll forever. A model used as its own prior would define its
        density in terms of itself, with no base distribution at the bottom. The message
        names the chain of calls or uses.

        Fix: use `repeat N { h = step(h) }` for a fixed number of steps, and give a model a
        prior that is a different model or a distribution.
        """,
        """
        block steps(h) {
            h = affine_coupling(h, net=mlp(hidden=[64]))
            h = reverse(h)
            h = steps(h)
            return h
        }

        model CouplingFlow {
            input x: real[2]
            h = steps(x)
            h ~ normal()
        }
        """,
        """
        block step(h) {
            h = affine_coupling(h, net=mlp(hidden=[64]))
            h = reverse(h)
            return h
        }

        model CouplingFlow {
            input x: real[2]
            h = x
            repeat 4 { h = step(h) }
            h ~ normal()
        }
        """,
    ),
    E505=(
        """
        Brackets and braces nest more than 100 deep: lists inside lists, calls inside calls,
        `repeat` bodies inside `repeat` bodies. The operators of a transform's shape rule
        (`n + n + ...`) count as levels too, and so do the constants a value names when
        each is defined through the next.

        The compiler checks this before parsing (and while resolving constants), because
        each level costs it a level of recursion, and thousands of levels would exhaust
        Python's stack: the limit turns a crash into a diagnostic. No real architecture
        needs more than a few levels.

        Fix: write a chain of steps with `repeat N { ... }` or a `block`, and give a deep
        value a name with `const` instead of nesting it.
        """,
        _NESTED_TOO_DEEP,
        """
        const WIDTHS = [64, 64]

        model Flow {
            input x: real[2]
            h = affine_coupling(x, net=mlp(hidden=WIDTHS))
            h ~ normal()
        }
        """,
    ),
    E506=(
        """
        The model has more than 2**34 (about 17 billion) learned parameters in all, counted
        as `--check` counts them. At four bytes each they would take 64 GiB, and training
        with Adam needs four times that: the module's constructor would exhaust memory
        before anything runs. The diagnostic points at the layer with the most parameters.

        It is nearly always a dense map on a large tensor: `linear` on n entries has n²
        parameters, so a flattened image of a few million entries needs trillions. A
        net's `hidden` widths multiply the same way, and `normal()` learns two numbers for
        every entry of its tensor.

        Fix: keep images as images and mix channels with `conv1x1`, couple along the
        channels with `conv` nets, use smaller `hidden` widths, or give a large tensor
        `standard_normal()`.
        """,
        """
        model Images {
            input x: real[3, 1024, 1024]
            h = flatten(x)
            h = linear(h)
            h ~ normal()
        }
        """,
        """
        model Images {
            input x: real[3, 1024, 1024]
            h = conv1x1(x)
            h ~ normal()
        }
        """,
    ),
    E507=(
        """
        A value expands to more than 1,000,000 entries through the constants it names. A
        constant is substituted wherever it is named, so a list that names one constant
        twice holds its whole value twice: `const B = [A, A]` doubles `A`, and twenty such
        lines make a million entries from a file of a few hundred bytes.

        The compiler counts entries while it resolves constants, and stops at the first
        value over the limit, so such a file is an error instead of a compile that runs
        out of memory. A file under the size limit cannot spell out a longer list, and no
        keyword of the catalogue needs one.

        Fix: name each constant once in a value; a list of widths such as `hidden` is
        usually a few numbers.
        """,
        _DOUBLED_TWENTY_TIMES,
        """
        const WIDTH = 64
        const WIDTHS = [WIDTH, WIDTH]

        model Flow {
            input x: real[2]
            h = affine_coupling(x, net=mlp(hidden=WIDTHS))
            h ~ normal()
        }
        """,
    ),
    # ---------------------------------------------------------------- warnings
    W401=(
        """
        A consumer accepts more values than the tensor's domain: a coupling on `positive`
        data, or a flow straight on dequantized values in (0, 1) without `logit`. The model
        stays exact (or a bound) as before, but in the generative direction the coupling can
        produce any real value, so the model puts some of its mass outside the data's
        domain. Its density then integrates to less than 1 over the values the data can
        take, and every log-likelihood is lower than that of the same model confined to the
        domain: capacity is spent on values that never occur.

        Fix: map the tensor onto the reals first with a bijection between the domain and
        the reals: `log` or `softplus_inv` for positive values, `logit` for (0, 1), `scale`
        and `shift` onto (0, 1) then `logit` for `interval(a, b)`. Maps that reach only part
        of the reals waste too: `scale(by=0.1)`, `shift(by=0.5)`, `logit` take
        `interval(-4, 4)` onto (−2.2, 2.2); the hint gives the exact numbers
        (`scale(by=0.125)`). The warning is given once, where the waste begins; `augment`
        passes its input through, so it falls on what models those entries next.
        """,
        """
        model Durations {
            input x: positive[2]
            h = affine_coupling(x, net=mlp(hidden=[64]))
            h = reverse(h)
            h ~ normal()
        }
        """,
        """
        model Durations {
            input x: positive[2]
            h = log(x)
            h = affine_coupling(h, net=mlp(hidden=[64]))
            h = reverse(h)
            h ~ normal()
        }
        """,
    ),
    W402=(
        """
        A `const` is declared but nothing reads it. The model compiles as written, but the
        constant has no effect, which is rarely what its author meant: usually the name is
        misspelt in the declaration, or a literal was left where the constant should be
        used, so changing the constant silently changes nothing.

        Constants are substituted when the model is compiled (`hidden=HIDDEN`,
        `repeat STEPS { ... }`, `input x: real[D]`), so an unused one leaves no trace in
        the generated module or its parameters. Its density and likelihood class are those
        of the model without it; only the experiment you thought you ran differs.

        Fix: use the constant where it was meant to be used, or delete the line.
        """,
        """
        const HIDDEN = [64, 64]
        const STEPS = 4

        model CouplingFlow {
            input x: real[2]
            h = x
            repeat 8 {
                h = affine_coupling(h, net=mlp(hidden=HIDDEN))
                h = reverse(h)
            }
            h ~ normal()
        }
        """,
        """
        const HIDDEN = [64, 64]
        const STEPS = 4

        model CouplingFlow {
            input x: real[2]
            h = x
            repeat STEPS {
                h = affine_coupling(h, net=mlp(hidden=HIDDEN))
                h = reverse(h)
            }
            h ~ normal()
        }
        """,
    ),
    W403=(
        """
        A `block` or `transform` is declared but no model calls it. Blocks are inlined where
        they are called and user transforms are instantiated where they are used, so an
        unused one contributes no layer, no parameter and no term of the likelihood. Its body
        is not even checked: names, shapes and domains are checked at each call, with the
        tensors the call gives, so mistakes in an unused block surface only once it is
        called.

        Most often the block was written to be repeated and the model still spells out an
        older version of its body, or calls a built-in of a similar name. The compiled model
        is then not the one the file seems to describe.

        Fix: call the block (`h = step(h)`, also inside `repeat`), or delete it.
        """,
        """
        block step(h) {
            h = actnorm(h)
            h = affine_coupling(h, net=mlp(hidden=[64]))
            h = reverse(h)
            return h
        }

        model CouplingFlow {
            input x: real[2]
            h = x
            repeat 4 {
                h = affine_coupling(h, net=mlp(hidden=[64]))
                h = reverse(h)
            }
            h ~ normal()
        }
        """,
        """
        block step(h) {
            h = actnorm(h)
            h = affine_coupling(h, net=mlp(hidden=[64]))
            h = reverse(h)
            return h
        }

        model CouplingFlow {
            input x: real[2]
            h = x
            repeat 4 { h = step(h) }
            h ~ normal()
        }
        """,
    ),
)

# The codes no small model file can show: the command line and API ones (E212, E213; E216 and
# W404, about the modules of user transforms, which only `load()` imports and only the command
# line looks for) and the file size (E501). `explain` prints their line of codes.py.
WITHOUT_EXAMPLES: frozenset[str] = frozenset(BY_CODE) - frozenset(EXPLANATIONS)


def _indent(text: str) -> str:
    return "\n".join(("    " + line) if line.strip() else "" for line in text.rstrip("\n").split("\n"))


def explain(code: str) -> str:
    """The text of `survae-compile --explain CODE`; KeyError for a code not in codes.py."""
    key = code.strip().upper()
    entry = BY_CODE[key]  # KeyError for an unknown code
    title = f"{entry.code}: {entry.heading}"
    if key not in EXPLANATIONS:
        return f"{title}\n\n{textwrap.fill(entry.explanation, WIDTH, break_on_hyphens=False)}\n"
    e = EXPLANATIONS[key]
    return f"{title}\n\n{e.text}\n\nWrong:\n\n{_indent(e.wrong)}\n\nRight:\n\n{_indent(e.right)}\n"
