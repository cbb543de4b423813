"""Base distributions over an event shape, unconditional or conditioned on a context by a net.

Learned parameters start at the standard point (N(0, 1), half-normal scale 1, logit-normal
N(0, 1) before the sigmoid, uniform categorical and Bernoulli). Built with ``net=``, a family
is **conditional**: ``net(context)`` gives its parameters, read parameter-major as
``(B, P, *parameter shape)`` (P parameters per entry), and the net's last layer starts at zero
so a fresh conditional distribution is the standard one. A conditional distribution requires
a context and samples one draw per context row; an unconditional one ignores ``context``.
Temperature multiplies the standard deviation of the normal-based families and divides the
logits of the discrete ones (uniform ignores it).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import Distribution, sum_except_batch
from .functional import move_one_inward, move_zero_inward
from .noise import draw_uniform

__all__ = [
    "Bernoulli",
    "Categorical",
    "HalfNormal",
    "LogitNormal",
    "Normal",
    "StandardHalfNormal",
    "StandardNormal",
    "StandardUniform",
    "TruncatedNormal",
]

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_LOG_2 = math.log(2.0)


def _normal_log_density(x: Tensor, loc: Tensor | float, log_scale: Tensor) -> Tensor:
    """Entrywise log N(x; loc, exp(log_scale)²), broadcasting the parameters."""
    standardized = (x - loc) * torch.exp(-log_scale)
    return -0.5 * standardized.square() - log_scale - _HALF_LOG_2PI


class StandardNormal(Distribution):
    """N(0, I) on ``shape``."""

    def log_prob(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """``(B, *shape)`` → ``(B,)``."""
        return sum_except_batch(-0.5 * x.square() - _HALF_LOG_2PI)

    def sample(
        self,
        num_samples: int,
        context: Tensor | None = None,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``(num_samples, *shape)`` from N(0, temperature²·I)."""
        return self._standard_normal(num_samples, generator) * temperature


class _Parametric(Distribution):
    """A family whose parameters are learned tensors, or come from ``net(context)``.

    ``num_parameters`` is P, the number of parameters per entry of the parameter shape; a
    conditional family's net must output ``P × numel(parameter shape)`` values per example
    (any layout that reshapes to ``(B, P, *parameter shape)``, e.g. ``(B, P·C, H, W)``).
    """

    def __init__(self, shape: tuple[int, ...], net: nn.Module | None, num_parameters: int) -> None:
        super().__init__(shape)
        self.net = net
        self.num_parameters = num_parameters

    @property
    def conditional(self) -> bool:
        """Whether the parameters come from a net applied to a context."""
        return self.net is not None

    def _require_context(self, context: Tensor | None) -> Tensor:
        """The context, or a ValueError naming the class when a conditional one has none."""
        if context is None:
            name = type(self).__name__
            raise ValueError(f"{name} is conditional (built with net=) and needs a context; got None")
        return context

    def _net_parameters(self, context: Tensor | None, parameter_shape: tuple[int, ...]) -> Tensor:
        """``net(context)`` read as ``(B, P, *parameter_shape)``."""
        assert self.net is not None
        out: Tensor = self.net(self._require_context(context))  # a module call is typed Any
        return out.reshape(out.shape[0], self.num_parameters, *parameter_shape)

    def _sample_batch(self, num_samples: int, context: Tensor | None) -> int:
        """The number of draws: ``num_samples``, which must equal the context's batch when
        conditional (one draw per context row)."""
        if self.net is not None:
            batch = self._require_context(context).shape[0]
            if num_samples != batch:
                name = type(self).__name__
                raise ValueError(
                    f"{name} is conditional: num_samples ({num_samples}) must equal the context's batch ({batch})"
                )
        return num_samples

    def extra_repr(self) -> str:
        return f"shape={self.shape}, conditional={self.conditional}"


