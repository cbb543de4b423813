"""``.pt2``: the traced program saved by ``torch.export.save`` and checked through ``torch.export.load``."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Sequence

import torch
from torch import Tensor
from torch.export import ExportedProgram

from .program import Signature

__all__ = ["pt2_bytes", "pt2_runner"]

# The extra file of a .pt2 archive holding the signature (JSON, as in the ONNX metadata).
SIGNATURE_FILE = "survae_signature.json"


def pt2_bytes(program: ExportedProgram, signature: Signature) -> bytes:
    """The ``.pt2`` archive of ``program`` with the signature as an extra file."""
    buffer = io.BytesIO()
    torch.export.save(program, buffer, extra_files={SIGNATURE_FILE: json.dumps(signature.to_json())})
    return buffer.getvalue()


def pt2_runner(archive: bytes) -> Callable[[Sequence[Tensor]], list[Tensor]]:
    """Load the archive with ``torch.export.load``; the returned function runs it on inputs
    (data then noise) and returns its outputs."""
    module = torch.export.load(io.BytesIO(archive)).module()

    def run(inputs: Sequence[Tensor]) -> list[Tensor]:
        with torch.no_grad():
            out = module(*inputs)
        return list(out) if isinstance(out, (tuple, list)) else [out]

    return run
