"""An integration oracle for the likelihood class (docs/language.md, What the checker enforces):
an exact claim is tested by integrating it.

The promise: a model the checker calls "exact" has a density that integrates to 1 for every
value of its parameters; one it calls a "lower bound" never exceeds log p(x), so the integral
of exp(log_prob) is at most 1. The oracle measures that integral numerically, in float64:

- **Changes of variables.** Each continuous input coordinate is integrated over t ∈ ℝ:
  real x = t; positive x = e^t; unit x = σ(t); interval(a, b) x = a + (b − a)σ(t);
  interval(a, ∞) x = a + e^t; interval(−∞, b) x = b − e^(−t); the Jacobian is part of the
  integrand. Mass at 1e-12 (t ≈ −27.6) is then an ordinary region of the t axis. A point
  whose x rounds onto the domain's edge (σ(40) == 1.0 in float64) is not a point of the
  domain and counts 0.
- **1–2 continuous dimensions: a tensor-product grid.** t = c + s·tan(πu/2) with u on
  composite Gauss–Legendre panels of (−1, 1) (a Cauchy-like map: heavy tails reach t ≈ ±10³s,
  so far mass is captured). c and s come from the model's own samples (median and spread);
  the integral is computed at scales s and 2s and the grid refined until the two agree to
  `GRID_AGREEMENT` (so a tail or a narrow feature missed by one grid shows up as a disagreement).
  A short importance-sampling run (below) cross-checks every grid integral: a narrow mode far
  from the rest falls between the nodes of both scales alike, but not between the samples; if
  they disagree, the full importance sampler decides.
- **3–4 continuous dimensions (or a grid that does not settle): importance sampling** with a
  proposal fitted to `model.sample`: a mixture of Student-t kernels (df 5) on the samples plus a
  broad Student-t (df 2) component, fixed seed, the sample size raised until SE ≤ `MAX_SE`
  (or until the integral is clearly away from 1: 0.30 ± 0.01 needs no more samples). Without
  a sampler, the kernels sit on points resampled from the broad component's weights (two
  rounds of sampling importance resampling); a narrow mode far from every point can then be
  missed, which is why every compiled model's own sampler is used.
- **Discrete inputs** (`int<K>`) are enumerated (at most `MAX_DISCRETE` cells); a model with
  discrete and continuous inputs sums the continuous integral over the discrete cells.
- **Random log_prob** (dequantize, augment, vae, stochastic_permutation): the integrand is
  exp(mean of `draws` one-sample values of log_prob), which is ≤ p(x) in expectation (Jensen),
  so its integral must stay ≤ 1 as well.

`verdict_holds(likelihood, estimate)` turns an estimate into the pass/fail of the claim:
exact ⇒ |I − 1| ≤ TOL + 4·SE; lower bound ⇒ I ≤ 1 + TOL + 4·SE.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

F64 = torch.float64
TOL = 0.01  # the claim's tolerance on the integral
MAX_SE = 0.005  # Monte Carlo standard error the importance sampler must reach
GRID_AGREEMENT = 0.002  # two grid scales must agree this well before a grid integral is trusted
MAX_DISCRETE = 100_000  # discrete cells enumerated at most (all discrete inputs together)
MAX_CONTINUOUS = 4  # continuous dimensions integrated at most
CHUNK = 1 << 15  # points per log_prob call
PERTURBATION = 0.3  # N(0, 0.3) noise added to every parameter


class OracleError(RuntimeError):
    """The oracle could not compute a trustworthy integral (never a verdict on the model)."""


# ------------------------------------------------------------------------------------ input types


@dataclass(frozen=True)
class InputSpec:
    """One declared input (or context): its name, shape (no batch axis) and domain."""

    name: str
    shape: tuple[int, ...]
    kind: str  # "interval" or "int"
    lo: float = -math.inf
    hi: float = math.inf
    classes: int = 0

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def continuous(self) -> bool:
        return self.kind != "int"


_TYPE = re.compile(r"^\s*(\w+)\s*(<\s*(\d+)\s*>|\(([^)]*)\))?\s*\[([^\]]*)\]\s*$")
_NAMED = {"real": (-math.inf, math.inf), "positive": (0.0, math.inf), "unit": (0.0, 1.0)}


def parse_spec(name: str, text: str) -> InputSpec:
    """``InputSpec`` of a type as the compiled class spells it: ``real[2]``, ``int<4>[1, 2]``,
    ``interval(-4, 4)[3]``, ``positive[2]``, ``unit[1]``."""
    match = _TYPE.match(text)
    if match is None:
        raise ValueError(f"cannot read the type {text!r}")
    domain, _, classes, bounds, dims = match.groups()
    shape = tuple(int(d) for d in dims.split(","))
    if domain == "int":
        return InputSpec(name, shape, "int", classes=int(classes))
    if domain == "interval":
        lo, hi = (float(b) for b in bounds.split(","))
        return InputSpec(name, shape, "interval", lo, hi)
    lo, hi = _NAMED[domain]
    return InputSpec(name, shape, "interval", lo, hi)


def input_specs(cls: type) -> list[InputSpec]:
    """The declared inputs of a compiled model class, in ``log_prob``'s order."""
    return [parse_spec(name, str(cls.input_types[name])) for name in cls.input_names]


