"""Python identifiers for generated code that a model file cannot subvert.

User names (models, tensors) become Python identifiers only through a `Namespace`, which
refuses keywords, soft keywords, builtins and the names generated code itself relies on
(including the `impl_` prefix of the modules user transforms import), and
keeps every name unique by adding a suffix.
"""

from __future__ import annotations

import builtins
import keyword
import re

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# Names the generated module and its methods use themselves.
GENERATED_NAMES = frozenset(
    {
        "torch",
        "snn",
        "self",
        "log_p",
        "ldj",
        "valid",
        "validate_args",
        "n",
        "num_samples",
        "temperature",
        "generator",
        "annotations",
        "MODELS",
    }
)
RESERVED = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | frozenset(dir(builtins)) | GENERATED_NAMES


class Namespace:
    """Hands out unique, safe identifiers."""

    def __init__(self, reserved: frozenset[str] = RESERVED) -> None:
        self._taken: set[str] = set(reserved)
        self._given: dict[str, str] = {}

    def name(self, wanted: str) -> str:
        """The identifier for `wanted` (the same answer for the same `wanted`)."""
        if wanted in self._given:
            return self._given[wanted]
        base = wanted if _IDENTIFIER.match(wanted) and wanted.isascii() else "v"
        if base.startswith(("__", "impl_")):
            # dunder names have meanings of their own in Python; `impl_...` names the modules
            # of user transforms (user_transforms.impl_alias)
            base = "v" + base
        candidate, k = base, 0
        while candidate in self._taken:
            k += 1
            candidate = f"{base}_" if k == 1 else f"{base}_{k}"
        self._taken.add(candidate)
        self._given[wanted] = candidate
        return candidate


def is_identifier(text: str) -> bool:
    return bool(_IDENTIFIER.match(text)) and text.isascii() and not keyword.iskeyword(text)
