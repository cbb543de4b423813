"""A folder of PNG/JPEG images as ``int<K>[C, H, W]`` examples (Pillow, imported when a folder is read).

The files are taken in sorted order of their names (with class sub-folders: by sub-folder name,
then file name). Either every image lies
directly in the folder, or every image lies in a sub-folder one level down: then each
sub-folder is a class, numbered 0, 1, … in sorted order of the sub-folder names, and the class
can be a model's context ``int<K>[1]``. Other files (a README, .DS_Store) are skipped.

A file's channels are its own: grayscale (Pillow modes 1, L, I;16, I) 1, grayscale with alpha
2, colour 3 (RGB; palette, CMYK and YCbCr images are converted to RGB), colour with alpha 4
(RGBA, or a palette image with transparency). A model that declares 3 channels also reads
grayscale files, their gray copied to R, G and B; every other difference is a mismatch.

`scan_folder` lists the files; `check_images` opens every file's header before training and
refuses the first whose C×H×W differs from the declared type, naming it; it decodes the files
(one at a time) only when their values could reach K: 8-bit images under a declared K < 256,
and 16- or 32-bit images always. `ImageColumn` decodes the images a batch asks for.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from .errors import TrainError
from .examples import Column
from .model_input import InputType

if TYPE_CHECKING:
    import numpy as np

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg"})
# Pillow modes whose values are 8-bit (0..255) after conversion; others (I;16, I) may be larger.
EIGHT_BIT_MODES = frozenset({"1", "L", "P", "LA", "RGB", "RGBA", "CMYK", "YCbCr"})


@dataclass(frozen=True)
class ImageFolder:
    """The images of a folder: ``files`` relative to ``root`` in sorted order; with class
    sub-folders, ``classes`` (sorted) and each file's class index in ``labels``."""

    root: Path
    files: tuple[str, ...]
    classes: tuple[str, ...] = ()
    labels: tuple[int, ...] = ()


def scan_folder(root: Path, classes: tuple[str, ...] | None = None) -> ImageFolder:
    """The images of ``root`` (see the module's docstring); ``classes`` fixes the class numbering
    (a held-out folder numbered as its training folder). One-line TrainError for a folder with
    no images, with both loose images and sub-folders, or with a class not in ``classes``."""
    entries = sorted(os.scandir(root), key=lambda entry: entry.name)
    loose = [e.name for e in entries if e.is_file() and _is_image(e.name)]
    folders = [e.name for e in entries if e.is_dir() and not e.name.startswith(".")]
    with_images = [name for name in folders if any(_is_image(f) for f in sorted(os.listdir(root / name)))]
    if loose and with_images:
        raise TrainError(
            f"{root}: holds both images ({loose[0]}, …) and sub-folders of images ({with_images[0]}/, …): "
            "put every image in a class sub-folder, or none"
        )
    if loose:
        return ImageFolder(root, tuple(loose))
    if not with_images:
        raise TrainError(f"{root}: no PNG or JPEG images in the folder or its sub-folders")
    numbering = tuple(with_images) if classes is None else classes
    unknown = [name for name in with_images if name not in numbering]
    if unknown:
        raise TrainError(
            f"{root}: class sub-folder {unknown[0]}/ is not a class of the training folder ({', '.join(numbering)})"
        )
    files: list[str] = []
    labels: list[int] = []
    for name in with_images:
        names = sorted(f for f in os.listdir(root / name) if _is_image(f) and (root / name / f).is_file())
        files += [f"{name}/{f}" for f in names]
        labels += [numbering.index(name)] * len(names)
    return ImageFolder(root, tuple(files), numbering, tuple(labels))


def _is_image(name: str) -> bool:
    return not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES


def open_image(path: Path) -> Any:
    """``PIL.Image.open(path)`` (the header only); a missing Pillow is one line naming the extra."""
    try:
        from PIL import Image
    except ImportError:
        raise TrainError("reading a folder of images needs Pillow: pip install 'survae-dsl[train]'") from None
    return Image.open(path)