class Normal(_Parametric):
    """N(loc, diag(exp(log_scale))²) per entry.

    Unconditional: learned ``loc`` and ``log_scale``, zero at start. ``per="element"``:
    parameters of shape ``shape``; ``per="channel"``: shape ``(C,)`` for channel axis 0,
    shared over the other axes. Conditional (``net=``): P = 2, ``net(context)`` read as
    ``(B, 2, *parameter shape)`` = (loc, log_scale), with the same ``per`` rule.
    """

    def __init__(self, shape: tuple[int, ...], per: str = "element", net: nn.Module | None = None) -> None:
        super().__init__(shape, net, num_parameters=2)
        if per not in ("element", "channel"):
            raise ValueError(f"normal(per=...) must be 'element' or 'channel', got {per!r}")
        if per == "channel" and len(self.shape) == 0:
            raise ValueError("normal(per='channel') needs at least one event axis")
        self.per = per
        self.parameter_shape: tuple[int, ...] = self.shape if per == "element" else self.shape[:1]
        if net is None:
            self.loc = nn.Parameter(torch.zeros(self.parameter_shape))
            self.log_scale = nn.Parameter(torch.zeros(self.parameter_shape))

    def _broadcast(self, parameter: Tensor) -> Tensor:
        """``(C,)`` or ``(B, C)`` per-channel parameters reshaped to broadcast against
        ``(B, *shape)``; per-element ones are returned as they are."""
        if self.per == "element":
            return parameter
        trailing = [1] * (len(self.shape) - 1)
        return parameter.reshape(*parameter.shape[:-1], self.shape[0], *trailing)

    def _params(self, context: Tensor | None) -> tuple[Tensor, Tensor]:
        """(loc, log_scale), each broadcastable to ``(B, *shape)``."""
        loc: Tensor
        log_scale: Tensor
        if self.net is None:
            loc, log_scale = self.loc, self.log_scale
        else:
            parameters = self._net_parameters(context, self.parameter_shape)
            loc, log_scale = parameters[:, 0], parameters[:, 1]
        return self._broadcast(loc), self._broadcast(log_scale)

    def log_prob(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """``(B, *shape)`` → ``(B,)``."""
        loc, log_scale = self._params(context)
        return sum_except_batch(_normal_log_density(x, loc, log_scale))

    def sample(
        self,
        num_samples: int,
        context: Tensor | None = None,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``(num_samples, *shape)``: loc + temperature·scale·ε."""
        batch = self._sample_batch(num_samples, context)
        loc, log_scale = self._params(context)
        noise = self._standard_normal(batch, generator)
        return loc + temperature * torch.exp(log_scale) * noise

    def extra_repr(self) -> str:
        return f"shape={self.shape}, per={self.per!r}, conditional={self.conditional}"


class HalfNormal(_Parametric):
    """|N(0, σ²)| per entry on x ≥ 0; learned ``log_scale`` (zero: σ = 1), or P = 1
    (log_scale) from ``net(context)`` read as ``(B, 1, *shape)``.

    log p(x) = log 2 + log N(x; 0, σ) for x ≥ 0 and −inf for x < 0.
    """

    def __init__(self, shape: tuple[int, ...], net: nn.Module | None = None) -> None:
        super().__init__(shape, net, num_parameters=1)
        if net is None:
            self.log_scale = nn.Parameter(torch.zeros(self.shape))

    def _log_scale(self, context: Tensor | None) -> Tensor:
        """log σ, ``shape`` or ``(B, *shape)``."""
        if self.net is None:
            return self.log_scale
        return self._net_parameters(context, self.shape)[:, 0]

    def log_prob(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """``(B, *shape)`` → ``(B,)``."""
        density = _LOG_2 + _normal_log_density(x, 0.0, self._log_scale(context))
        return sum_except_batch(torch.where(x >= 0, density, -math.inf))

    def sample(
        self,
        num_samples: int,
        context: Tensor | None = None,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``(num_samples, *shape)``: temperature·σ·|ε|."""
        batch = self._sample_batch(num_samples, context)
        log_scale = self._log_scale(context)
        noise = self._standard_normal(batch, generator).abs()
        return temperature * torch.exp(log_scale) * noise


class StandardHalfNormal(Distribution):
    """|N(0, 1)| per entry on x ≥ 0, nothing learned (``half_normal`` with σ fixed at 1).

    log p(x) = log 2 − ½ x² − ½ log 2π for x ≥ 0 and −inf for x < 0.
    """

    def log_prob(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """``(B, *shape)`` → ``(B,)``."""
        density = _LOG_2 - 0.5 * x.square() - _HALF_LOG_2PI
        return sum_except_batch(torch.where(x >= 0, density, -math.inf))

    def sample(
        self,
        num_samples: int,
        context: Tensor | None = None,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``(num_samples, *shape)``: temperature·|ε|."""
        return self._standard_normal(num_samples, generator).abs() * temperature


class _LocationScale(_Parametric):
    """A family with a location and a log-scale per entry: learned ``loc`` and ``log_scale``
    of shape ``shape`` (zero at start), or P = 2 from ``net(context)`` read as
    ``(B, 2, *shape)`` = (loc, log_scale)."""

    def __init__(self, shape: tuple[int, ...], net: nn.Module | None = None) -> None:
        super().__init__(shape, net, num_parameters=2)
        if net is None:
            self.loc = nn.Parameter(torch.zeros(self.shape))
            self.log_scale = nn.Parameter(torch.zeros(self.shape))

    def _params(self, context: Tensor | None) -> tuple[Tensor, Tensor]:
        """(loc, log_scale), each ``shape`` or ``(B, *shape)``."""
        if self.net is None:
            return self.loc, self.log_scale
        parameters = self._net_parameters(context, self.shape)
        return parameters[:, 0], parameters[:, 1]


class TruncatedNormal(_LocationScale):
    """N(loc, σ²) truncated to x ≥ 0 per entry: a positive family with a location, whose mode
    moves off zero (the half-normal's stays at zero).

    Learned ``loc`` and ``log_scale`` (zero: loc 0, σ = 1, which is the half-normal with
    σ = 1), or P = 2 from ``net(context)`` read as ``(B, 2, *shape)`` = (loc, log_scale).

    log p(x) = log N(x; loc, σ) − log Φ(loc / σ) for x ≥ 0 and −inf for x < 0.
    """

    def log_prob(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """``(B, *shape)`` → ``(B,)``."""
        loc, log_scale = self._params(context)
        # log Φ(a) through log_ndtr: finite and accurate far into the left tail (a ≪ 0), where
        # the mass left above zero is tiny but the density is still normalised by it.
        mass = torch.special.log_ndtr(loc * torch.exp(-log_scale))
        density = _normal_log_density(x, loc, log_scale) - mass
        return sum_except_batch(torch.where(x >= 0, density, -math.inf))

    def sample(
        self,
        num_samples: int,
        context: Tensor | None = None,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``(num_samples, *shape)`` by inversion, with σ' = temperature·σ and a = loc/σ':
        x = loc − σ'·Φ⁻¹(u·Φ(a)), u ~ U(0, 1] (X > x has probability Φ((loc − x)/σ') under the
        untruncated normal). Computed in float64; where Φ(a) underflows even there (a < −37)
        the truncated normal is an exponential with rate −loc/σ'² to first order, and is drawn
        as one. Temperature 0 gives max(loc, 0), the mode."""
        batch = self._sample_batch(num_samples, context)
        loc, log_scale = self._params(context)
        anchor = self._anchor
        size = (batch, *self.shape)
        uniform = draw_uniform(size, generator=generator, dtype=torch.float64, device=anchor.device)
        loc64 = loc.to(torch.float64).expand(size)
        if temperature == 0:
            return loc64.clamp_min(0.0).to(anchor.dtype)
        scale = temperature * torch.exp(log_scale.to(torch.float64)).expand(size)
        a = loc64 / scale
        log_mass = torch.special.log_ndtr(a)
        # 1 − u, in (0, 1], has the law of u and is never 0 (whose Φ⁻¹ would be −∞).
        inverted = loc64 - scale * torch.special.ndtri(torch.exp(torch.log1p(-uniform) + log_mass))
        exponential = -torch.log1p(-uniform) * scale.square() / (-loc64).clamp_min(1e-300)
        draw = torch.where(log_mass > -700.0, inverted, exponential)
        return draw.clamp_min(0.0).to(anchor.dtype)


class LogitNormal(_LocationScale):
    """sigmoid(N(loc, σ²)) per entry on the unit interval.

    Learned ``loc`` and ``log_scale`` (zero: N(0, 1) before the sigmoid), or P = 2 from
    ``net(context)`` read as ``(B, 2, *shape)`` = (loc, log_scale).
    log p(u) = log N(logit u; loc, σ) − log u − log(1 − u) on [0, 1], −inf outside. An exact
    0 or 1 is computed as the nearest interior float (as ``logit`` does), so the closed
    interval has a finite density; every other u is exact (clamps add no mass, §6.3).
    """

    def log_prob(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """``(B, *shape)`` → ``(B,)``."""
        loc, log_scale = self._params(context)
        inside = (x >= 0) & (x <= 1)
        # Outside [0, 1] the density branch is unused; 1/2 keeps it (and its gradient) finite.
        u = move_one_inward(move_zero_inward(torch.where(inside, x, 0.5)))
        log_u, log_one_minus_u = torch.log(u), torch.log1p(-u)
        density = _normal_log_density(log_u - log_one_minus_u, loc, log_scale) - log_u - log_one_minus_u
        return sum_except_batch(torch.where(inside, density, -math.inf))

    def sample(
        self,
        num_samples: int,
        context: Tensor | None = None,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``(num_samples, *shape)``: sigmoid(loc + temperature·σ·ε) in the open interval.

        A draw that rounds onto 0 or 1 (float32 sigmoid rounds to 1 past about 17) is moved to
        the nearest interior float, where ``log_prob`` computes it; no other draw is moved, so
        ``sample_with_log_prob`` gives each draw its own density.
        """
        batch = self._sample_batch(num_samples, context)
        loc, log_scale = self._params(context)
        noise = self._standard_normal(batch, generator)
        u = torch.sigmoid(loc + temperature * torch.exp(log_scale) * noise)
        return move_one_inward(move_zero_inward(u))


class Categorical(_Parametric):
    """Independent categoricals over {0, …, K − 1} per entry (int⟨K⟩ data).

    Learned ``logits`` of shape ``(K, *shape)`` (zero: uniform), or P = K from
    ``net(context)`` read as ``(B, K, *shape)``. ``log_prob`` takes integer-valued tensors of
    any dtype; ``sample`` returns ``torch.long``. Temperature divides the logits (0 gives the
    mode).
    """

    def __init__(self, shape: tuple[int, ...], num_classes: int, net: nn.Module | None = None) -> None:
        if not (isinstance(num_classes, int) and num_classes >= 2):
            raise ValueError(f"categorical needs num_classes >= 2, got {num_classes!r}")
        super().__init__(shape, net, num_parameters=num_classes)
        self.num_classes = num_classes
        if net is None:
            self.logits = nn.Parameter(torch.zeros(num_classes, *self.shape))

    def _logits(self, context: Tensor | None) -> Tensor:
        """Unnormalised log-probabilities ``(1 or B, K, *shape)``."""
        if self.net is None:
            return self.logits.unsqueeze(0)
        return self._net_parameters(context, self.shape)

    def log_prob(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """``(B, *shape)`` of values in {0, …, K − 1} → ``(B,)``."""
        log_probs = F.log_softmax(self._logits(context), dim=1)
        log_probs = log_probs.expand(x.shape[0], *log_probs.shape[1:])
        picked = torch.gather(log_probs, 1, x.long().unsqueeze(1))
        return sum_except_batch(picked)

    def sample(
        self,
        num_samples: int,
        context: Tensor | None = None,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``(num_samples, *shape)`` of ``torch.long`` in {0, …, K − 1}.

        Gumbel-max: argmax(ℓ + T·g) = argmax(ℓ/T + g) for T > 0, and the mode at T = 0.
        """
        batch = self._sample_batch(num_samples, context)
        logits = self._logits(context)
        anchor = self._anchor
        size = (batch, self.num_classes, *self.shape)
        uniform = draw_uniform(size, generator=generator, dtype=anchor.dtype, device=anchor.device)
        # u = 0 gives a Gumbel draw of −inf, which never wins the argmax.
        gumbel = -torch.log(-torch.log(uniform))
        return torch.argmax(logits + temperature * gumbel, dim=1)

    def extra_repr(self) -> str:
        return f"shape={self.shape}, num_classes={self.num_classes}, conditional={self.conditional}"


class Bernoulli(_Parametric):
    """Independent Bernoullis over {0, 1} per entry (int⟨2⟩ data), P(1) = sigmoid(ℓ).

    Learned ``logits`` of shape ``shape`` (zero: P(1) = 1/2), or P = 1 from ``net(context)``
    read as ``(B, 1, *shape)``. ``log_prob`` takes integer-valued tensors of any dtype;
    ``sample`` returns ``torch.long``. Temperature divides the logit (0 gives the mode).
    """

    def __init__(self, shape: tuple[int, ...], net: nn.Module | None = None) -> None:
        super().__init__(shape, net, num_parameters=1)
        if net is None:
            self.logits = nn.Parameter(torch.zeros(self.shape))

    def _logits(self, context: Tensor | None) -> Tensor:
        """ℓ, ``shape`` or ``(B, *shape)``."""
        if self.net is None:
            return self.logits
        return self._net_parameters(context, self.shape)[:, 0]

    def log_prob(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """``(B, *shape)`` of values in {0, 1} → ``(B,)``."""
        logits = self._logits(context)
        ones = x.to(logits.dtype)
        return sum_except_batch(ones * F.logsigmoid(logits) + (1.0 - ones) * F.logsigmoid(-logits))

    def sample(
        self,
        num_samples: int,
        context: Tensor | None = None,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``(num_samples, *shape)`` of ``torch.long`` in {0, 1}.

        1 where ℓ + T·n > 0 with n standard logistic: P(1) = sigmoid(ℓ/T), the mode at T = 0.
        """
        batch = self._sample_batch(num_samples, context)
        logits = self._logits(context)
        anchor = self._anchor
        size = (batch, *self.shape)
        uniform = draw_uniform(size, generator=generator, dtype=anchor.dtype, device=anchor.device)
        logistic = torch.log(uniform) - torch.log1p(-uniform)
        return (logits + temperature * logistic > 0).long()


class StandardUniform(Distribution):
    """U[0, 1] per entry: log p = 0 inside the closed unit cube, −inf outside."""

    def log_prob(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """``(B, *shape)`` → ``(B,)``."""
        inside = (x >= 0) & (x <= 1)
        zeros = torch.zeros_like(x, dtype=self._anchor.dtype)
        return sum_except_batch(torch.where(inside, zeros, -math.inf))

    def sample(
        self,
        num_samples: int,
        context: Tensor | None = None,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``(num_samples, *shape)`` from U[0, 1); ``temperature`` has no effect."""
        anchor = self._anchor
        size = (num_samples, *self.shape)
        return draw_uniform(size, generator=generator, dtype=anchor.dtype, device=anchor.device)
