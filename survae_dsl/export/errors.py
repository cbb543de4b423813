"""The one error type of exporting: a message of one line for the user."""

from __future__ import annotations

__all__ = ["ExportError"]


class ExportError(Exception):
    """A model, an op or an argument that cannot be exported; the message is one line that
    names the op and its model-file line where one is to blame (``survae-export: error: ...``)."""
