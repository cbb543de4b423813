"""Train and held-out data for a run, each input and context checked against its declared type
before any training (docs/data.md lists the forms and the checks).

``--data`` is one of:

- a built-in set (`survae_dsl.data`): in memory; ``digits_labels`` also gives the context
  ``label``;
- ``FILE.npz``: one array per name, the input's and each context's, read into memory;
- ``FILE.npy``: the input, memory-mapped and read row by row as batches need it; a one-context
  model takes its context from ``--context FILE.npy`` (memory-mapped too);
- a folder of PNG/JPEG images (`image_folder`): the input as ``int<K>[C, H, W]``, decoded as
  batches need them; a one-context model takes its context from ``--context FILE.npy`` or from
  class sub-folders.

``--test``/``--test-context`` give held-out data in the same forms; without ``--test`` a
built-in set's test split is used, and for a file or folder 10% of its examples are held out
by a fixed shuffle. Shapes and dtypes are checked up front for every form; values too: in
memory at once, memory-mapped arrays chunk by chunk (CHECK_CHUNK_BYTES at a time), image
files one at a time when their values could reach K.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from .config import TrainConfig
from .errors import TrainError
from .examples import Column, ExampleSet, MemmapColumn, TensorColumn
from .model_input import InputType, ModelIO

if TYPE_CHECKING:
    import numpy as np

# Fraction of a data file held out for testing when neither a test split nor --test is given,
# chosen by a fixed shuffle (seed SPLIT_SEED) so that runs with different --seed share it.
HELD_OUT_FRACTION = 0.1
SPLIT_SEED = 0
# A memory-mapped array's values are checked this many bytes at a time.
CHECK_CHUNK_BYTES = 64 * 2**20


@dataclass
class Data:
    """Train and held-out examples (each ``names``: the input, then the contexts) and where they came from."""

    train: ExampleSet
    test: ExampleSet
    name: str
    test_source: str
    closed_form: str | None  # the data set whose `log_density` is known, if any


def load_data(config: TrainConfig, io: ModelIO, float_dtype: torch.dtype | None = None) -> Data:
    """The train and held-out data of ``config`` for the model ``io`` describes, every name
    checked against its declared type; real values come as ``float_dtype`` (default: the
    config's ``dtype``, float32). One-line TrainError for anything missing, unreadable or not fitting."""
    from survae_dsl import data as datasets

    if float_dtype is None:
        float_dtype = torch.float64 if config.dtype == "float64" else torch.float32
    spec = str(config.data)
    context, test_file, test_context = (_text(config.context), _text(config.test), _text(config.test_context))
    if test_context is not None and test_file is None:
        raise TrainError("--test-context goes with --test: the held-out examples it belongs to")
    reader = Reader(io, float_dtype)
    test: ExampleSet | None = None
    test_source = test_file
    if spec in datasets.NAMES:
        if context is not None:
            raise TrainError(f"--context goes with a .npy file or a folder of images; {spec} is a built-in data set")
        name, closed_form = spec, (spec if datasets.has_log_density(spec) else None)
        train = reader.builtin(spec, "train")
        if test_file is None:
            test_source = f"{spec} test split"
            test = reader.builtin(spec, "test")
    elif spec.endswith((".npy", ".npz")) or Path(spec).exists() or "/" in spec or "\\" in spec:
        name, closed_form = spec, None
        train = reader.path(Path(spec), context, "")
        if test_file is None:
            train, test = hold_out(train, spec)
            test_source = f"{HELD_OUT_FRACTION:.0%} of {spec} held out"
    else:
        raise TrainError(
            f"unknown data set {spec!r}: expected a .npy or .npz file, a folder of images, "
            f"or one of {', '.join(datasets.NAMES)}"
        )
    if test_file is not None:
        classes = reader.classes.get(Path(spec))
        test = reader.path(Path(test_file), test_context, "held-out data ", classes)
    assert test is not None and test_source is not None
    return Data(train, test, name, test_source, closed_form)


def _text(path: str | Path | None) -> str | None:
    """A file option as text (None when unset)."""
    return None if path is None else str(path)


class Reader:
    """Reads the examples of one source for the model ``io`` describes, checking each name."""

    def __init__(self, io: ModelIO, float_dtype: torch.dtype) -> None:
        self.io, self.float_dtype = io, float_dtype
        self.classes: dict[Path, tuple[str, ...]] = {}  # class sub-folders of a folder read

    def dtype(self, declared: InputType) -> torch.dtype:
        """The dtype the model reads for ``declared``: int64 for int<K>, else the float dtype."""
        return torch.int64 if declared.domain.is_discrete else self.float_dtype

    # ------------------------------------------------------------------------ built-in sets

    def builtin(self, name: str, split: str) -> ExampleSet:
        """Split ``split`` of built-in set ``name``, with its contexts for a conditional model."""
        from survae_dsl import data as datasets

        label = f"{name} ({split} split)"
        try:
            x = datasets.load(name, split=split)
            given = datasets.load_contexts(name, split)
        except ImportError as exc:
            raise TrainError(str(exc)) from None
        columns: dict[str, Column] = {self.io.input_name: self.tensor(x, label, self.io.input_type)}
        if self.io.contexts:
            wanted = list(self.io.contexts)
            if len(given) == 1 and len(wanted) == 1:  # one context: bound whatever its name
                given = {wanted[0]: next(iter(given.values()))}
            missing = [c for c in wanted if c not in given]
            if missing:
                raise TrainError(self._missing_builtin(name, missing, list(given)))
            for c in wanted:
                columns[c] = self.tensor(given[c], f"{label}, context `{c}`", self.io.contexts[c])
        return ExampleSet(columns)

    def _missing_builtin(self, name: str, missing: list[str], given: list[str]) -> str:
        from survae_dsl import data as datasets

        with_contexts = [n for n in datasets.NAMES if datasets.describe(n).contexts]
        has = f"gives only {', '.join(f'`{g}`' for g in given)}" if given else "gives no contexts"
        return (
            f"model `{self.io.model_name}` is conditioned on {_names(missing)}, but the data set {name} {has} "
            f"(sets with a context: {', '.join(with_contexts)}); or pass --data FILE.npz holding "
            f"{_names(list(self.io.names))}"
        )

    def tensor(self, x: Tensor, label: str, declared: InputType) -> TensorColumn:
        """An in-memory column once ``x`` fits ``declared`` (a ``(N,)`` array serves a type ``[1]``)."""
        from survae_dsl.data import check_data

        if declared.shape == (1,) and x.ndim == 1:
            x = x[:, None]
        try:
            check_data(x, declared)
        except ValueError as exc:
            raise TrainError(f"{label}: {exc}") from None
        return TensorColumn(x.to(self.dtype(declared)))

    # ------------------------------------------------------------------------------- files

    def path(self, path: Path, context: str | None, role: str, classes: tuple[str, ...] | None = None) -> ExampleSet:
        """The examples of a file or folder (``role`` starts messages: "" or "held-out data ")."""
        if not path.exists():
            raise TrainError(f"no such data file: {path}" + (f" ({role.strip()})" if role else ""))
        if path.is_dir():
            return self.folder(path, context, role, classes)
        if path.suffix == ".npz":
            if context is not None:
                option = "--test-context" if role else "--context"
                raise TrainError(f"{option} goes with a .npy file or a folder; {path} holds the contexts by name")
            return self.npz(path, role)
        x = self.memmap(path, f"{role}{path}", self.io.input_type)
        return ExampleSet({self.io.input_name: x, **self.context_file(context, len(x), role, path)})

    def npz(self, path: Path, role: str) -> ExampleSet:
        """FILE.npz: the array of each name (the input's and every context's), in memory."""
        import numpy as np

        from survae_dsl.data import array_to_tensor

        try:
            archive = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise TrainError(f"cannot read {role}{path}: {exc}") from None
        if isinstance(archive, np.ndarray):
            raise TrainError(f"{role}{path}: expected an archive of arrays by name (.npz), found a single array")
        with archive:
            held = list(archive.files)
            columns: dict[str, Column] = {}
            for name in self.io.names:
                what = "the input" if name == self.io.input_name else "a context"
                if name not in held:
                    raise TrainError(
                        f"{role}{path} has no array `{name}` ({what} of model `{self.io.model_name}`); "
                        f"it holds: {', '.join(held) or 'nothing'}"
                    )
                label = f"{role}{path}, array `{name}`"
                try:
                    array = archive[name]
                    x = array_to_tensor(array, label, self.float_dtype)
                except ValueError as exc:
                    raise TrainError(str(exc) if str(exc).startswith(label) else f"{label}: {exc}") from None
                declared = self.io.types[name]
                _check_shape(tuple(x.shape), declared, label)
                columns[name] = self.tensor(x, label, declared)
        _same_rows(columns, f"{role}{path}")
        return ExampleSet(columns)

    def memmap(self, path: Path, label: str, declared: InputType) -> MemmapColumn:
        """FILE.npy memory-mapped: dtype and shape checked now, values chunk by chunk."""
        import numpy as np

        from survae_dsl.data import array_to_tensor, check_array_dtype, check_data

        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise TrainError(f"cannot read {label}: {exc}") from None
        if not isinstance(array, np.ndarray):  # an .npz under another name
            raise TrainError(f"{label}: expected one array (.npy), got an archive of several (.npz)")
        try:
            check_array_dtype(array.dtype, label)
        except ValueError as exc:
            raise TrainError(str(exc)) from None
        shape = _check_shape(tuple(array.shape), declared, label)
        rows = int(array.shape[0])
        row_bytes = max(1, array.itemsize * int(np.prod(array.shape[1:], dtype=np.int64)))
        chunk = max(1, CHECK_CHUNK_BYTES // row_bytes)
        for start in range(0, rows, chunk):
            try:
                values = array_to_tensor(array[start : start + chunk], label, self.float_dtype)
                check_data(values.reshape(values.shape[0], *shape), declared, first_example=start)
            except ValueError as exc:
                raise TrainError(str(exc) if str(exc).startswith(label) else f"{label}: {exc}") from None
        return MemmapColumn(path, rows, shape, self.dtype(declared))

    def context_file(self, context: str | None, rows: int, role: str, data: Path) -> dict[str, Column]:
        """The contexts of a .npy input or a folder: ``--context FILE.npy`` for a one-context model."""
        option = "--test-context" if role else "--context"
        contexts = list(self.io.contexts)
        if not contexts:
            if context is not None:
                raise TrainError(f"model `{self.io.model_name}` has no context: {option} is not needed")
            return {}
        if len(contexts) > 1:
            raise TrainError(
                f"model `{self.io.model_name}` is conditioned on {_names(contexts)}: give "
                f"{'--test' if role else '--data'} FILE.npz holding {_names(list(self.io.names))}"
            )
        name = contexts[0]
        if context is None:
            archive = f"{'--test' if role else '--data'} FILE.npz holding {_names(list(self.io.names))}"
            raise TrainError(
                f"model `{self.io.model_name}` is conditioned on `{name}`: pass {option} FILE.npy with one row "
                f"per example of {data}, or {archive}"
            )
        column = self.memmap(Path(context), f"{role}context `{name}` ({context})", self.io.contexts[name])
        if len(column) != rows:
            raise TrainError(
                f"{role}context `{name}` ({context}) has {len(column)} rows, but {data} has {rows} examples"
            )
        return {name: column}

    def folder(self, root: Path, context: str | None, role: str, classes: tuple[str, ...] | None) -> ExampleSet:
        """A folder of images; a one-context model's context from --context or the class sub-folders."""
        from .image_folder import ImageColumn, check_images, scan_folder

        where = f"{role}{root}"
        folder = scan_folder(root, classes)
        check_images(folder, self.io.input_type, where)
        shape = self.io.input_type.shape
        columns: dict[str, Column] = {self.io.input_name: ImageColumn(folder, (shape[0], shape[1], shape[2]))}
        if folder.classes:
            self.classes[root] = folder.classes
        if self.io.contexts and context is None and folder.classes:
            columns.update(self.folder_labels(folder, where))
        else:
            columns.update(self.context_file(context, len(folder.files), role, root))
        return ExampleSet(columns)

    def folder_labels(self, folder: Any, where: str) -> dict[str, Column]:
        """The class index of each image as a one-context model's context ``int<K>[1]``."""
        contexts = list(self.io.contexts)
        if len(contexts) != 1:
            raise TrainError(
                f"model `{self.io.model_name}` is conditioned on {_names(contexts)}; the class sub-folders of "
                f"{where} give one label: pass --data FILE.npz holding {_names(list(self.io.names))}"
            )
        name = contexts[0]
        declared = self.io.contexts[name]
        if not declared.domain.is_discrete or declared.shape != (1,) or declared.domain.classes < len(folder.classes):
            raise TrainError(
                f"{where}: the {len(folder.classes)} class sub-folders give a label 0..{len(folder.classes) - 1}, "
                f"but the context `{name}` is {declared}: declare `context {name}: int<{len(folder.classes)}>[1]` "
                "or pass --context FILE.npy"
            )
        labels = torch.tensor(folder.labels, dtype=torch.int64)[:, None]
        return {name: self.tensor(labels, f"{where}, class labels", declared)}


def _names(names: list[str]) -> str:
    return ", ".join(f"`{n}`" for n in names)


def _check_shape(shape: tuple[int, ...], declared: InputType, label: str) -> tuple[int, ...]:
    """The shape of one example (``declared.shape``) once an array of ``shape`` fits it: rows of
    the declared shape, or a ``(N,)`` array for a type ``[1]``. One line otherwise."""
    rows = shape[1:]
    if len(shape) >= 1 and (rows == declared.shape or (declared.shape == (1,) and rows == ())):
        if shape[0] == 0:
            raise TrainError(f"{label}: the data holds no examples (shape {shape})")
        return declared.shape
    each = "×".join(str(d) for d in rows) if rows else "a single number"
    if not shape:
        raise TrainError(f"{label}: expected {declared} per example, found a single value (shape ())")
    raise TrainError(f"{label}: expected {declared} per example, each row is {each} (array of shape {shape})")


def _same_rows(columns: dict[str, Column], where: str) -> None:
    """Refuse columns that disagree on the number of examples."""
    lengths = {name: len(column) for name, column in columns.items()}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"`{name}` {n}" for name, n in lengths.items())
        raise TrainError(f"{where}: the arrays differ in their number of rows ({listed})")


def hold_out(examples: ExampleSet, where: str) -> tuple[ExampleSet, ExampleSet]:
    """(90%, 10%) of ``examples`` (`split_rows`)."""
    if len(examples) < 2:
        raise TrainError(f"{where} holds fewer than 2 examples: nothing to hold out (pass --test FILE)")
    train_rows, test_rows = split_rows(len(examples))
    return examples.subset(train_rows), examples.subset(test_rows)


def split_rows(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The (train, held-out) positions among ``n`` examples: a shuffle with the fixed seed
    SPLIT_SEED, its first round(10% of n) (at least 1) held out, in shuffled order."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(SPLIT_SEED)).numpy()
    n_test = max(1, round(HELD_OUT_FRACTION * n))
    return order[n_test:], order[:n_test]
