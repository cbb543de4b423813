"""Data-parallel training over several processes (``torchrun``): the process group, the
distributed batch order, agreement between ranks, and a teardown that cannot abort.

A process started by ``torchrun`` finds RANK, WORLD_SIZE and LOCAL_RANK (and the rendezvous
address) in its environment; `process_group` joins the group (gloo on the CPU, NCCL on CUDA)
and leaves it whole. With WORLD_SIZE unset or 1 everything here is the single-process identity.
"""

from __future__ import annotations

import gc
import hashlib
import os
import re
import signal
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch
from torch import Tensor

from .errors import TrainError

# How long a collective waits for the other processes before it fails. A process that dies
# closes its sockets, so its peers usually fail at once; this bounds the other cases (a hung
# machine). It must exceed rank 0's end-of-epoch evaluation, which the others wait for.
DEFAULT_TIMEOUT = timedelta(minutes=30)
TIMEOUT_VARIABLE = "SURVAE_DIST_TIMEOUT"  # seconds, to override DEFAULT_TIMEOUT


@dataclass(frozen=True)
class Cluster:
    """This process's place in the group: ``rank`` of ``world_size`` (0 of 1 when alone).

    ``device`` is where the collectives' tensors live (the CPU for gloo, the GPU for NCCL).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int | None = None
    device: torch.device = torch.device("cpu")

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes checkpoints, metrics, plots, the bundle and logs."""
        return self.rank == 0

    def sum(self, values: list[float]) -> list[float]:
        """Each value summed over the processes (float64); one collective."""
        if not self.distributed:
            return list(values)
        import torch.distributed as dist

        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        with collective():
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor.tolist()

    def sum_tensor(self, tensor: Tensor) -> Tensor:
        """``tensor`` summed over the processes (a new tensor; any shape, any device of the group)."""
        if not self.distributed:
            return tensor
        import torch.distributed as dist

        total = tensor.detach().clone()
        with collective():
            dist.all_reduce(total, op=dist.ReduceOp.SUM)
        return total

    def agree_stop(self, signum: int | None, *more: float) -> tuple[int | None, list[float]]:
        """The stop signal any process received (SIGINT before SIGTERM), and ``more`` summed:
        each step makes one collective of both, so that every process stops at the same step."""
        flags = [float(signum == signal.SIGINT), float(signum == signal.SIGTERM)]
        total = self.sum([*flags, *more])
        agreed = signal.SIGINT if total[0] > 0 else signal.SIGTERM if total[1] > 0 else None
        return agreed, total[2:]

    def barrier(self) -> None:
        """Wait until every process reaches this point."""
        if self.distributed:
            import torch.distributed as dist

            with collective():
                dist.barrier()


# Words of the errors that gloo and NCCL raise (as plain RuntimeErrors) when a peer is gone.
_TRANSPORT_WORDS = ("gloo", "nccl", "connection closed", "connection reset", "broken pipe", "timed out", "timeout")


class PeerFailure(RuntimeError):
    """A collective failed: another process of the run died, or stopped answering."""