# --------------------------------------------------------------------------- changes of variables


def _coordinate_bounds(specs: Sequence[InputSpec]) -> tuple[Tensor, Tensor]:
    """(lo, hi) per continuous coordinate, the inputs' entries flattened in declaration order."""
    lo = [s.lo for s in specs if s.continuous for _ in range(s.numel)]
    hi = [s.hi for s in specs if s.continuous for _ in range(s.numel)]
    return torch.tensor(lo, dtype=F64), torch.tensor(hi, dtype=F64)


def t_to_x(t: Tensor, lo: Tensor, hi: Tensor) -> tuple[Tensor, Tensor]:
    """``(N, d)`` unconstrained t → (x inside (lo, hi), log|dx/dt| summed over d), per column."""
    xs, log_jac = [torch.zeros(t.shape[0], 0, dtype=F64)], torch.zeros(t.shape[0], dtype=F64)
    for j in range(t.shape[1]):
        a, b, tj = lo[j].item(), hi[j].item(), t[:, j]
        if math.isinf(a) and math.isinf(b):
            x, lj = tj, torch.zeros_like(tj)
        elif math.isinf(b):
            x, lj = a + torch.exp(tj), tj
        elif math.isinf(a):
            x, lj = b - torch.exp(-tj), -tj
        else:
            x = a + (b - a) * torch.sigmoid(tj)
            lj = math.log(b - a) + torch.nn.functional.logsigmoid(tj) + torch.nn.functional.logsigmoid(-tj)
        xs.append(x[:, None])
        log_jac = log_jac + lj
    return torch.cat(xs, dim=1), log_jac


def x_to_t(x: Tensor, lo: Tensor, hi: Tensor) -> Tensor:
    """Inverse of :func:`t_to_x`; points outside (lo, hi) give NaN."""
    ts = []
    for j in range(x.shape[1]):
        a, b, xj = lo[j].item(), hi[j].item(), x[:, j]
        inside = (xj > a) & (xj < b)
        if math.isinf(a) and math.isinf(b):
            tj = xj.clone()
        elif math.isinf(b):
            tj = torch.log(xj - a)
        elif math.isinf(a):
            tj = -torch.log(b - xj)
        else:
            tj = torch.logit((xj - a) / (b - a))
        ts.append(torch.where(inside, tj, torch.full_like(tj, math.nan)))
    return torch.stack(ts, dim=1)


# -------------------------------------------------------------------------------------- targets


@dataclass
class Target:
    """What the oracle integrates: a log-density over declared inputs.

    ``log_prob(inputs)`` takes one ``(B, *shape)`` tensor per spec (int64 for ``int<K>``) and
    returns ``(B,)``; ``sample(n)``, if given, returns such a list of n draws (only used to
    place the grid or the proposal, never trusted for the value); ``random`` says that
    log_prob is a one-sample estimate to be averaged over ``draws`` evaluations.
    """

    specs: list[InputSpec]
    log_prob: Callable[[list[Tensor]], Tensor]
    sample: Callable[[int], list[Tensor]] | None = None
    random: bool = False

    @property
    def continuous_dims(self) -> int:
        return sum(s.numel for s in self.specs if s.continuous)

    @property
    def discrete_cells(self) -> int:
        return math.prod(s.classes**s.numel for s in self.specs if not s.continuous)


