"""Stand-in for torchvision.utils: the reference only saves image grids with it."""

from typing import Any


def save_image(*args: Any, **kwargs: Any) -> None:
    """Not needed by the cross-check; raises if ever called."""
    raise NotImplementedError("torchvision stand-in: save_image is not available")


def make_grid(*args: Any, **kwargs: Any) -> Any:
    """Not needed by the cross-check; raises if ever called."""
    raise NotImplementedError("torchvision stand-in: make_grid is not available")
