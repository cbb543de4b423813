"""The base class of compiled models and the helpers that evaluate them."""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal, Protocol, cast

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from ..types import TensorType
from .functional import int_context
from .validation import check_static, validation_enabled, value_mask

__all__ = ["AsDistribution", "Model", "bits_per_dim", "iw_log_prob"]

# iw_log_prob evaluates at most this many input entries at once (all inputs together).
_IW_CHUNK_ENTRIES = 1 << 22


class Model(nn.Module):
    """Base of every generated model class.

    Subclasses set ``likelihood`` (``"exact"`` or ``"lower_bound"``) and define
    ``log_prob(*inputs, **contexts) -> (B,)`` and ``sample(num_samples=None, ...)``.
    Calling the module is ``log_prob``.
    """

    likelihood: ClassVar[Literal["exact", "lower_bound"]]
    input_names: ClassVar[tuple[str, ...]] = ()
    input_types: ClassVar[dict[str, TensorType]] = {}
    context_names: ClassVar[tuple[str, ...]] = ()
    context_types: ClassVar[dict[str, TensorType]] = {}
    _anchor: Tensor

    def __init__(self, *, validate_args: bool | None = None) -> None:
        """``validate_args``: check inputs and contexts against their declared types (True),
        skip the checks (False), or follow :func:`survae_dsl.nn.set_validation` (None)."""
        super().__init__()
        self.validate_args = validate_args
        # Fixes the model's float dtype and device even without parameters; not saved.
        self.register_buffer("_anchor", torch.zeros(()), persistent=False)

    @property
    def validating(self) -> bool:
        """Whether calls check their inputs (this model's setting, else the global one)."""
        return validation_enabled() if self.validate_args is None else self.validate_args

    def _check_inputs(self, inputs: tuple[Tensor, ...], contexts: tuple[Tensor | None, ...] = ()) -> Tensor | None:
        """Validate ``log_prob``'s arguments (docs/language.md, The compiled module).

        Static facts raise a ValueError naming the input; so do out-of-domain values in eager
        mode. While compiling, returns the ``(B,)`` mask of examples inside their domains (the
        caller gives −inf elsewhere); None when every example is checked or checks are off.
        """
        if not self.validating:
            return None
        self._require(contexts)
        names = (*self.input_names, *self.context_names)
        types = [*(self.input_types[n] for n in self.input_names), *(self.context_types[n] for n in self.context_names)]
        values = (*inputs, *contexts)
        check_static(names, types, values)
        return value_mask(names, types, cast(tuple[Tensor, ...], values))

    def _check_contexts(self, contexts: tuple[Tensor | None, ...]) -> None:
        """Validate ``sample``'s contexts. Out-of-domain values raise in eager mode; while
        compiling they are not checked (a draw has no density to set to −inf)."""
        if not self.validating:
            return
        self._require(contexts)
        types = [self.context_types[n] for n in self.context_names]
        check_static(self.context_names, types, contexts)
        value_mask(self.context_names, types, cast(tuple[Tensor, ...], contexts))

    def _require(self, contexts: tuple[Tensor | None, ...]) -> None:
        for name, value in zip(self.context_names, contexts, strict=True):
            if value is None:
                raise ValueError(f"{type(self).__name__} is conditioned on the context `{name}`: pass {name}=...")

    @staticmethod
    def _where_valid(log_p: Tensor, valid: Tensor | None) -> Tensor:
        """``log_p``, with −inf for the examples outside their declared domains."""
        return log_p if valid is None else torch.where(valid, log_p, torch.full_like(log_p, -math.inf))

    def forward(self, *args: Any, **kwargs: Any) -> Tensor:
        """Same as :meth:`log_prob`."""
        return self.log_prob(*args, **kwargs)

    def log_prob(self, *inputs: Any, **contexts: Any) -> Tensor:
        """Per-example log-likelihood (or its lower bound) in nats, ``(B,)``."""
        raise NotImplementedError("log_prob is defined by the compiled model class")

    def sample(self, num_samples: int | None = None, **kwargs: Any) -> Any:
        """Draws of the declared inputs; defined by the compiled model class."""
        raise NotImplementedError("sample is defined by the compiled model class")

    def _zeros(self, x: Tensor) -> Tensor:
        """``(x.shape[0],)`` zeros in the model's float dtype and device: an ldj accumulator."""
        return torch.zeros(x.shape[0], dtype=self._anchor.dtype, device=self._anchor.device)

    def _num_samples(self, num_samples: int | None, *contexts: Tensor) -> int:
        """Validate ``sample``'s ``num_samples``: ``None`` means 1, or the contexts' batch.

        With contexts (``(B, ...)`` each) one example is drawn per row; they must agree on B,
        and ``num_samples``, if given, must equal it.
        """
        if not contexts:
            return 1 if num_samples is None else _positive_int(num_samples, "num_samples")
        batch = contexts[0].shape[0]
        if any(c.shape[0] != batch for c in contexts):
            raise ValueError(f"the contexts disagree on the batch size: {[c.shape[0] for c in contexts]}")
        if num_samples is not None and num_samples != batch:
            raise ValueError(f"num_samples={num_samples!r} but the contexts hold {batch} rows: one sample per row")
        return batch

    def _context(self, value: Tensor | None, name: str, num_classes: int | None = None) -> Tensor:
        """A declared context, required: the model is conditioned on it.

        An ``int<K>`` context given as integers becomes the cell centres (2x + 1)/K − 1 that
        nets read; one given as floats is taken as already converted (an op such as
        ``dequantize`` passes its input that way to an encoder model).
        """
        if value is None:
            raise ValueError(f"{type(self).__name__} is conditioned on the context `{name}`: pass {name}=...")
        if num_classes is not None and not value.is_floating_point():
            return int_context(value, num_classes, dtype=self._anchor.dtype)
        return value

    def initialize(self, *inputs: Any, **contexts: Any) -> None:
        """Data-dependent initialisation (``actnorm``) from a batch of inputs.

        Runs ``log_prob`` once without gradients; just before each initialisable layer runs
        for the first time, it is initialised from the input it is about to see. Layers are
        reached in evaluation order, so each sees the output of already-initialised layers.
        """
        handles: list[RemovableHandle] = []
        try:
            for module in _initializable(self):
                hook = _InitializeOnce()
                hook.handle = module.register_forward_pre_hook(hook, with_kwargs=True)
                handles.append(hook.handle)
            with torch.no_grad():
                self.log_prob(*inputs, **contexts)
        finally:
            for handle in handles:
                handle.remove()