@dataclass
class Estimate:
    """An integral, its uncertainty and how it was obtained."""

    value: float
    se: float = 0.0  # Monte Carlo standard error (0 for grids and enumeration)
    method: str = ""
    points: int = 0
    nan_points: int = 0  # evaluations whose log_prob was NaN (counted as 0)
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        se = f" ± {self.se:.4f}" if self.se else ""
        nan = f", {self.nan_points} NaN" if self.nan_points else ""
        return f"{self.value:.5f}{se} ({self.method}, {self.points} points{nan})"


def verdict_holds(likelihood: str, estimate: Estimate, tol: float = TOL, waste: bool = False) -> bool:
    """Whether the integral agrees with the claim: exact ⇒ 1 ± tol, lower bound ⇒ ≤ 1 + tol
    (each widened by 4 standard errors of a Monte Carlo estimate). ``waste``: the checker
    warned (W401) that the model puts mass outside its data's domain, so an exact model's
    integral over the domain is below 1 by design and only ≤ 1 + tol is promised."""
    slack = tol + 4 * estimate.se
    if likelihood == "exact" and not waste:
        return abs(estimate.value - 1.0) <= slack
    if likelihood in ("lower_bound", "exact"):
        return estimate.value <= 1.0 + slack
    raise ValueError(f"unknown likelihood class {likelihood!r}")


def _discrete_grid(specs: Sequence[InputSpec]) -> Tensor:
    """Every assignment of the discrete entries, ``(cells, entries)`` int64 (``(1, 0)`` if none)."""
    ranges = [torch.arange(s.classes) for s in specs if not s.continuous for _ in range(s.numel)]
    if not ranges:
        return torch.zeros(1, 0, dtype=torch.long)
    return torch.cartesian_prod(*ranges).reshape(-1, len(ranges))


def _assemble(specs: Sequence[InputSpec], x_cont: Tensor, x_disc: Tensor) -> list[Tensor]:
    """Columns of continuous and discrete coordinates → one tensor per input, declared shapes."""
    inputs, ic, idisc = [], 0, 0
    for s in specs:
        if s.continuous:
            inputs.append(x_cont[:, ic : ic + s.numel].reshape(-1, *s.shape))
            ic += s.numel
        else:
            inputs.append(x_disc[:, idisc : idisc + s.numel].reshape(-1, *s.shape))
            idisc += s.numel
    return inputs


class _Integrand:
    """log of the integrand at points (t, discrete cell), chunked, NaNs counted and zeroed."""

    def __init__(self, target: Target, draws: int, seed: int) -> None:
        self.target, self.draws, self.seed = target, draws if target.random else 1, seed
        self.lo, self.hi = _coordinate_bounds(target.specs)
        self.nan_points = 0
        self.points = 0

    def __call__(self, t: Tensor, disc: Tensor) -> Tensor:
        out = [self._chunk(t[i : i + CHUNK], disc[i : i + CHUNK]) for i in range(0, t.shape[0], CHUNK)]
        return torch.cat(out) if out else torch.zeros(0, dtype=F64)

    def _chunk(self, t: Tensor, disc: Tensor) -> Tensor:
        x, log_jac = t_to_x(t, self.lo, self.hi)
        # A point whose x rounded onto the edge (or overflowed) is not in the open domain: it
        # counts 0, and the model sees a harmless inside value there instead.
        valid = ((x > self.lo) & (x < self.hi)).all(dim=1)
        x = torch.where((x > self.lo) & (x < self.hi), x, _inside(self.lo, self.hi).expand_as(x))
        n, k = t.shape[0], self.draws
        inputs = _assemble(self.target.specs, x.repeat(k, 1), disc.repeat(k, 1))
        torch.manual_seed(self.seed)  # a random log_prob draws the same noise at each call
        with torch.no_grad():
            log_p = self.target.log_prob(inputs).reshape(k, n)
        nan = torch.isnan(log_p)
        self.nan_points += int(nan.any(dim=0).sum())
        self.points += n * k
        log_p = torch.where(nan, torch.full_like(log_p, -math.inf), log_p).mean(dim=0)
        return torch.where(valid, log_p + log_jac, torch.full_like(log_p, -math.inf))


def _inside(lo: Tensor, hi: Tensor) -> Tensor:
    """A point inside each coordinate's domain: 0 on ℝ, one unit from a single finite edge,
    the middle of a bounded interval."""
    point = torch.where(torch.isinf(hi), lo + 1, (lo + hi) / 2)
    point = torch.where(torch.isinf(lo), hi - 1, point)
    return torch.where(torch.isinf(lo) & torch.isinf(hi), torch.zeros_like(lo), point)


