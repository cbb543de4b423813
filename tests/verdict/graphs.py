"""Random well-typed `.survae` models, small enough for the oracle (1–4 input dimensions).

A tiny typed grammar: the generator keeps, for every live tensor, its shape, its interval of
values and whether it is (still) sorted, and applies an op only where the catalogue accepts
it — so most drawn models compile — while the table also holds the risky combinations that
the checker must judge (a sorted vector cut and re-joined, abs and exp(abs) joined, sort then
exp then sorted_to_real, a used model that wastes mass as a prior or a gap decoder).

Extending it: one entry per op in `OPS` (a function `(g, t) -> bool` saying where it applies,
and one that writes its statement), one per distribution in `DISTS`. The choices go through
a `Chooser`, so the same generator runs under hypothesis (`hypothesis_chooser(draw)`, which
shrinks) or a seeded `random.Random` (`RandomChooser`, for surveys outside pytest).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, TypeVar

X = TypeVar("X")
INF = math.inf
MAX_DIMS = 4  # continuous input entries of a model
MAX_STEPS = 6  # ops drawn per model (not counting closing ones)
NET = "mlp(hidden=[8])"


class Chooser(Protocol):
    def choice(self, options: Sequence[X]) -> X: ...

    def integer(self, lo: int, hi: int) -> int: ...

    def chance(self, p: float) -> bool: ...


class RandomChooser:
    """Choices from a seeded `random.Random`."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def choice(self, options: Sequence[X]) -> X:
        return options[self.rng.randrange(len(options))]

    def integer(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def chance(self, p: float) -> bool:
        return self.rng.random() < p


def hypothesis_chooser(draw: Callable[[Any], Any]) -> Chooser:
    """Choices drawn by hypothesis: a `random.Random` whose every call is recorded by
    hypothesis (``st.randoms``), so failing models shrink. Its choices are near-uniform, like
    `RandomChooser`'s; drawing each choice with ``st.integers`` instead biases hypothesis
    towards the first option and the smallest models, and finds far fewer risky graphs."""
    from hypothesis import strategies as st

    chooser = RandomChooser(0)
    chooser.rng = draw(st.randoms(use_true_random=False))
    return chooser


# ------------------------------------------------------------------------------------ tensors


@dataclass(frozen=True)
class Tensor:
    """A live tensor of the model being written."""

    name: str
    shape: tuple[int, ...]
    lo: float = -INF
    hi: float = INF
    ordered: tuple[int, int] | None = None  # (dim, key) of the sort whose order it still carries
    classes: int = 0  # K of an int<K> input, 0 for continuous

    @property
    def continuous(self) -> bool:
        return self.classes == 0

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    def type_text(self) -> str:
        """The type as a declaration spells it (`interval(a, b)` where no name fits)."""
        dims = ", ".join(str(d) for d in self.shape)
        if not self.continuous:
            return f"int<{self.classes}>[{dims}]"
        return f"{domain_name(self.lo, self.hi)}[{dims}]"


def domain_name(lo: float, hi: float) -> str:
    named = {(-INF, INF): "real", (0.0, INF): "positive", (0.0, 1.0): "unit"}
    if (lo, hi) in named:
        return named[(lo, hi)]
    return f"interval({_num(lo)}, {_num(hi)})"


def _num(v: float) -> str:
    return "inf" if v == INF else "-inf" if v == -INF else repr(float(v))


def _within(t: Tensor, lo: float, hi: float) -> bool:
    return t.continuous and lo <= t.lo and t.hi <= hi


def _map(fn: Callable[[float], float], t: Tensor) -> tuple[float, float]:
    a, b = fn(t.lo), fn(t.hi)
    return min(a, b), max(a, b)


def _exp(v: float) -> float:
    return math.exp(v) if v < 700 else INF


def _log(v: float) -> float:
    return math.log(v) if v > 0 else -INF


def _sigmoid(v: float) -> float:
    return 1 / (1 + math.exp(-v)) if v > -700 else 0.0


def _logit(v: float) -> float:
    return -INF if v <= 0 else INF if v >= 1 else math.log(v / (1 - v))


def _softplus(v: float) -> float:
    return v if v > 30 else math.log1p(math.exp(v)) if v > -700 else 0.0


def _softplus_inv(v: float) -> float:
    return v if v > 30 else math.log(math.expm1(v)) if v > 0 else -INF


# ------------------------------------------------------------------------------------ generator


@dataclass
class Gen:
    """The model being written: statements, live tensors, and the models it uses."""

    pick: Chooser
    name: str = "M"
    depth: int = 0  # 0 for the model under test, 1 for a model it uses
    lines: list[str] = field(default_factory=list)
    live: list[Tensor] = field(default_factory=list)
    inputs: list[Tensor] = field(default_factory=list)
    context: str | None = None
    reads: list[str] = field(default_factory=list)  # context-side tensors made from it (`embed`, `concat`)
    used: list[str] = field(default_factory=list)  # source text of used models, before this one
    counter: int = 0

    def fresh(self, base: str = "h") -> str:
        self.counter += 1
        return f"{base}{self.counter}"

    def say(self, line: str) -> None:
        self.lines.append(line)

    def take(self, t: Tensor) -> None:
        self.live.remove(t)

    def give(self, t: Tensor) -> Tensor:
        self.live.append(t)
        return t

    def unary(self, t: Tensor, call: str, **changes: Any) -> Tensor:
        """`h = call` consuming t; the result is t with ``changes`` (name is fresh)."""
        self.take(t)
        out = replace(t, name=self.fresh(), **changes)
        self.say(f"{out.name} = {call}")
        return self.give(out)

    def sub_model(self, input_type: str, steps: int, leaky: bool = False) -> str:
        """Write a small model over one input of ``input_type`` (a used model: a prior, a
        decoder); ``leaky`` closes it with a plain normal whatever its domain (W401)."""
        name = f"Sub{len(self.used) + 1}"
        sub = Gen(self.pick, name, depth=self.depth + 1, counter=100 * (len(self.used) + 1))
        shape = tuple(int(d) for d in input_type.split("[")[1].rstrip("]").split(","))
        lo, hi = {"real": (-INF, INF), "positive": (0.0, INF), "unit": (0.0, 1.0)}[input_type.split("[")[0]]
        sub.inputs.append(sub.give(Tensor("v", shape, lo, hi)))
        for _ in range(steps):
            sub.step()
        sub.close(leaky=leaky)
        self.used.extend(sub.used)
        self.used.append(sub.text())
        return name

    def step(self) -> None:
        """Apply one op drawn from those that accept a live tensor."""
        t = self.pick.choice(self.live)
        names = [n for n, op in OPS.items() if op.applies(self, t)]
        if names:
            OPS[self.pick.choice(names)].write(self, t)

    def close(self, leaky: bool = False) -> None:
        """Give every live tensor a distribution (closing sorted ones first, mostly)."""
        for t in list(self.live):
            if t.ordered is not None and not leaky and self.pick.chance(0.7):
                dim, key = t.ordered
                t = self.unary(t, f"sorted_to_real({t.name}, dim={dim}, key={key})", lo=-INF, hi=INF, ordered=None)
            names = [n for n, d in DISTS.items() if d.applies(self, t)]
            if leaky and t.continuous:
                names = ["normal"]
            self.take(t)
            self.say(f"{t.name} ~ {DISTS[self.pick.choice(names)].write(self, t)}")

    def text(self) -> str:
        head = [f"model {self.name} {{"]
        if self.context:
            head.append(f"    context {self.context}: real[1]")
        head += [f"    input {t.name}: {t.type_text()}" for t in self.inputs]
        return "\n".join(head + [f"    {line}" for line in self.lines] + ["}"]) + "\n"


@dataclass(frozen=True)
class Entry:
    """One op or distribution of the generator: where it applies and what it writes.
    ``risky``: a combination of ops written to probe the checker, which may rightly be
    rejected or judged a bound (the others are single ops that should always compile)."""

    applies: Callable[[Gen, Tensor], bool]
    write: Callable[[Gen, Tensor], Any]
    risky: bool = False


OPS: dict[str, Entry] = {}
DISTS: dict[str, Entry] = {}


def op(
    name: str, applies: Callable[[Gen, Tensor], bool], risky: bool = False
) -> Callable[[Callable[[Gen, Tensor], Any]], Any]:
    def register(write: Callable[[Gen, Tensor], Any]) -> Any:
        OPS[name] = Entry(applies, write, risky)
        return write

    return register


def dist(name: str, applies: Callable[[Gen, Tensor], bool]) -> Callable[[Callable[[Gen, Tensor], str]], Any]:
    def register(write: Callable[[Gen, Tensor], str]) -> Any:
        DISTS[name] = Entry(applies, write)
        return write

    return register


def _continuous(_: Gen, t: Tensor) -> bool:
    return t.continuous


# ----------------------------------------------------------------------- elementwise maps


@op("shift", _continuous)
def _shift(g: Gen, t: Tensor) -> None:
    by = g.pick.choice([-2.0, -0.5, 0.5, 1.0])
    g.unary(t, f"shift({t.name}, by={by})", lo=t.lo + by, hi=t.hi + by)


@op("scale", _continuous)
def _scale(g: Gen, t: Tensor) -> None:
    real = t.lo == -INF and t.hi == INF
    by = g.pick.choice([0.25, 0.5, 2.0, -1.0, -2.0] if real else [0.25, 0.5, 2.0])
    lo, hi = sorted((t.lo * by, t.hi * by))
    g.unary(t, f"scale({t.name}, by={by})", lo=lo, hi=hi, ordered=t.ordered if by > 0 else None)


def _numbers(g: Gen, t: Tensor, choices: list[float]) -> tuple[str, list[float], str]:
    """A list `by=[...]` for `t`: (its text, its numbers, the `per=` keyword text); per
    channel (axis 0) on tensors of two axes now and then, else one number per entry."""
    per = len(t.shape) > 1 and g.pick.chance(0.5)
    numbers = [g.pick.choice(choices) for _ in range(t.shape[0] if per else t.numel)]
    return "[" + ", ".join(repr(v) for v in numbers) + "]", numbers, ", per=channel" if per else ""


def _hull(t: Tensor, fn: Callable[[float, float], float], numbers: list[float]) -> tuple[float, float]:
    """The hull of the images of `t`'s interval under `v ↦ fn(v, n)` for each number n."""
    ends = [fn(v, n) for n in numbers for v in (t.lo, t.hi)]
    return min(ends), max(ends)


def _vector_order(t: Tensor, numbers: list[float], per: str, signed: bool) -> tuple[int, int] | None:
    """The order a list map leaves (as the checker judges it): kept where every number is the
    same (and positive, for a `signed` map: `scale`), or per channel on a set whose key row's
    number is (positive)."""
    if t.ordered is None:
        return None
    if len(set(numbers)) == 1 and (numbers[0] > 0 or not signed):
        return t.ordered
    dim, key = t.ordered
    return t.ordered if per and dim != 0 and (numbers[key] > 0 or not signed) else None


@op("shift_list", _continuous)
def _shift_list(g: Gen, t: Tensor) -> None:
    text, numbers, per = _numbers(g, t, [-2.0, -0.5, 0.0, 0.5, 1.0])
    lo, hi = _hull(t, lambda v, n: v + n, numbers)
    g.unary(t, f"shift({t.name}, by={text}{per})", lo=lo, hi=hi, ordered=_vector_order(t, numbers, per, False))


@op("scale_list", _continuous)
def _scale_list(g: Gen, t: Tensor) -> None:
    real = t.lo == -INF and t.hi == INF
    text, numbers, per = _numbers(g, t, [0.25, 0.5, 2.0, -1.0, -2.0] if real else [0.25, 0.5, 2.0])
    lo, hi = _hull(t, lambda v, n: v * n if math.isfinite(v) or n > 0 else -v, numbers)
    g.unary(t, f"scale({t.name}, by={text}{per})", lo=lo, hi=hi, ordered=_vector_order(t, numbers, per, True))


@op("exp", lambda g, t: t.continuous and t.lo < 3)
def _exp_op(g: Gen, t: Tensor) -> None:
    lo, hi = _map(_exp, t)
    g.unary(t, f"exp({t.name})", lo=lo, hi=hi)


@op("log", lambda g, t: t.continuous and t.lo >= 0)
def _log_op(g: Gen, t: Tensor) -> None:
    lo, hi = _map(_log, t)
    g.unary(t, f"log({t.name})", lo=lo, hi=hi)


@op("sigmoid", _continuous)
def _sigmoid_op(g: Gen, t: Tensor) -> None:
    lo, hi = _map(_sigmoid, t)
    g.unary(t, f"sigmoid({t.name})", lo=lo, hi=hi)


@op("logit", lambda g, t: _within(t, 0.0, 1.0))
def _logit_op(g: Gen, t: Tensor) -> None:
    lo, hi = _map(_logit, t)
    g.unary(t, f"logit({t.name})", lo=lo, hi=hi)


@op("softplus", _continuous)
def _softplus_op(g: Gen, t: Tensor) -> None:
    lo, hi = _map(_softplus, t)
    g.unary(t, f"softplus({t.name})", lo=lo, hi=hi)


@op("softplus_inv", lambda g, t: t.continuous and t.lo >= 0)
def _softplus_inv_op(g: Gen, t: Tensor) -> None:
    lo, hi = _map(_softplus_inv, t)
    g.unary(t, f"softplus_inv({t.name})", lo=lo, hi=hi)


@op("abs", _continuous)
def _abs(g: Gen, t: Tensor) -> None:
    lo, hi = (t.lo, t.hi) if t.lo >= 0 else (-t.hi, -t.lo) if t.hi <= 0 else (0.0, max(-t.lo, t.hi))
    g.unary(t, f"abs({t.name})", lo=lo, hi=hi, ordered=None)


# ------------------------------------------------------------------------------- ordering


def _sortable(_: Gen, t: Tensor) -> bool:
    return t.continuous and t.ordered is None and len(t.shape) in (1, 2) and t.shape[-1] >= 2


@op("sort", _sortable)
def _sort(g: Gen, t: Tensor) -> None:
    dim, key = (0, 0) if len(t.shape) == 1 else (1, g.pick.integer(0, t.shape[0] - 1))
    g.unary(t, f"sort({t.name}, dim={dim}, key={key})", ordered=(dim, key))


@op("sorted_to_real", lambda g, t: t.ordered is not None)
def _sorted_to_real(g: Gen, t: Tensor) -> None:
    dim, key = t.ordered  # type: ignore[misc]  # the op applies only where it is set
    if len(t.shape) == 2 and t.shape[0] >= 2 and g.pick.chance(0.2):
        key = (key + 1) % t.shape[0]  # the wrong key: a risky combination
    g.unary(t, f"sorted_to_real({t.name}, dim={dim}, key={key})", lo=-INF, hi=INF, ordered=None)


@op("sort_exp_close", _sortable, risky=True)
def _sort_exp_close(g: Gen, t: Tensor) -> None:
    """sort, an order-preserving map, then sorted_to_real: exact if the map carries the order."""
    _sort(g, t)
    OPS[g.pick.choice(["exp", "softplus", "sigmoid", "shift"])].write(g, g.live[-1])
    _sorted_to_real(g, g.live[-1])


@op("sort_list_close", _sortable, risky=True)
def _sort_list_close(g: Gen, t: Tensor) -> None:
    """sort, a list map, then sorted_to_real: exact only if the map keeps the order (equal
    increasing maps along the sorted axis); otherwise the checker must refuse or bound it."""
    _sort(g, t)
    dim, key = g.live[-1].ordered  # type: ignore[misc]  # set by `sort`
    OPS[g.pick.choice(["shift_list", "scale_list"])].write(g, g.live[-1])
    u = g.live[-1]
    g.unary(u, f"sorted_to_real({u.name}, dim={dim}, key={key})", lo=-INF, hi=INF, ordered=None)


@op("sorted_cut_and_rejoined", lambda g, t: _sortable(g, t) and t.shape[-1] >= 2, risky=True)
def _sorted_cut(g: Gen, t: Tensor) -> None:
    """sort, split along the sorted axis, then re-join (either order) or close each half."""
    _sort(g, t)
    s = g.live[-1]
    a, b = _split_along(g, s, len(s.shape) - 1)
    if g.pick.chance(0.6):
        first, second = (b, a) if g.pick.chance(0.5) else (a, b)
        _concat_pair(g, first, second, len(s.shape) - 1)


# ------------------------------------------------------------------------------ structure


def _split_along(g: Gen, t: Tensor, dim: int, first: int | None = None) -> tuple[Tensor, Tensor]:
    n = t.shape[dim]
    first = first if first is not None else (n + 1) // 2
    g.take(t)
    a_shape = tuple(first if i == dim else d for i, d in enumerate(t.shape))
    b_shape = tuple(n - first if i == dim else d for i, d in enumerate(t.shape))
    a_order, b_order = t.ordered, t.ordered  # cut along the sorted axis: both keep (and leak)
    if t.ordered is not None and t.ordered[0] != dim:  # rows of a set: only the key row's part
        key = t.ordered[1]
        a_order, b_order = ((1, key), None) if key < first else (None, (1, key - first))
    a = replace(t, name=g.fresh(), shape=a_shape, ordered=a_order)
    b = replace(t, name=g.fresh(), shape=b_shape, ordered=b_order)
    sizes = "" if first == (n + 1) // 2 else f", sizes=[{first}, {n - first}]"
    g.say(f"{a.name}, {b.name} = split({t.name}, dim={dim}{sizes})")
    return g.give(a), g.give(b)


def _concat_pair(g: Gen, a: Tensor, b: Tensor, dim: int) -> Tensor:
    g.take(a)
    g.take(b)
    shape = tuple(a.shape[i] + b.shape[i] if i == dim else d for i, d in enumerate(a.shape))
    ordered = a.ordered if a.ordered is not None and a.ordered == b.ordered else None
    out = Tensor(g.fresh(), shape, min(a.lo, b.lo), max(a.hi, b.hi), ordered)
    g.say(f"{out.name} = concat({a.name}, {b.name}, dim={dim})")
    return g.give(out)


def _splittable_dims(t: Tensor) -> list[int]:
    return [i for i, d in enumerate(t.shape) if d >= 2]


@op("split", lambda g, t: t.continuous and bool(_splittable_dims(t)))
def _split(g: Gen, t: Tensor) -> None:
    dim = g.pick.choice(_splittable_dims(t))
    _split_along(g, t, dim, g.pick.integer(1, t.shape[dim] - 1))


def _partners(g: Gen, t: Tensor) -> list[tuple[Tensor, int]]:
    out = []
    for u in g.live:
        if u is t or not u.continuous or len(u.shape) != len(t.shape):
            continue
        for dim in range(len(t.shape)):
            if all(a == b for i, (a, b) in enumerate(zip(t.shape, u.shape, strict=True)) if i != dim):
                out.append((u, dim))
                break
    return out


@op("concat", lambda g, t: t.continuous and bool(_partners(g, t)))
def _concat(g: Gen, t: Tensor) -> None:
    u, dim = g.pick.choice(_partners(g, t))
    first, second = (t, u) if g.pick.chance(0.5) else (u, t)
    _concat_pair(g, first, second, dim)


@op("abs_and_exp_abs_joined", lambda g, t: t.continuous and t.shape[0] >= 2 and len(t.shape) == 1, risky=True)
def _abs_exp_abs(g: Gen, t: Tensor) -> None:
    """split; abs of one half and exp(abs) of the other; joined again (a (1, ∞) fold inside)."""
    a, b = _split_along(g, t, 0)
    _abs(g, a)
    a = g.live[-1]
    _abs(g, b)
    _exp_op(g, g.live[-1])
    b = g.live[-1]
    _concat_pair(g, a, b, 0) if g.pick.chance(0.5) else _concat_pair(g, b, a, 0)


@op("reverse", _continuous)
def _reverse(g: Gen, t: Tensor) -> None:
    dim = g.pick.integer(0, len(t.shape) - 1)
    g.unary(t, f"reverse({t.name}, dim={dim})", ordered=t.ordered if t.ordered and t.ordered[0] != dim else None)


@op("shuffle", lambda g, t: t.continuous and t.shape[0] >= 2)
def _shuffle(g: Gen, t: Tensor) -> None:
    g.unary(t, f"shuffle({t.name}, dim=0, seed={g.pick.integer(0, 3)})", ordered=None)


@op("transpose", lambda g, t: t.continuous and len(t.shape) == 2)
def _transpose(g: Gen, t: Tensor) -> None:
    g.unary(t, f"transpose({t.name}, dims=[1, 0])", shape=(t.shape[1], t.shape[0]), ordered=None)


@op("flatten", lambda g, t: t.continuous and len(t.shape) == 2)
def _flatten(g: Gen, t: Tensor) -> None:
    g.unary(t, f"flatten({t.name})", shape=(t.numel,), ordered=None)


@op("reshape", lambda g, t: t.continuous and len(t.shape) == 1 and t.shape[0] % 2 == 0)
def _reshape(g: Gen, t: Tensor) -> None:
    shape = (2, t.shape[0] // 2)
    g.unary(t, f"reshape({t.name}, shape=[{shape[0]}, {shape[1]}])", shape=shape, ordered=None)


# --------------------------------------------------------------------- learned bijections


def _context(g: Gen) -> str:
    return f", context={_read(g)}" if g.context and g.pick.chance(0.5) else ""


def _read(g: Gen) -> str:
    """The context, or a tensor a context net made from it (drawn only when there is one, so
    models without context nets are drawn as before)."""
    assert g.context is not None
    return g.pick.choice([g.context, *g.reads]) if g.reads else g.context


def _coupling_dims(t: Tensor) -> list[int]:
    return [i for i, d in enumerate(t.shape) if d >= 2]


@op("affine_coupling", lambda g, t: t.continuous and bool(_coupling_dims(t)))
def _affine(g: Gen, t: Tensor) -> None:
    dim = g.pick.choice(_coupling_dims(t))
    scale = g.pick.choice(["tanh_exp", "exp", "softplus", "sigmoid", "sigmoid_ref", "softplus_plain"])
    call = f"affine_coupling({t.name}, net={NET}, dim={dim}, scale={scale}{_context(g)})"
    g.unary(t, call, lo=-INF, hi=INF, ordered=None)


@op("additive_coupling", lambda g, t: t.continuous and bool(_coupling_dims(t)))
def _additive(g: Gen, t: Tensor) -> None:
    dim = g.pick.choice(_coupling_dims(t))
    g.unary(t, f"additive_coupling({t.name}, net={NET}, dim={dim}{_context(g)})", lo=-INF, hi=INF, ordered=None)


@op("spline_coupling", lambda g, t: t.continuous and bool(_coupling_dims(t)))
def _spline(g: Gen, t: Tensor) -> None:
    dim = g.pick.choice(_coupling_dims(t))
    call = f"spline_coupling({t.name}, net={NET}, bins=4, dim={dim}{_context(g)})"
    g.unary(t, call, lo=-INF, hi=INF, ordered=None)


def _checkerboard_fits(_g: Gen, t: Tensor) -> bool:
    return t.continuous and len(t.shape) == 2 and t.shape[1] >= 2


@op("checkerboard_coupling", _checkerboard_fits)
def _checkerboard(g: Gen, t: Tensor) -> None:
    op = g.pick.choice(["affine_coupling", "additive_coupling", "spline_coupling", "logistic_mixture_coupling"])
    extra = {"spline_coupling": ", bins=4", "logistic_mixture_coupling": ", components=2"}.get(op, "")
    call = f"{op}({t.name}, net={NET}, mask=checkerboard, parity={g.pick.integer(0, 1)}{extra}{_context(g)})"
    g.unary(t, call, lo=-INF, hi=INF, ordered=None)


@op("logistic_mixture_coupling", lambda g, t: t.continuous and bool(_coupling_dims(t)))
def _logistic_mixture(g: Gen, t: Tensor) -> None:
    dim = g.pick.choice(_coupling_dims(t))
    call = f"logistic_mixture_coupling({t.name}, net={NET}, components={g.pick.integer(1, 3)}, dim={dim}{_context(g)})"
    g.unary(t, call, lo=-INF, hi=INF, ordered=None)


@op("autoregressive", lambda g, t: t.continuous and len(t.shape) == 1)
def _autoregressive(g: Gen, t: Tensor) -> None:
    direction = g.pick.choice(["forward", "inverse"])
    if g.pick.chance(0.5):
        scale = g.pick.choice(["tanh_exp", "sigmoid", "sigmoid_ref", "softplus_plain"])
        call = f"affine_autoregressive({t.name}, net=made(hidden=[8]), scale={scale}, direction={direction}"
    else:
        call = f"spline_autoregressive({t.name}, net=made(hidden=[8]), bins=4, direction={direction}"
    g.unary(t, f"{call}{_context(g)})", lo=-INF, hi=INF, ordered=None)


@op("actnorm", _continuous)
def _actnorm(g: Gen, t: Tensor) -> None:
    g.unary(t, f"actnorm({t.name})", lo=-INF, hi=INF, ordered=None)


@op("affine", _continuous)
def _affine(g: Gen, t: Tensor) -> None:
    per = g.pick.choice(["", ", per=channel"])
    g.unary(t, f"affine({t.name}{per})", lo=-INF, hi=INF, ordered=None)


@op("batchnorm", _continuous)
def _batchnorm(g: Gen, t: Tensor) -> None:
    """Integrated in evaluation mode (the oracle calls `model.eval()`), where it is exact."""
    affine = g.pick.choice(["", ", affine=false"])
    g.unary(t, f"batchnorm({t.name}{affine})", lo=-INF, hi=INF, ordered=None)


@op("linear", lambda g, t: t.continuous and len(t.shape) == 1)
def _linear(g: Gen, t: Tensor) -> None:
    g.unary(t, f"linear({t.name})", lo=-INF, hi=INF, ordered=None)


# ------------------------------------------------------------------ inference surjections


@op("max_pool", lambda g, t: t.continuous and len(t.shape) == 2 and t.shape[1] % 2 == 0)
def _max_pool(g: Gen, t: Tensor) -> None:
    gaps = f"positive[{t.shape[0]}, {t.shape[1] // 2}]"
    options = ["half_normal()", "truncated_normal()", f"half_normal(net={NET})", f"truncated_normal(net={NET})"]
    if g.depth == 0:
        options.append("model")
    decoder = g.pick.choice(options)
    if decoder == "model":
        decoder = g.sub_model(gaps, g.pick.integer(0, 2), leaky=g.pick.chance(0.4)) + "()"
    shape = (t.shape[0], t.shape[1] // 2)
    g.unary(t, f"max_pool({t.name}, kernel=2, decoder={decoder})", shape=shape, ordered=None)


@op("slice", lambda g, t: t.continuous and t.shape[0] >= 2)
def _slice(g: Gen, t: Tensor) -> None:
    keep = g.pick.integer(1, t.shape[0] - 1)
    decoder = g.pick.choice(["normal()", "standard_normal()", f"normal(net={NET})"])
    shape = (keep, *t.shape[1:])
    g.unary(t, f"slice({t.name}, keep={keep}, dim=0, decoder={decoder})", shape=shape, ordered=None)


# ------------------------------------------------------------------- bounds (random log_prob)


@op("augment", lambda g, t: t.continuous and len(t.shape) == 1 and g.pick.chance(0.3))
def _augment(g: Gen, t: Tensor) -> None:
    call = f"augment({t.name}, size=1, encoder=normal(net={NET}))"
    g.unary(t, call, shape=(t.shape[0] + 1,), lo=-INF, hi=INF, ordered=None)


@op("vae", lambda g, t: t.continuous and len(t.shape) == 1 and g.pick.chance(0.3))
def _vae(g: Gen, t: Tensor) -> None:
    call = f"vae({t.name}, latent=[1], encoder=normal(net={NET}), decoder=normal(net={NET}))"
    g.unary(t, call, shape=(1,), lo=-INF, hi=INF, ordered=None)


@op("stochastic_permutation", lambda g, t: t.continuous and len(t.shape) in (1, 2) and t.shape[-1] >= 2)
def _stochastic_permutation(g: Gen, t: Tensor) -> None:
    g.unary(t, f"stochastic_permutation({t.name}, dim={len(t.shape) - 1})", ordered=None)


@op("dequantize", lambda g, t: not t.continuous)
def _dequantize(g: Gen, t: Tensor) -> None:
    encoder = g.pick.choice(["", f", encoder=logit_normal(net={NET})"])
    g.unary(t, f"dequantize({t.name}{encoder})", lo=0.0, hi=1.0, classes=0)


# ---------------------------------------------------------------------------- distributions


@dist("standard_normal", _continuous)
def _d_standard_normal(g: Gen, t: Tensor) -> str:
    return "standard_normal()"


@dist("normal", _continuous)
def _d_normal(g: Gen, t: Tensor) -> str:
    if g.context and g.pick.chance(0.5):
        return f"normal(context={_read(g)}, net={NET})"
    return g.pick.choice(["normal()", "normal(per=channel)"] if len(t.shape) == 2 else ["normal()"])


@dist("half_normal", lambda g, t: t.continuous and t.lo >= 0)
def _d_half_normal(g: Gen, t: Tensor) -> str:
    return "half_normal()"


@dist("standard_half_normal", lambda g, t: t.continuous and t.lo >= 0)
def _d_standard_half_normal(g: Gen, t: Tensor) -> str:
    return "standard_half_normal()"


@dist("truncated_normal", lambda g, t: t.continuous and t.lo >= 0)
def _d_truncated_normal(g: Gen, t: Tensor) -> str:
    return "truncated_normal()"


@dist("standard_uniform", lambda g, t: _within(t, 0.0, 1.0))
def _d_uniform(g: Gen, t: Tensor) -> str:
    return "standard_uniform()"


@dist("logit_normal", lambda g, t: _within(t, 0.0, 1.0))
def _d_logit_normal(g: Gen, t: Tensor) -> str:
    return "logit_normal()"


@dist("categorical", lambda g, t: not t.continuous)
def _d_categorical(g: Gen, t: Tensor) -> str:
    return "categorical()"


def _declarable(t: Tensor) -> bool:
    return t.continuous and (t.lo, t.hi) in {(-INF, INF), (0.0, INF), (0.0, 1.0)}


@dist("model", lambda g, t: g.depth == 0 and _declarable(t))
def _d_model(g: Gen, t: Tensor) -> str:
    """A second model of the file as the prior; sometimes one that wastes mass (W401)."""
    return g.sub_model(t.type_text(), g.pick.integer(0, 2), leaky=g.pick.chance(0.3)) + "()"


# -------------------------------------------------------------------------------- models


INPUT_DOMAINS = [(-INF, INF), (-INF, INF), (0.0, INF), (0.0, 1.0), (-2.0, 3.0)]
INPUT_SHAPES = [(1,), (2,), (3,), (4,), (1, 2), (2, 2), (2, 1)]


def draw_model(pick: Chooser, max_steps: int = MAX_STEPS) -> str:
    """The text of a file whose model `M` has 1–4 continuous input entries (and maybe a
    small int input and a real[1] context), a few ops, and a distribution on every tensor."""
    g = Gen(pick)
    budget = MAX_DIMS
    for i in range(pick.integer(1, 2)):
        shapes = [s for s in INPUT_SHAPES if math.prod(s) <= budget]
        if not shapes:
            break
        shape = pick.choice(shapes)
        lo, hi = pick.choice(INPUT_DOMAINS)
        budget -= math.prod(shape)
        g.inputs.append(g.give(Tensor(f"x{i}", shape, lo, hi)))
    if budget >= 2 and pick.chance(0.15):
        g.inputs.append(g.give(Tensor("k", (pick.integer(1, 2),), classes=pick.choice([2, 3]))))
    if pick.chance(0.2):
        g.context = "c"
        if pick.chance(0.5):  # context nets: deterministic given c, so the class must not change
            g.say(f"ce = embed(c, net={NET}, shape=[2])")
            g.say("cc = concat(c, ce)")
            g.reads += ["ce", "cc"]
    for _ in range(pick.integer(0, max_steps)):
        g.step()
    g.close()
    return "".join(u + "\n" for u in g.used) + g.text()


def _inputs(*tensors: Tensor) -> Callable[[Gen], Tensor]:
    """A set-up: declare ``tensors`` as inputs; the op applies to the first."""

    def setup(g: Gen) -> Tensor:
        for t in tensors:
            g.inputs.append(g.give(t))
        return tensors[0]

    return setup


def _sorted_input(g: Gen) -> Tensor:
    t = _inputs(Tensor("x", (3,)))(g)
    _sort(g, t)
    return g.live[-1]


SINGLE_OP_SETUPS: list[Callable[[Gen], Tensor]] = [
    _inputs(Tensor("x", (2,))),
    _inputs(Tensor("x", (2, 2))),
    _inputs(Tensor("x", (4,))),
    _inputs(Tensor("x", (2,), 0.0, INF)),
    _inputs(Tensor("x", (2,), 0.0, 1.0)),
    _inputs(Tensor("k", (2,), classes=3)),
    _inputs(Tensor("x", (2,)), Tensor("y", (1,), 0.0, INF)),
    _sorted_input,
]


def single_op_model(name: str, pick: Chooser) -> str | None:
    """A model whose only drawn op is ``OPS[name]`` (on the first set-up of
    `SINGLE_OP_SETUPS` it applies to), closed by drawn distributions; None if none fits."""
    for setup in SINGLE_OP_SETUPS:
        g = Gen(pick)
        t = setup(g)
        if OPS[name].applies(g, t):
            OPS[name].write(g, t)
            g.close()
            return "".join(u + "\n" for u in g.used) + g.text()
    return None
