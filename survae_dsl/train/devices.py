"""The device a run trains on (``--device``), and moving batches there."""

from __future__ import annotations

import torch

from .errors import TrainError


def resolve_device(spec: str, local_rank: int | None = None) -> torch.device:
    """The torch device of ``--device`` (auto|cpu|cuda|cuda:N).

    ``auto`` is CUDA when it is available, else the CPU. Under ``torchrun`` (``local_rank`` given)
    ``auto`` and ``cuda`` take the process's own GPU, ``cuda:LOCAL_RANK``. Asking for CUDA where
    there is none, or for a GPU index the machine lacks, is a one-line TrainError.
    """
    if spec == "cpu" or (spec == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise TrainError(f"--device {spec}: CUDA is not available here (torch {torch.__version__}); use --device cpu")
    count = torch.cuda.device_count()
    if spec in ("auto", "cuda"):
        index = 0 if local_rank is None else local_rank
    else:
        if local_rank is not None:
            raise TrainError(f"--device {spec}: under torchrun each process takes its own GPU; pass --device cuda")
        index = int(spec.split(":", 1)[1])
    if index >= count:
        raise TrainError(f"--device {spec}: GPU {index} asked for, but this machine has {count}")
    return torch.device("cuda", index)


def device_label(device: torch.device) -> str:
    """``cpu``, or ``cuda:0 (NVIDIA H100 80GB HBM3)``: what metrics.json records."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)