# --------------------------------------------------------------------------- placing the grid


@dataclass
class _Placement:
    """Where the density lives in t coordinates: per-dimension centre and scale, and the
    samples (t, discrete cells) that the importance proposal is fitted to (may be empty)."""

    centre: Tensor
    scale: Tensor
    samples: Tensor


def _place(target: Target, n: int, seed: int) -> _Placement:
    d = target.continuous_dims
    default = _Placement(torch.zeros(d, dtype=F64), torch.ones(d, dtype=F64), torch.zeros(0, d, dtype=F64))
    if target.sample is None or d == 0:
        return default
    torch.manual_seed(seed + 7919)
    try:
        with torch.no_grad():
            draws = target.sample(n)
    except (NotImplementedError, RuntimeError, ValueError):  # no sampler: the default box
        return default
    cont = [x.reshape(n, -1).to(F64) for x, s in zip(draws, target.specs, strict=True) if s.continuous]
    lo, hi = _coordinate_bounds(target.specs)
    flat = torch.cat(cont, dim=1)
    # Draws outside the declared domain (a sampler of a model with waste) carry no mass to
    # place the grid by, and the model refuses them as input: keep those inside.
    inside = torch.isfinite(flat).all(dim=1) & ((flat >= lo) & (flat <= hi)).all(dim=1)
    draws, flat = [x[inside] for x in draws], flat[inside]
    if flat.shape[0] == 0:
        return default
    t = x_to_t(flat, lo, hi)
    with torch.no_grad():
        log_p = target.log_prob([x.to(F64) if s.continuous else x for x, s in zip(draws, target.specs, strict=True)])
    # A sampler that leaves the domain (a model with waste, W401) returns what its inverse
    # maps clamp to (x = log(tiny) = −708 for most draws, say), where log_prob is thousands of
    # nats below the typical draw: such points would place the grid where no mass is.
    typical = torch.quantile(log_p[torch.isfinite(log_p)], 0.9) if torch.isfinite(log_p).any() else -math.inf
    t = t[torch.isfinite(t).all(dim=1) & (log_p >= typical - 40)]
    if t.shape[0] < max(50, n // 20):
        return default
    centre = t.median(dim=0).values
    # The core's width (σ for a normal), from the quartiles; not less than a sixteenth of the
    # 95% range, so a peak on wide shoulders does not shrink the grid onto the peak alone.
    q = torch.quantile(t, torch.tensor([0.025, 0.25, 0.75, 0.975], dtype=F64), dim=0)
    scale = torch.maximum((q[2] - q[1]) / 1.349, (q[3] - q[0]) / 16).clamp(min=1e-3, max=1e3)
    # Samples a thousand widths out (an overflowed inverse gives 1e308) would put kernels
    # where no density lives and make the proposal's arithmetic overflow.
    t = t[((t - centre).abs() <= 1e3 * scale).all(dim=1)]
    return _Placement(centre, scale, t)


# ------------------------------------------------------------------------------------ grids


def _gauss_legendre(order: int) -> tuple[Tensor, Tensor]:
    """Nodes and weights of the ``order``-point Gauss–Legendre rule on (−1, 1) (Golub–Welsch)."""
    k = torch.arange(1, order, dtype=F64)
    beta = k / torch.sqrt(4 * k * k - 1)
    nodes, vectors = torch.linalg.eigh(torch.diag(beta, 1) + torch.diag(beta, -1))
    return nodes, 2 * vectors[0] ** 2


def _composite(panels: int, order: int = 4) -> tuple[Tensor, Tensor]:
    """Composite Gauss–Legendre nodes and weights on (−1, 1): ``panels`` equal panels."""
    nodes, weights = _gauss_legendre(order)
    edges = torch.linspace(-1.0, 1.0, panels + 1, dtype=F64)
    half = (edges[1:] - edges[:-1]) / 2
    mids = (edges[1:] + edges[:-1]) / 2
    return (mids[:, None] + half[:, None] * nodes).reshape(-1), (half[:, None] * weights).reshape(-1)


def _tan_axis(centre: float, scale: float, panels: int) -> tuple[Tensor, Tensor]:
    """t nodes and log-weights for ∫ℝ dt via t = c + s·tan(πu/2)."""
    u, w = _composite(panels)
    angle = math.pi * u / 2
    t = centre + scale * torch.tan(angle)
    log_w = torch.log(w) + math.log(scale * math.pi / 2) - 2 * torch.log(torch.cos(angle))
    return t, log_w


def _grid_integral(f: _Integrand, placement: _Placement, cells: Tensor, widen: float, panels: int) -> float:
    """∫ over the continuous coordinates (tensor-product tan grid), summed over the discrete cells."""
    pairs = zip(placement.centre.tolist(), placement.scale.tolist(), strict=True)
    axes = [_tan_axis(c, widen * s, panels) for c, s in pairs]
    if axes:
        t = torch.cartesian_prod(*[a[0] for a in axes]).reshape(-1, len(axes))
        log_w = torch.cartesian_prod(*[a[1] for a in axes]).reshape(-1, len(axes)).sum(dim=1)
    else:
        t, log_w = torch.zeros(1, 0, dtype=F64), torch.zeros(1, dtype=F64)
    per_block = max(1, (1 << 20) // t.shape[0])  # cells evaluated together
    terms = []
    for start in range(0, cells.shape[0], per_block):
        block = cells[start : start + per_block]
        log_g = f(t.repeat(block.shape[0], 1), block.repeat_interleave(t.shape[0], dim=0))
        terms.append(torch.logsumexp(log_g + log_w.repeat(block.shape[0]), dim=0))
    return torch.exp(torch.logsumexp(torch.stack(terms), dim=0)).item()


# Panels per axis (4 Gauss–Legendre nodes each), coarse → fine; the first level whose two
# scales agree to GRID_AGREEMENT is accepted.
GRID_PANELS = {1: [128, 512, 2048], 2: [32, 64, 128]}


def integrate_grid(target: Target, *, draws: int = 4, seed: int = 0, samples: int = 2000) -> Estimate:
    """Grid integral of a target with at most 2 continuous dimensions (see the module doc).
    Raises `OracleError` when the two scales never agree."""
    d = target.continuous_dims
    f = _Integrand(target, draws, seed)
    cells = _discrete_grid(target.specs)
    if d == 0:
        value = _grid_integral(f, _place(target, 0, seed), cells, 1.0, 1)
        return Estimate(value, 0.0, f"enumeration of {cells.shape[0]} cells", f.points, f.nan_points)
    placement = _place(target, samples, seed)
    history: list[tuple[int, float, float]] = []
    for panels in GRID_PANELS[d]:
        narrow = _grid_integral(f, placement, cells, 1.0, panels)
        wide = _grid_integral(f, placement, cells, 2.0, panels)
        history.append((panels, narrow, wide))
        if abs(narrow - wide) <= GRID_AGREEMENT:
            method = f"{d}-D tan grid, {4 * panels} nodes/axis, scales s and 2s agree"
            return Estimate((narrow + wide) / 2, 0.0, method, f.points, f.nan_points)
    raise OracleError(f"grid integrals never agreed: (panels, scale s, scale 2s) = {history}")


# ------------------------------------------------------------------------- importance sampling


def _student_t_log_pdf(z: Tensor, df: float) -> Tensor:
    """Log density of a standard Student-t with ``df`` degrees of freedom, elementwise."""
    c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    return c - (df + 1) / 2 * torch.log1p(z * z / df)


def _chi2(n: int, d: int, df: float, generator: torch.Generator) -> Tensor:
    return 2 * torch._standard_gamma(torch.full((n, d), df / 2, dtype=F64), generator=generator)


class _Proposal:
    """A defensive mixture in t coordinates: multivariate Student-t kernels (df 5, diagonal
    bandwidth) on points where the density lives (weight 0.9), and a product of broad
    Student-t (df 2) around them (weight 0.1)."""

    KERNEL_DF, BROAD_DF, BROAD_WEIGHT = 5.0, 2.0, 0.1

    def __init__(self, centre: Tensor, scale: Tensor, points: Tensor, kernels: int, generator: torch.Generator) -> None:
        d = centre.shape[0]
        self.centre, self.broad = centre, 3.0 * scale
        if points.shape[0] > kernels:
            points = points[torch.randperm(points.shape[0], generator=generator)[:kernels]]
        if points.shape[0] < 10:  # too few to fit kernels to: the broad component alone
            points = points[:0]
        self.points = points
        if points.shape[0]:
            iqr = torch.quantile(points, torch.tensor([0.25, 0.75], dtype=F64), dim=0)
            spread = torch.minimum(points.std(dim=0), (iqr[1] - iqr[0]) / 1.349)
            spread = torch.maximum(spread, 1e-3 * scale)
            self.bandwidth = 0.8 * spread * points.shape[0] ** (-1.0 / (d + 4))
            self.scaled = points / self.bandwidth
        self.weight = 1.0 - self.BROAD_WEIGHT if points.shape[0] else 0.0

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        d = self.centre.shape[0]
        z = torch.randn(n, d, dtype=F64, generator=generator)
        broad = self.centre + self.broad * z / torch.sqrt(_chi2(n, d, self.BROAD_DF, generator) / self.BROAD_DF)
        if not self.weight:
            return broad
        pick = torch.randint(0, self.points.shape[0], (n,), generator=generator)
        z = torch.randn(n, d, dtype=F64, generator=generator)
        radial = torch.sqrt(_chi2(n, 1, self.KERNEL_DF, generator) / self.KERNEL_DF)  # one per draw: multivariate t
        local = self.points[pick] + self.bandwidth * z / radial
        use_local = torch.rand(n, generator=generator) < self.weight
        return torch.where(use_local[:, None], local, broad)

    def log_prob(self, t: Tensor) -> Tensor:
        broad = (_student_t_log_pdf((t - self.centre) / self.broad, self.BROAD_DF) - torch.log(self.broad)).sum(dim=1)
        if not self.weight:
            return broad
        d, df, m = t.shape[1], self.KERNEL_DF, self.points.shape[0]
        const = math.lgamma((df + d) / 2) - math.lgamma(df / 2) - d / 2 * math.log(df * math.pi)
        const = const - torch.log(self.bandwidth).sum().item() - math.log(m)
        parts = []
        for i in range(0, t.shape[0], 8192):
            a = t[i : i + 8192] / self.bandwidth
            r2 = (a * a).sum(1, keepdim=True) + (self.scaled * self.scaled).sum(1) - 2 * a @ self.scaled.T
            parts.append(torch.logsumexp(-(df + d) / 2 * torch.log1p(r2.clamp(min=0) / df), dim=1))
        local = torch.cat(parts) + const
        return torch.logaddexp(local + math.log(self.weight), broad + math.log(self.BROAD_WEIGHT))


def _pilot_points(f: _Integrand, placement: _Placement, cell: Tensor, generator: torch.Generator, n: int) -> Tensor:
    """Without model samples: points where the integrand lives, by two rounds of sampling
    importance resampling from the broad proposal (then from a kernel fit to the first round)."""
    points = placement.samples
    for _ in range(2):
        proposal = _Proposal(placement.centre, placement.scale, points, 400, generator)
        t = proposal.sample(5 * n, generator)
        log_w = f(t, cell.expand(t.shape[0], -1)) - proposal.log_prob(t)
        if not torch.isfinite(log_w).any():
            return points
        weights = torch.softmax(torch.nan_to_num(log_w, nan=-math.inf), dim=0)
        points = t[torch.multinomial(weights, n, replacement=True, generator=generator)]
    return points


def _decided(value: float, se: float) -> bool:
    """Whether an estimate already answers every claim: the integral is 1 ± TOL for no value
    within 4 standard errors (e.g. 0.30 ± 0.01 is below 1 whatever more samples say). Only
    an estimate within 10% of itself counts: one dominated by a few huge ratios has a
    standard error as unreliable as its value."""
    return se <= 0.1 * value and (value + 4 * se < 1 - TOL or value - 4 * se > 1 + TOL)


def integrate_mc(
    target: Target,
    *,
    draws: int = 4,
    seed: int = 0,
    samples: int = 4000,
    kernels: int = 400,
    start: int = 8_000,
    max_points: int = 400_000,
    max_se: float = MAX_SE,
) -> Estimate:
    """Importance-sampled integral (see the module doc). Sampling stops when SE ≤ ``max_se``,
    or earlier when the integral is clearly away from 1 (`_decided`); raises `OracleError` if
    neither happens within ``max_points`` proposal draws per discrete cell."""
    f = _Integrand(target, draws, seed)
    cells = _discrete_grid(target.specs)
    placement = _place(target, samples, seed)
    generator = torch.Generator().manual_seed(seed)
    value, variance, decided_early = 0.0, 0.0, False
    for cell in cells:
        points = placement.samples if placement.samples.shape[0] else _pilot_points(f, placement, cell, generator, 2000)
        proposal = _Proposal(placement.centre, placement.scale, points, kernels, generator)
        ratios = torch.zeros(0, dtype=F64)
        n = start
        while True:
            t = proposal.sample(n - ratios.shape[0], generator)
            log_g = f(t, cell.expand(t.shape[0], -1))
            if torch.isposinf(log_g).any():  # log_prob = +inf somewhere: no finite integral
                return Estimate(math.inf, 0.0, "importance sampling met log_prob = +inf", f.points, f.nan_points)
            log_q = proposal.log_prob(t)
            # q underflows only at absurd t (|t| ~ 1e300, drawn from the broad tails): count 0.
            skip = (log_g == -math.inf) | ~torch.isfinite(log_q)
            ratios = torch.cat([ratios, torch.where(skip, 0.0, torch.exp(log_g - log_q))])
            se = (ratios.std() / math.sqrt(ratios.shape[0])).item()
            decided_early = cells.shape[0] == 1 and se > max_se and _decided(ratios.mean().item(), se)
            if se <= max_se / math.sqrt(cells.shape[0]) or ratios.shape[0] >= max_points or decided_early:
                break
            n = min(max_points, int(ratios.shape[0] * (se / (0.9 * max_se)) ** 2) + 1)
        value += ratios.mean().item()
        variance += se * se
    se = math.sqrt(variance)
    method = f"{target.continuous_dims}-D importance sampling"
    method += f", decided before SE ≤ {max_se}" if decided_early else ""
    estimate = Estimate(value, se, method, f.points, f.nan_points)
    if se > max_se and not decided_early:
        raise OracleError(f"importance sampling did not reach SE ≤ {max_se}: {estimate}")
    return estimate


def integrate(target: Target, *, draws: int = 4, seed: int = 0) -> Estimate:
    """The integral of exp(log_prob) over the target's whole input domain (module doc).

    A grid integral is cross-checked by a short importance-sampling run fitted to the model's
    samples: a narrow mode far from the others can fall between the grid's nodes at both
    scales alike, but not between the samples. If the two disagree, the full importance
    sampler decides."""
    d = target.continuous_dims
    if d > MAX_CONTINUOUS:
        raise OracleError(f"{d} continuous dimensions: the oracle integrates at most {MAX_CONTINUOUS}")
    if target.discrete_cells > MAX_DISCRETE:
        raise OracleError(f"{target.discrete_cells} discrete cells: the oracle enumerates at most {MAX_DISCRETE}")
    if d > 2:
        return integrate_mc(target, draws=draws, seed=seed)
    try:
        grid = integrate_grid(target, draws=draws, seed=seed)
    except OracleError as grid_failure:
        estimate = integrate_mc(target, draws=draws, seed=seed)
        estimate.notes.append(str(grid_failure))
        return estimate
    if d == 0 or target.sample is None or target.discrete_cells > 1:
        return grid
    quick = integrate_mc(target, draws=draws, seed=seed + 1, start=4000, max_points=4000, max_se=math.inf)
    if abs(grid.value - quick.value) <= TOL + 4 * quick.se:
        return grid
    estimate = integrate_mc(target, draws=draws, seed=seed)
    estimate.notes.append(f"the grid gave {grid}, importance sampling disagreed: {quick}")
    estimate.method += " (grid overruled)"
    return estimate


# ------------------------------------------------------------------------------ compiled models


def perturb(model: torch.nn.Module, seed: int, scale: float = PERTURBATION) -> None:
    """Move every parameter away from the standard starting point: N(0, scale²) noise on each
    vector or scalar parameter (locations, log-scales, biases, LU diagonals), and on each
    weight matrix N(0, scale²/fan_in), so a layer's output moves by about ``scale`` whatever
    its width (an absolute 0.3 on a 200-wide layer moves its outputs by ~4 per layer, and four
    couplings then squash mass onto 1e-80 scales that no float64 quadrature resolves)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            noise = torch.randn(parameter.shape, dtype=F64, generator=generator)
            fan_in = parameter[0].numel() if parameter.dim() >= 2 else 1
            parameter.add_(scale / math.sqrt(fan_in) * noise.to(parameter.dtype))


def is_random(model: torch.nn.Module, target: Target, seed: int = 0) -> bool:
    """Whether log_prob gives different values on two calls at the same points."""
    placement = _place(target, 64, seed)
    t = placement.samples[:16] if placement.samples.shape[0] else torch.zeros(16, target.continuous_dims, dtype=F64)
    lo, hi = _coordinate_bounds(target.specs)
    x, _ = t_to_x(t, lo, hi)
    disc = _discrete_grid(target.specs)[:1].expand(t.shape[0], -1)
    inputs = _assemble(target.specs, torch.where((x > lo) & (x < hi), x, _inside(lo, hi).expand_as(x)), disc)
    with torch.no_grad():
        first, second = target.log_prob(inputs), target.log_prob(inputs)
    return not torch.equal(first.nan_to_num(), second.nan_to_num())


def model_target(model: torch.nn.Module, specs: list[InputSpec], contexts: dict[str, Tensor] | None = None) -> Target:
    """A compiled model (one row of each context, broadcast to every point) as a `Target`."""
    contexts = contexts or {}

    def tiled(n: int) -> dict[str, Tensor]:
        return {name: value.expand(n, *value.shape[1:]) for name, value in contexts.items()}

    def log_prob(inputs: list[Tensor]) -> Tensor:
        return model.log_prob(*inputs, **tiled(inputs[0].shape[0]))

    def sample(n: int) -> list[Tensor]:
        draws = model.sample(n, **tiled(n)) if contexts else model.sample(n)
        return list(draws) if isinstance(draws, tuple) else [draws]

    target = Target(specs, log_prob, sample)
    target.random = is_random(model, target)
    return target


@dataclass
class Check:
    """One integral of one model at one parameter seed (and context)."""

    label: str
    likelihood: str
    estimate: Estimate
    waste: bool = False  # the checker warned W401 (the model or a model it uses)

    @property
    def holds(self) -> bool:
        return verdict_holds(self.likelihood, self.estimate, waste=self.waste)

    def __str__(self) -> str:
        mark = "ok" if self.holds else "FAILS"
        claim = self.likelihood + (" (with W401 waste)" if self.waste else "")
        return f"{self.label}: {claim}, ∫ = {self.estimate} [{mark}]"


def check_class(
    cls: type,
    *,
    seeds: Sequence[int] = (0, 1),
    contexts: Sequence[dict[str, Tensor]] = (),
    draws: int = 4,
    adjust: Callable[[torch.nn.Module], None] | None = None,
    waste: bool = False,
    likelihood: str | None = None,
) -> list[Check]:
    """Integrate a compiled model class at each seed of perturbed parameters; a conditional
    model at seed i is integrated at the context ``contexts[i % len(contexts)]``, so the
    seeds also walk through the contexts. ``adjust(model)`` may set parameters by hand after
    the perturbation. Each check judges the integral against ``likelihood`` (default: the
    class's own claim)."""
    specs = input_specs(cls)
    claim = likelihood or cls.likelihood
    checks = []
    for i, seed in enumerate(seeds):
        torch.manual_seed(seed)
        model = cls().double()
        model.eval()
        perturb(model, seed)
        if adjust is not None:
            adjust(model)
        context = contexts[i % len(contexts)] if contexts else {}
        label = f"{cls.__name__} seed={seed}" + (f" context={_brief(context)}" if context else "")
        target = model_target(model, specs, context)
        checks.append(Check(label, claim, integrate(target, draws=draws, seed=seed), waste))
    return checks


def _brief(context: dict[str, Tensor]) -> str:
    return ", ".join(f"{k}={[round(v, 3) for v in t.reshape(-1).tolist()]}" for k, t in context.items())


def context_rows(spec: InputSpec, count: int, seed: int) -> list[Tensor]:
    """``count`` fixed values of a context, each ``(1, *shape)``: integers for ``int<K>``,
    N(0, 1) in the t coordinate mapped into the domain otherwise."""
    generator = torch.Generator().manual_seed(seed)
    if not spec.continuous:
        return [torch.randint(0, spec.classes, (1, *spec.shape), generator=generator) for _ in range(count)]
    lo, hi = torch.full((spec.numel,), spec.lo, dtype=F64), torch.full((spec.numel,), spec.hi, dtype=F64)
    t = torch.randn(count, spec.numel, dtype=F64, generator=generator)
    x, _ = t_to_x(t, lo, hi)
    return [row.reshape(1, *spec.shape) for row in x]