def is_peer_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is a failed collective (`PeerFailure`, torch's DistError, or a transport's
    RuntimeError, as DistributedDataParallel's gradient all-reduce raises it)."""
    import torch.distributed as dist

    if isinstance(exc, (PeerFailure, dist.DistError)):
        return True
    return isinstance(exc, RuntimeError) and any(word in str(exc).lower() for word in _TRANSPORT_WORDS)


@contextmanager
def collective() -> Iterator[None]:
    """Around a collective call: its failure becomes a `PeerFailure`."""
    try:
        yield
    except RuntimeError as exc:
        raise PeerFailure(_first_line(exc)) from None


def environment() -> tuple[int, int, int | None]:
    """(RANK, WORLD_SIZE, LOCAL_RANK) as torchrun sets them; (0, 1, None) outside torchrun."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = os.environ.get("LOCAL_RANK")
        local_rank = int(local) if local is not None else None
    except ValueError as exc:
        raise TrainError(f"bad torchrun environment (RANK, WORLD_SIZE, LOCAL_RANK): {exc}") from None
    if world < 1 or not 0 <= rank < world:
        raise TrainError(f"bad torchrun environment: RANK={rank}, WORLD_SIZE={world}")
    return rank, world, local_rank


def timeout() -> timedelta:
    """The collectives' timeout: SURVAE_DIST_TIMEOUT seconds, else DEFAULT_TIMEOUT."""
    text = os.environ.get(TIMEOUT_VARIABLE)
    if not text:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(text)
    except ValueError:
        raise TrainError(f"{TIMEOUT_VARIABLE}={text!r}: expected a number of seconds") from None
    return timedelta(seconds=seconds)


@contextmanager
def process_group(resolve: Callable[[int | None], torch.device]) -> Iterator[tuple[Cluster, torch.device]]:
    """Join the torchrun process group, if there is one, for the ``with`` block; leave it whole.

    ``resolve(local_rank)`` gives the training device (it may raise TrainError, before any
    group exists). Yields this process's `Cluster` and that device. The group is created here
    and destroyed on the way out, even when the block raises; a group the caller created
    beforehand (a notebook) is used as it is and left alone.

    Teardown, the way tests/test_ddp.py found it must be done: a gloo worker thread that drops
    the last reference to a finished collective's tensor needs the GIL; during interpreter
    shutdown it cannot have it, and the process aborts ("terminate called without an active
    exception"). So the group must really be destroyed while the interpreter is whole, which
    needs nothing but torch.distributed's registry to hold it: torch.distributed.nn is imported
    before the group exists (its functions' ``group=group.WORLD`` defaults, evaluated at import,
    would hold it for ever); the caller drops its DistributedDataParallel model; the frames of
    an exception's traceback, which hold that model, are cleared; cycles are collected; then
    ``destroy_process_group`` joins gloo's threads.
    """
    rank, world, local_rank = environment()
    device = resolve(local_rank if world > 1 or local_rank is not None else None)
    if world == 1:
        yield Cluster(device=device), device
        return
    import torch.distributed as dist
    import torch.distributed.nn  # noqa: F401  - before the group exists (see above)

    owned = not dist.is_initialized()
    if owned:
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        try:
            dist.init_process_group(backend, timeout=timeout(), rank=rank, world_size=world)
        except (RuntimeError, ValueError) as exc:
            raise TrainError(f"cannot join the process group (rank {rank} of {world}): {_first_line(exc)}") from None
    comm = device if dist.get_backend() == "nccl" else torch.device("cpu")
    try:
        yield Cluster(rank, world, local_rank, comm), device
    except BaseException as exc:
        # The traceback's frames hold the DDP model (and through it the group): clear them.
        if exc.__traceback__ is not None:
            traceback.clear_frames(exc.__traceback__)
        raise
    finally:
        if owned:
            gc.collect()
            dist.destroy_process_group()


def peer_failure(exc: BaseException, cluster: Cluster) -> TrainError:
    """The one-line error of a collective that failed because another process stopped."""
    return TrainError(
        f"process {cluster.rank} of {cluster.world_size}: another process of the run stopped ({_first_line(exc)[:160]})"
    )


def _first_line(exc: BaseException) -> str:
    """The first line of an exception's message, without the source location that gloo puts first."""
    text = re.sub(r"^\[[^\]]*\.(cc|cpp|h):\d+\]\s*", "", str(exc).strip())
    return text.splitlines()[0] if text else type(exc).__name__


def mixed_seed(*keys: int) -> int:
    """A 63-bit seed that depends on every key (a hash, so that nearby keys give unrelated streams)."""
    digest = hashlib.blake2b(repr(keys).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def epoch_order(n: int, seed: int, epoch: int) -> Tensor:
    """The permutation of the ``n`` training examples in epoch ``epoch`` (0-based): a function of
    (seed, epoch) alone, so every process, any number of them, and a resumed run agree on it."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(mixed_seed(seed, epoch)))


class ShardedBatches(torch.utils.data.Sampler[list[int]]):
    """The batch sampler of one process: in epoch e, global batch b holds the examples
    ``order[b·B:(b+1)·B]`` of ``epoch_order(n, seed, e)``, and rank r takes its share of it, the
    r-th of ``world_size`` near-equal contiguous parts (`torch.tensor_split`; the first B mod N
    processes take one example more). `set_epoch` picks
    the epoch and the global batch to start at (a resumed epoch); the DataLoader (its
    ``batch_sampler``) then yields lists of example indices, one per step.
    """

    def __init__(self, n: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1) -> None:
        self.n, self.batch_size, self.seed, self.rank, self.world_size = n, batch_size, seed, rank, world_size
        self.batches = -(-n // batch_size)
        self.set_epoch(0, 0)

    def set_epoch(self, epoch: int, start: int) -> None:
        """Iterate over epoch ``epoch`` from global batch ``start`` on."""
        self.order = epoch_order(self.n, self.seed, epoch)
        self.start = start

    def global_batch(self, b: int) -> Tensor:
        """The indices of global batch ``b`` (all processes together)."""
        return self.order[b * self.batch_size : (b + 1) * self.batch_size]

    def share(self, b: int) -> list[int]:
        """This process's examples of global batch ``b``: empty when the batch (an epoch's last,
        smaller one) has fewer examples than there are processes and this rank is one too many."""
        share: list[int] = self.global_batch(b).tensor_split(self.world_size)[self.rank].tolist()
        return share

    def __iter__(self) -> Iterator[list[int]]:
        for b in range(self.start, self.batches):
            # An empty share still takes part in the step (the collectives need every process):
            # it computes the batch's first example, which the loop weighs by 0 (`padding`).
            yield self.share(b) or self.global_batch(b)[:1].tolist()

    def padding(self, b: int) -> bool:
        """Whether this process's batch ``b`` is the stand-in for an empty share (weight 0)."""
        return not self.share(b)

    def __len__(self) -> int:
        return self.batches - self.start


def noise_seed(seed: int, step: int, rank: int) -> int:
    """The seed of the noise one process draws in one step (dequantization, stochastic layers):
    keyed by (seed, step, rank), so that a resumed run draws the same noise as an uninterrupted
    one without saving any generator state, and the processes draw independent noise."""
    return mixed_seed(seed, step, rank)
