"""survae_dsl.nn: the PyTorch runtime that compiled ``.survae`` models import.

Imports only torch. Shapes exclude the batch axis; a transform's ``forward`` is the
inference direction and returns ``(z, ldj)`` with ``ldj`` of shape ``(batch,)``.
"""

from .actnorm import ActNorm
from .base import Distribution, Kind, Transform, eps_for, event_numel, sum_except_batch
from .couplings import AdditiveCoupling, AffineCoupling
from .distributions import HalfNormal, Normal, StandardNormal, StandardUniform
from .elementwise import Logit, Scale, Shift, Sigmoid, Softplus, SoftplusInv
from .model import Model, bits_per_dim, iw_log_prob
from .nets import MLP
from .structural import Reverse
from .surjections import Abs, Dequantize

__all__ = [
    "MLP",
    "Abs",
    "ActNorm",
    "AdditiveCoupling",
    "AffineCoupling",
    "Dequantize",
    "Distribution",
    "HalfNormal",
    "Kind",
    "Logit",
    "Model",
    "Normal",
    "Reverse",
    "Scale",
    "Shift",
    "Sigmoid",
    "Softplus",
    "SoftplusInv",
    "StandardNormal",
    "StandardUniform",
    "Transform",
    "bits_per_dim",
    "eps_for",
    "event_numel",
    "iw_log_prob",
    "sum_except_batch",
]
