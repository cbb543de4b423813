"""The examples of a run as a `torch.utils.data.Dataset`: one column per name (the model's input,
then its contexts), held in memory, read lazily from a memory-mapped ``.npy`` file or decoded
from image files; every column already checked against its declared type (`data_loading`).

An `ExampleSet` is picklable (a memory map is reopened in each process, never copied), so a
`DataLoader` with worker processes reads it; its `__getitems__` returns a whole batch, which
the identity `collate` passes through.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

if TYPE_CHECKING:
    import numpy as np


class Column(ABC):
    """The values of one name for every example: ``len(column)`` rows of shape ``shape``."""

    shape: tuple[int, ...]

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def take(self, index: np.ndarray) -> Tensor:
        """Rows ``index`` (int64 ``(B,)``, any order) as a CPU tensor ``(B, *shape)`` in the column's dtype."""


class TensorColumn(Column):
    """A column held in memory: a ``(N, *shape)`` tensor, already in the dtype the model reads."""

    def __init__(self, values: Tensor) -> None:
        self.values = values
        self.shape = tuple(values.shape[1:])

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def take(self, index: np.ndarray) -> Tensor:
        return self.values[torch.from_numpy(index)]


class MemmapColumn(Column):
    """A column read lazily from a ``.npy`` file opened with ``np.load(mmap_mode='r')``: only the
    rows asked for are read, converted to ``dtype`` (int64, or a float dtype) and reshaped to
    ``shape`` (a file of labels ``(N,)`` serves a context ``[1]``).

    Pickling keeps the path, not the map, so that a DataLoader worker opens its own."""

    def __init__(self, path: Path, rows: int, shape: tuple[int, ...], dtype: torch.dtype) -> None:
        self.path, self.rows, self.shape, self.dtype = path, rows, shape, dtype
        self._array: np.ndarray | None = None

    def __len__(self) -> int:
        return self.rows

    @property
    def array(self) -> np.ndarray:
        """The memory map, opened on first use in this process."""
        if self._array is None:
            import numpy as np

            self._array = np.load(self.path, mmap_mode="r", allow_pickle=False)
        return self._array

    def take(self, index: np.ndarray) -> Tensor:
        import numpy as np

        rows = np.asarray(self.array[index])  # fancy indexing reads just these rows into memory
        if rows.dtype.kind == "f":
            values = torch.from_numpy(rows)
        else:
            values = torch.from_numpy(rows.astype(np.int64, copy=False))
        return values.to(self.dtype).reshape(len(index), *self.shape)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_array": None}


class ExampleSet(Dataset[dict[str, Tensor]]):
    """Examples as dicts of tensors by name: ``names`` is the input's name, then the contexts'.

    ``columns`` hold the values of each name (all of the same length); ``rows`` (int64, default
    all) picks and orders the rows this set shows, so that a held-out part shares the columns.
    Values come back on the CPU in the dtype each column holds (int64 for ``int<K>``, the
    float dtype chosen when loading for the other domains).
    """

    def __init__(self, columns: Mapping[str, Column], rows: np.ndarray | None = None) -> None:
        import numpy as np

        lengths = {len(column) for column in columns.values()}
        if not lengths:
            raise ValueError("an ExampleSet needs at least one column")
        if len(lengths) != 1:
            raise ValueError(f"the columns of an ExampleSet differ in length: {sorted(lengths)}")
        self.columns = dict(columns)
        self.names: tuple[str, ...] = tuple(columns)
        self.rows: np.ndarray = np.arange(lengths.pop(), dtype=np.int64) if rows is None else rows

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        """Example ``i``: each value without a batch axis, ``shape`` of its column."""
        batch = self.__getitems__([i])
        return {name: value[0] for name, value in batch.items()}

    def __getitems__(self, indices: Sequence[int]) -> dict[str, Tensor]:
        """Examples ``indices`` as one batch: each value ``(len(indices), *shape)``."""
        import numpy as np

        positions = np.asarray(indices, dtype=np.int64)
        if positions.size and (positions.min() < -len(self) or positions.max() >= len(self)):
            raise IndexError(f"example index out of range for {len(self)} examples")
        rows = self.rows[positions]
        return {name: column.take(rows) for name, column in self.columns.items()}

    def head(self, n: int) -> dict[str, Tensor]:
        """The first ``min(n, len(self))`` examples as a batch."""
        return self.__getitems__(range(min(n, len(self))))

    def batches(self, size: int, limit: int | None = None) -> Iterator[dict[str, Tensor]]:
        """The first ``limit`` (default all) examples in order, ``size`` at a time."""
        end = len(self) if limit is None else min(limit, len(self))
        for start in range(0, end, size):
            yield self.__getitems__(range(start, min(start + size, end)))

    def subset(self, positions: np.ndarray) -> ExampleSet:
        """The examples at ``positions`` (int64, in that order), sharing this set's columns."""
        return ExampleSet(self.columns, self.rows[positions])

    def shape(self, name: str) -> tuple[int, ...]:
        """The shape of one example's value of ``name`` (no batch axis)."""
        return self.columns[name].shape


def collate(batch: Any) -> dict[str, Tensor]:
    """The DataLoader's ``collate_fn``: `ExampleSet.__getitems__` already returns the batch (a
    dict of ``(B, *shape)`` tensors), passed through. Typed ``Any`` because torch annotates a
    collate function as taking a list of examples, which it gets without ``__getitems__``."""
    assert isinstance(batch, dict), "collate goes with ExampleSet, whose __getitems__ returns a dict"
    return batch


def move(
    batch: dict[str, Tensor], device: torch.device | str, float_dtype: torch.dtype | None = None
) -> dict[str, Tensor]:
    """``batch`` on ``device``, its floating tensors cast to ``float_dtype`` (when given) and its
    integer ones kept int64. Copies from pinned memory overlap with computation."""
    target = torch.device(device)
    moved = {}
    for name, value in batch.items():
        dtype = float_dtype if float_dtype is not None and value.is_floating_point() else value.dtype
        moved[name] = value.to(device=target, dtype=dtype, non_blocking=value.is_pinned())
    return moved
