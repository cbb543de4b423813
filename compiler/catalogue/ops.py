"""Every transform of docs/catalogue.md, in the catalogue's order."""

from __future__ import annotations

from .base import OpEntry
from .ops_bijective import BIJECTIVE_OPS
from .ops_context import CONTEXT_OPS
from .ops_elementwise import ELEMENTWISE_OPS
from .ops_structural import STRUCTURAL_OPS
from .ops_surjective import SURJECTIVE_OPS

OPS: tuple[OpEntry, ...] = BIJECTIVE_OPS + STRUCTURAL_OPS + ELEMENTWISE_OPS + SURJECTIVE_OPS + CONTEXT_OPS