def _initializable(model: Model) -> list[nn.Module]:
    """Submodules with an ``initialize(x)`` method (``ActNorm``), found recursively.

    Models used as distributions are skipped themselves (their ``initialize`` re-runs a
    whole ``log_prob``) but their layers are reached through the recursion.
    """
    return [
        module
        for module in model.modules()
        if not isinstance(module, Model) and callable(getattr(module, "initialize", None))
    ]


class _Initializable(Protocol):
    def initialize(self, x: Tensor) -> None: ...


class _InitializeOnce:
    """Forward pre-hook: initialise the layer from its first input, then detach itself."""

    def __init__(self) -> None:
        # Set right after registration: the handle exists only once the hook is registered.
        self.handle: RemovableHandle | None = None

    def __call__(self, layer: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        x = args[0] if args else kwargs["x"]
        cast(_Initializable, layer).initialize(x)  # hooked on `_initializable` modules only
        if self.handle is not None:
            self.handle.remove()


def iw_log_prob(model: Model, *inputs: Tensor, k: int, **contexts: Any) -> Tensor:
    """Importance-weighted bound log (1/k) Σᵢ exp(log_prob⁽ⁱ⁾(x)) with k one-sample estimates.

    ``inputs`` and tensor ``contexts`` are ``(B, ...)``; the result is ``(B,)``. Each example
    is evaluated k times in one batch (in chunks when k·B inputs are large). For an exact
    model every estimate is the same and the bound equals ``log_prob``.
    """
    k = _positive_int(k, "k")
    batch = _batch_size(inputs, contexts)
    copies_per_chunk = max(1, _IW_CHUNK_ENTRIES // max(1, _entries(inputs, contexts)))
    chunks = []
    for start in range(0, k, copies_per_chunk):
        copies = min(copies_per_chunk, k - start)
        tiled_contexts = {name: _tile(value, copies) for name, value in contexts.items()}
        log_prob = model.log_prob(*(_tile(x, copies) for x in inputs), **tiled_contexts)
        # _tile stacks whole batches, so row c·B + b is copy c of example b.
        chunks.append(log_prob.reshape(copies, batch))
    return torch.logsumexp(torch.cat(chunks, dim=0), dim=0) - math.log(k)


def bits_per_dim(log_prob: Tensor, x: Tensor) -> Tensor:
    """−log_prob / (log 2 · D) for ``log_prob`` ``(B,)`` in nats and ``x`` ``(B, ...)`` with D
    entries per example: ``(B,)`` bits per dimension."""
    return -log_prob / (math.log(2.0) * math.prod(x.shape[1:]))


def _positive_int(value: Any, name: str) -> int:
    """``value`` if it is a positive int (not a bool), else a ValueError naming ``name``.

    A symbolic size (``torch.SymInt``, a batch size while exporting a ``sample`` program) counts
    as an int: the exported program is only valid for the sizes its constraints allow."""
    if isinstance(value, bool) or not isinstance(value, (int, torch.SymInt)) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return cast(int, value)  # a SymInt stands for an int


def _batch_size(inputs: tuple[Tensor, ...], contexts: dict[str, Any]) -> int:
    """The batch size shared by the inputs (or, without inputs, the tensor contexts)."""
    tensors = [t for t in (*inputs, *contexts.values()) if isinstance(t, Tensor)]
    if not tensors:
        raise ValueError("iw_log_prob needs at least one input tensor")
    return tensors[0].shape[0]


def _entries(inputs: tuple[Tensor, ...], contexts: dict[str, Any]) -> int:
    """Total entries of one copy of every tensor argument (sizes the evaluation chunks)."""
    return sum(t.numel() for t in (*inputs, *contexts.values()) if isinstance(t, Tensor))


def _tile(value: Any, copies: int) -> Any:
    """``(B, ...)`` → ``(copies·B, ...)``, whole batches stacked; non-tensors pass through."""
    if not isinstance(value, Tensor):
        return value
    return value.repeat(copies, *([1] * (value.dim() - 1)))


class AsDistribution(nn.Module):
    """A compiled model used as a distribution by another (docs/language.md, What the checker enforces): a prior after
    `~`, or an op's encoder or decoder.

    ``log_prob(x, context)`` and ``sample(n, context, ...)`` follow the distribution protocol
    of the runtime; ``context``, if the model declares one, is passed as its keyword
    ``context_name``. Each use owns its model, so each use has its own parameters.
    """

    def __init__(self, model: Model, context_name: str | None = None) -> None:
        super().__init__()
        # What it is given are values inside the outer model, not user data: the outer model
        # validated the data, and an int<K> context arrives already converted to floats.
        model.validate_args = False
        self.model = model
        self.context_name = context_name

    def _contexts(self, context: Tensor | None) -> dict[str, Tensor]:
        if self.context_name is None:
            return {}
        if context is None:
            raise ValueError(
                f"{type(self.model).__name__} is used with a context `{self.context_name}`; none was given"
            )
        return {self.context_name: context}

    def log_prob(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """``(B, *shape)`` → ``(B,)``: the model's log_prob (a lower bound if the model is one)."""
        return self.model.log_prob(x, **self._contexts(context))

    def sample(
        self,
        num_samples: int,
        context: Tensor | None = None,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``(num_samples, *shape)``; with a context, one sample per context row."""
        contexts = self._contexts(context)
        count = None if contexts else num_samples
        # Model.sample is typed Any (a model of several inputs draws a tuple); a used model has one.
        draw: Tensor = self.model.sample(count, **contexts, temperature=temperature, generator=generator)
        return draw

    def sample_with_log_prob(
        self,
        num_samples: int,
        context: Tensor | None = None,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor]:
        """A draw and its log-density (reparameterised: gradients reach the model)."""
        x = self.sample(num_samples, context, temperature=temperature, generator=generator)
        return x, self.log_prob(x, context)