def file_channels(image: Any) -> int:
    """The channels a file gives (see the module's docstring); TrainError's text as ValueError."""
    mode = image.mode
    if mode in ("1", "L", "I", "F") or mode.startswith("I;16"):
        if mode == "F":
            raise ValueError("holds floating-point pixels (mode F), not integers")
        return 1
    if mode in ("LA", "La"):
        return 2
    if mode == "P":
        return 4 if "transparency" in image.info else 3
    if mode in ("RGB", "CMYK", "YCbCr"):
        return 3
    if mode in ("RGBA", "RGBa"):
        return 4
    raise ValueError(f"has Pillow mode {mode}, which is not a grayscale or colour image")


def decode(path: Path, channels: int) -> np.ndarray:
    """The pixels of ``path`` as an integer array ``(channels, H, W)`` (gray copied to 3 channels
    when ``channels`` is 3 and the file is grayscale)."""
    import numpy as np

    with open_image(path) as image:
        own = file_channels(image)
        mode = image.mode
        if mode == "1":
            image = image.convert("L")
        elif mode == "P":
            image = image.convert("RGBA" if own == 4 else "RGB")
        elif mode in ("CMYK", "YCbCr"):
            image = image.convert("RGB")
        pixels = np.asarray(image)
    if pixels.ndim == 2:
        pixels = pixels[None]
    else:
        pixels = np.moveaxis(pixels, -1, 0)
    if pixels.shape[0] == 1 and channels == 3:
        pixels = np.repeat(pixels, 3, axis=0)
    return pixels


def check_images(folder: ImageFolder, declared: InputType, where: str) -> None:
    """Refuse (one line naming the file) the first image whose C×H×W differs from ``declared``
    (``int<K>[C, H, W]``), or that holds a value ≥ K; ``where`` starts the message."""
    if not declared.domain.is_discrete or len(declared.shape) != 3:
        raise TrainError(
            f"{where}: a folder of images gives int<256>[C, H, W] data, but the model reads {declared}: "
            "declare the input as int<K>[C, H, W] (and dequantize it in the model)"
        )
    channels, height, width = declared.shape
    classes = declared.domain.classes
    for i, name in enumerate(folder.files):
        path = folder.root / name
        try:
            with open_image(path) as image:
                own = file_channels(image)
                size = image.size  # (width, height)
                eight_bit = image.mode in EIGHT_BIT_MODES
        except (OSError, ValueError, SyntaxError) as exc:  # PIL raises these for a broken file
            raise TrainError(f"{where}: cannot read file {i} ({name}) as an image: {exc}") from None
        fits = own == channels or (own == 1 and channels == 3)
        if not fits or size != (width, height):
            raise TrainError(f"{where}: expected {declared}, file {i} ({name}) is {own}×{size[1]}×{size[0]}")
        if classes < 256 or not eight_bit:
            pixels = decode(path, channels)
            high, low = int(pixels.max()), int(pixels.min())
            if high >= classes or low < 0:
                raise TrainError(
                    f"{where}: expected {declared} (values 0..{classes - 1}), file {i} ({name}) holds values "
                    f"{low}..{high}"
                )


class ImageColumn(Column):
    """Images decoded when a batch asks for them, int64 ``(B, C, H, W)``; checked by `check_images`."""

    def __init__(self, folder: ImageFolder, shape: tuple[int, int, int]) -> None:
        self.folder, self.shape = folder, shape

    def __len__(self) -> int:
        return len(self.folder.files)

    def take(self, index: np.ndarray) -> Tensor:
        import numpy as np

        channels = self.shape[0]
        pixels = [decode(self.folder.root / self.folder.files[i], channels) for i in index.tolist()]
        stacked = np.stack(pixels) if pixels else np.zeros((0, *self.shape), dtype=np.int64)
        return torch.from_numpy(stacked.astype(np.int64))
