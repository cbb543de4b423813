"""survae_dsl.nn: the PyTorch runtime that compiled ``.survae`` models import.

Imports only torch. Shapes exclude the batch axis; a transform's ``forward`` is the
inference direction and returns ``(z, ldj)`` with ``ldj`` of shape ``(batch,)``.
"""

# The declared types that generated modules' `input_types` are built from (standard library only).
from ..types import POSITIVE, REAL, UNIT, TensorType, integers, interval
from .actnorm import ActNorm
from .autoregressive import AffineAutoregressive, SplineAutoregressive
from .base import Distribution, Kind, Transform, eps_for, event_numel, sum_except_batch
from .batchnorm import BatchNorm
from .couplings import AdditiveCoupling, AffineCoupling, LogisticMixtureCoupling
from .dense_block import DenseBlock
from .distributions import (
    Bernoulli,
    Categorical,
    HalfNormal,
    LogitNormal,
    Normal,
    StandardHalfNormal,
    StandardNormal,
    StandardUniform,
    TruncatedNormal,
)
from .elementwise import Affine, Exp, Log, Logit, Scale, Shift, Sigmoid, Softplus, SoftplusInv
from .embed import Embed
from .linear import Conv1x1, Linear
from .made import MADE
from .model import AsDistribution, Model, bits_per_dim, iw_log_prob
from .nets import MLP, ConvNet, DenseNet, GatedConvNet, ResNet, Transformer
from .ordered import SortedToReal
from .splines import SplineCoupling
from .stochastic import VAE, StochasticPermutation
from .structural import Concat, Flatten, Reshape, Reverse, Shuffle, Split, Squeeze2d, Transpose, Unsqueeze2d
from .surjections import Abs, Augment, Dequantize, MaxPool, Slice, Sort
from .validation import set_validation, validation_enabled

__all__ = [
    "set_validation",
    "validation_enabled",
    "POSITIVE",
    "REAL",
    "UNIT",
    "TensorType",
    "integers",
    "interval",
    "MADE",
    "MLP",
    "VAE",
    "Abs",
    "AsDistribution",
    "ActNorm",
    "AdditiveCoupling",
    "Affine",
    "AffineAutoregressive",
    "AffineCoupling",
    "Augment",
    "BatchNorm",
    "Bernoulli",
    "Categorical",
    "Concat",
    "Conv1x1",
    "ConvNet",
    "DenseBlock",
    "DenseNet",
    "GatedConvNet",
    "Dequantize",
    "Embed",
    "Distribution",
    "Exp",
    "Flatten",
    "HalfNormal",
    "Kind",
    "Linear",
    "Log",
    "Logit",
    "LogitNormal",
    "LogisticMixtureCoupling",
    "MaxPool",
    "Model",
    "Normal",
    "ResNet",
    "Reshape",
    "Reverse",
    "Scale",
    "Shift",
    "Shuffle",
    "Sigmoid",
    "Slice",
    "Softplus",
    "SoftplusInv",
    "Sort",
    "SortedToReal",
    "SplineAutoregressive",
    "SplineCoupling",
    "Split",
    "Squeeze2d",
    "StandardHalfNormal",
    "StandardNormal",
    "StandardUniform",
    "TruncatedNormal",
    "StochasticPermutation",
    "Transform",
    "Transformer",
    "Transpose",
    "Unsqueeze2d",
    "bits_per_dim",
    "eps_for",
    "event_numel",
    "iw_log_prob",
    "sum_except_batch",
]
