"""``--tensorboard DIR``: the run's curves and sample grids as TensorBoard event files.

torch's `SummaryWriter` needs the optional ``tensorboard`` package; it is imported only when the
option is given. Only rank 0 logs (the other processes get no logger).
"""

from __future__ import annotations

import math
from pathlib import Path
from types import TracebackType
from typing import Any

from torch import Tensor

from .errors import TrainError

# The scalar tags written at every step (and read back by the tests).
LOSS, BITS, LR, GRAD_NORM = "train/loss_nats", "train/bits_per_dim", "train/lr", "train/grad_norm"
TEST_BITS = "test/bits_per_dim"  # per epoch, the held-out bits/dim
SAMPLES = "samples"  # per epoch, the image of sample_grid


def require_tensorboard() -> None:
    """Fail early, in one line, when the ``tensorboard`` package is missing."""
    try:
        import tensorboard  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:
        raise TrainError("--tensorboard needs the tensorboard package: pip install 'survae-dsl[tensorboard]'") from None


class TensorBoardLog:
    """A `SummaryWriter` on ``folder``: per-step scalars, per-epoch held-out figure and samples.

    ``dimensions`` is the D of bits/dim (the input's size). The step axis is the global step
    count, so the curves of a resumed run continue where they stopped.
    """

    def __init__(self, folder: Path, dimensions: int) -> None:
        require_tensorboard()
        from torch.utils.tensorboard import SummaryWriter

        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TrainError(f"cannot create the TensorBoard folder {folder}: {exc.strerror or exc}") from None
        self.writer: Any = SummaryWriter(log_dir=str(folder))
        self.bits = math.log(2) * dimensions

    def step(self, step: int, loss: float, lr: float, grad_norm: float) -> None:
        """The scalars of step ``step`` (1-based): loss in nats, bits/dim, learning rate, gradient norm."""
        self.writer.add_scalar(LOSS, loss, step)
        self.writer.add_scalar(BITS, loss / self.bits, step)
        self.writer.add_scalar(LR, lr, step)
        self.writer.add_scalar(GRAD_NORM, grad_norm, step)

    def epoch(self, step: int, test_bits_per_dim: float | None, grid: Tensor | None) -> None:
        """At an epoch's end: the held-out bits/dim, and a (3, H, W) image in [0, 1] of samples."""
        if test_bits_per_dim is not None:
            self.writer.add_scalar(TEST_BITS, test_bits_per_dim, step)
        if grid is not None:
            self.writer.add_image(SAMPLES, grid.detach().float().cpu().clamp(0, 1), step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()

    def __enter__(self) -> TensorBoardLog:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()
