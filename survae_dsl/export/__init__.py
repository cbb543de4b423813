"""survae-export: a compiled model's ``log_prob`` or ``sample`` as a ``torch.export`` program
(``.pt2``) or an ONNX model, every random draw an explicit input (docs/export.md)."""

from __future__ import annotations

from .compare import Difference
from .core import ExportReport, Format, export_model
from .errors import ExportError
from .program import DataInput, NoiseInput, Signature, What, signature_of

__all__ = [
    "DataInput",
    "Difference",
    "ExportError",
    "ExportReport",
    "Format",
    "NoiseInput",
    "Signature",
    "What",
    "export_model",
    "signature_of",
]
