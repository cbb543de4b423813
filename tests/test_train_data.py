"""The data forms of `survae-train` (survae_dsl/train/data_loading.py, examples.py, image_folder.py):
.npz with contexts, memory-mapped .npy (+ --context), folders of images, the built-in digits with
their labels; every input and context checked against its declared type with one clear line."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import survae_dsl
from survae_dsl import data as datasets
from survae_dsl.train import data_loading
from survae_dsl.train.config import TrainConfig
from survae_dsl.train.data_loading import load_data, split_rows
from survae_dsl.train.errors import TrainError
from survae_dsl.train.examples import ExampleSet, TensorColumn, collate
from survae_dsl.train.model_input import ModelIO, model_io

CONDITIONAL = """
model Cond {
    context label: int<10>[1]
    input x: int<17>[1, 4, 4]
    x ~ categorical(context=label, net=mlp(hidden=[8]))
}
"""
PLAIN = """
model Plain {
    input x: int<17>[1, 4, 4]
    x ~ categorical()
}
"""
TWO_CONTEXTS = """
model Two {
    context label: int<10>[1]
    context where: real[2]
    input x: real[2]
    h = affine_coupling(x, net=mlp(hidden=[8]), context=where)
    h ~ normal(context=label, net=mlp(hidden=[8]))
}
"""
RGB = """
model Rgb {
    input x: int<256>[3, 4, 6]
    x ~ categorical()
}
"""


def io_of(source: str) -> ModelIO:
    return model_io(next(iter(survae_dsl.compile_source(source).values())))


def load(io: ModelIO, data: Any, **options: Any) -> data_loading.Data:
    return load_data(TrainConfig("unused.survae", data=data, **options), io)


def refused(io: ModelIO, data: Any, **options: Any) -> str:
    """The one-line TrainError that loading gives."""
    with pytest.raises(TrainError) as info:
        load(io, data, **options)
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.fixture
def images() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 17, size=(40, 1, 4, 4)).astype(np.uint8)


@pytest.fixture
def labels() -> np.ndarray:
    return np.arange(40) % 10


# ------------------------------------------------------------------------------------------ .npz


def test_npz_gives_the_input_and_its_contexts_aligned(tmp_path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    np.savez(tmp_path / "d.npz", x=images, label=labels, unused=np.zeros(3))
    loaded = load(io_of(CONDITIONAL), tmp_path / "d.npz")
    assert loaded.train.names == loaded.test.names == ("x", "label")
    assert (len(loaded.train), len(loaded.test)) == (36, 4)
    assert loaded.test_source.startswith("10% of ")
    train_rows, test_rows = split_rows(40)
    for part, rows in ((loaded.train, train_rows), (loaded.test, test_rows)):
        batch = part.head(len(part))
        assert batch["x"].dtype == batch["label"].dtype == torch.int64
        assert batch["label"].shape == (len(rows), 1)  # labels (N,) serve the type [1]
        assert torch.equal(batch["x"], torch.from_numpy(images[rows]).long())
        assert torch.equal(batch["label"][:, 0], torch.from_numpy(labels[rows]))  # each image keeps its label
    assert sorted(np.concatenate([train_rows, test_rows]).tolist()) == list(range(40))


def test_npz_missing_context_names_it_and_what_the_file_holds(tmp_path: Path, images: np.ndarray) -> None:
    np.savez(tmp_path / "d.npz", x=images, y=np.zeros(40))
    message = refused(io_of(CONDITIONAL), tmp_path / "d.npz")
    assert "has no array `label` (a context of model `Cond`)" in message and "it holds: x, y" in message


@pytest.mark.parametrize(
    ("label", "message"),
    [
        (np.zeros((40, 2), dtype=np.int64), "array `label`: expected int<10>[1] per example, each row is 2"),
        (np.full(40, 10), "values of int<10>[1] data must lie in 0..9"),
        (np.full(40, 1.5), "needs whole numbers"),
        (np.full(40, 1 + 1j), "unsupported array dtype complex128"),
        (np.zeros(39, dtype=np.int64), "the arrays differ in their number of rows (`x` 40, `label` 39)"),
    ],
    ids=["shape", "value-outside-K", "fraction", "complex", "rows"],
)
def test_npz_context_of_the_wrong_type_is_refused(
    tmp_path: Path, images: np.ndarray, label: np.ndarray, message: str
) -> None:
    np.savez(tmp_path / "d.npz", x=images, label=label)
    assert message in refused(io_of(CONDITIONAL), tmp_path / "d.npz")


def test_npz_with_two_contexts_and_a_held_out_npz(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    arrays = {"x": rng.normal(size=(30, 2)), "label": rng.integers(0, 10, 30), "where": rng.normal(size=(30, 2))}
    np.savez(tmp_path / "train.npz", **arrays)
    np.savez(tmp_path / "test.npz", **{k: v[:5] for k, v in arrays.items()})
    loaded = load(io_of(TWO_CONTEXTS), tmp_path / "train.npz", test=tmp_path / "test.npz")
    assert loaded.train.names == ("x", "label", "where") and len(loaded.train) == 30 and len(loaded.test) == 5
    assert loaded.train.head(2)["where"].dtype == torch.float32
    assert torch.allclose(loaded.test.head(5)["where"], torch.from_numpy(arrays["where"][:5]).float())
    assert (
        load_data(TrainConfig("m", data=tmp_path / "train.npz", dtype="float64"), io_of(TWO_CONTEXTS))
        .train.head(1)["x"]
        .dtype
        == torch.float64
    )


# ----------------------------------------------------------------------------- .npy and --context


def test_npy_input_with_a_context_file(tmp_path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    np.save(tmp_path / "x.npy", images)
    np.save(tmp_path / "y.npy", labels)
    np.savez(tmp_path / "d.npz", x=images, label=labels)
    from_npy = load(io_of(CONDITIONAL), tmp_path / "x.npy", context=tmp_path / "y.npy")
    from_npz = load(io_of(CONDITIONAL), tmp_path / "d.npz")
    for a, b in ((from_npy.train, from_npz.train), (from_npy.test, from_npz.test)):
        assert all(torch.equal(a.head(99)[n], b.head(99)[n]) for n in ("x", "label"))
    np.save(tmp_path / "tx.npy", images[:7])
    np.save(tmp_path / "ty.npy", labels[:7])
    held_out = load(
        io_of(CONDITIONAL),
        tmp_path / "x.npy",
        context=tmp_path / "y.npy",
        test=tmp_path / "tx.npy",
        test_context=tmp_path / "ty.npy",
    )
    assert len(held_out.train) == 40 and held_out.test.head(9)["label"][:, 0].tolist() == labels[:7].tolist()
    assert "pass --test-context FILE.npy" in refused(
        io_of(CONDITIONAL), tmp_path / "x.npy", context=tmp_path / "y.npy", test=tmp_path / "tx.npy"
    )


@pytest.mark.parametrize(
    ("source", "options", "message"),
    [
        (CONDITIONAL, {}, "model `Cond` is conditioned on `label`: pass --context FILE.npy"),
        (CONDITIONAL, {"context": "short.npy"}, "context `label` (SHORT) has 39 rows, but"),
        (CONDITIONAL, {"context": "labels2d.npy"}, "expected int<10>[1] per example, each row is 3"),
        (PLAIN, {"context": "y.npy"}, "model `Plain` has no context: --context is not needed"),
        (TWO_CONTEXTS, {}, "conditioned on `label`, `where`: give --data FILE.npz holding `x`, `label`, `where`"),
    ],
    ids=["no-context", "rows", "context-shape", "unconditional", "two-contexts"],
)
def test_npy_context_problems_are_one_line(
    tmp_path: Path, images: np.ndarray, labels: np.ndarray, source: str, options: dict[str, str], message: str
) -> None:
    np.save(tmp_path / "x.npy", images if source != TWO_CONTEXTS else np.zeros((40, 2)))
    np.save(tmp_path / "y.npy", labels)
    np.save(tmp_path / "short.npy", labels[:39])
    np.save(tmp_path / "labels2d.npy", np.zeros((40, 3), dtype=np.int64))
    resolved = {k: tmp_path / v for k, v in options.items()}
    assert message.replace("SHORT", str(tmp_path / "short.npy")) in refused(
        io_of(source), tmp_path / "x.npy", **resolved
    )


def test_npy_shape_and_dtype_are_checked_up_front(tmp_path: Path, images: np.ndarray) -> None:
    np.save(tmp_path / "wide.npy", np.zeros((40, 1, 4, 5), dtype=np.uint8))
    assert "wide.npy: expected int<17>[1, 4, 4] per example, each row is 1×4×5 (array of shape (40, 1, 4, 5))" in (
        refused(io_of(PLAIN), tmp_path / "wide.npy")
    )
    np.save(tmp_path / "text.npy", np.array([["a"] * 16] * 4).reshape(4, 1, 4, 4))
    assert "unsupported array dtype <U1" in refused(io_of(PLAIN), tmp_path / "text.npy")
    np.savez(tmp_path / "both.npz", x=images)
    assert "--context goes with a .npy file or a folder" in refused(
        io_of(CONDITIONAL), tmp_path / "both.npz", context=tmp_path / "both.npz"
    )


def test_memmap_values_are_checked_chunk_by_chunk(
    tmp_path: Path, images: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = images.copy()
    bad[37, 0, 2, 1] = 17
    np.save(tmp_path / "x.npy", bad)
    monkeypatch.setattr(data_loading, "CHECK_CHUNK_BYTES", 16 * 5)  # five rows of 16 bytes at a time
    message = refused(io_of(PLAIN), tmp_path / "x.npy")
    assert "values of int<17>[1, 4, 4] data must lie in 0..16" in message and "first outside in example 37" in message


def test_memmap_reads_rows_lazily_and_workers_give_the_in_memory_batches(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    x = rng.integers(0, 17, size=(500, 1, 4, 4)).astype(np.int16)
    labels = rng.integers(0, 10, size=500)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", labels)
    io = io_of(CONDITIONAL)
    lazy = load(io, tmp_path / "x.npy", context=tmp_path / "y.npy").train
    in_memory = ExampleSet(
        {"x": TensorColumn(torch.from_numpy(x).long()), "label": TensorColumn(torch.from_numpy(labels)[:, None])},
        rows=split_rows(500)[0],
    )
    # Pickled for a worker: the row order and two paths, not the 16,000 bytes of the map.
    assert len(pickle.dumps(lazy)) < len(pickle.dumps(lazy.rows)) + 1_000 < x.nbytes
    order = torch.randperm(len(lazy), generator=torch.Generator().manual_seed(0)).tolist()
    batches = [order[i : i + 64] for i in range(0, len(order), 64)]
    loader = torch.utils.data.DataLoader(lazy, batch_sampler=batches, collate_fn=collate, num_workers=2)
    seen = list(loader)
    assert len(seen) == len(batches)
    for batch, index in zip(seen, batches, strict=True):
        expected = in_memory.__getitems__(index)
        assert batch.keys() == expected.keys()
        for name in ("x", "label"):
            assert batch[name].dtype == torch.int64 and torch.equal(batch[name], expected[name])


# --------------------------------------------------------------------------------- image folders


def write_png(path: Path, pixels: np.ndarray, mode: str | None = None) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels, mode=mode).save(path)


def test_image_folder_reads_sorted_grayscale_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 17, size=(12, 4, 4)).astype(np.uint8)
    for i, image in enumerate(pixels):
        write_png(tmp_path / "img" / f"{i:03d}.png", image)
    (tmp_path / "img" / "README.txt").write_text("not an image")
    loaded = load(io_of(PLAIN), tmp_path / "img", test=tmp_path / "img")
    assert len(loaded.train) == 12
    batch = loaded.train.head(12)["x"]
    assert batch.dtype == torch.int64 and torch.equal(batch, torch.from_numpy(pixels).long()[:, None])
    assert torch.equal(loaded.train[5]["x"], torch.from_numpy(pixels[5]).long()[None])
    batches = [[3, 0, 7], [11, 5], [1]]
    loader = torch.utils.data.DataLoader(loaded.train, batch_sampler=batches, collate_fn=collate, num_workers=2)
    for batch, index in zip(loader, batches, strict=True):  # decoded in worker processes
        assert torch.equal(batch["x"], torch.from_numpy(pixels[index]).long()[:, None])


def test_image_folder_rgb_and_gray_promoted(tmp_path: Path) -> None:
    rgb = np.arange(72, dtype=np.uint8).reshape(4, 6, 3)
    write_png(tmp_path / "img" / "a.png", rgb)
    write_png(tmp_path / "img" / "b.png", np.full((4, 6), 7, dtype=np.uint8))
    batch = load(io_of(RGB), tmp_path / "img", test=tmp_path / "img").train.head(2)["x"]
    assert batch.shape == (2, 3, 4, 6)
    assert torch.equal(batch[0], torch.from_numpy(rgb).permute(2, 0, 1).long())
    assert (batch[1] == 7).all()  # gray copied to R, G and B
    from PIL import Image

    Image.fromarray(rgb).save(tmp_path / "img" / "c.JPEG", quality=95)
    jpeg = load(io_of(RGB), tmp_path / "img", test=tmp_path / "img").train[2]["x"]
    assert jpeg.shape == (3, 4, 6) and (jpeg - torch.from_numpy(rgb).permute(2, 0, 1)).abs().float().mean() < 8


def test_image_folder_wrong_size_names_the_file(tmp_path: Path) -> None:
    for i in range(5):
        write_png(tmp_path / "img" / f"{i}.png", np.zeros((4, 6, 3), dtype=np.uint8))
    write_png(tmp_path / "img" / "3b.png", np.zeros((5, 6, 3), dtype=np.uint8))
    message = refused(io_of(RGB), tmp_path / "img")
    assert message == f"{tmp_path / 'img'}: expected int<256>[3, 4, 6], file 4 (3b.png) is 3×5×6"


@pytest.mark.parametrize(
    ("pixels", "message"),
    [
        (np.zeros((4, 4, 3), dtype=np.uint8), "expected int<17>[1, 4, 4], file 1 (b.png) is 3×4×4"),
        (
            np.full((4, 4), 200, dtype=np.uint8),
            "expected int<17>[1, 4, 4] (values 0..16), file 1 (b.png) holds values 200..200",
        ),
    ],
    ids=["colour-for-gray", "value-beyond-K"],
)
def test_image_folder_refuses_what_does_not_fit(tmp_path: Path, pixels: np.ndarray, message: str) -> None:
    write_png(tmp_path / "img" / "a.png", np.zeros((4, 4), dtype=np.uint8))
    write_png(tmp_path / "img" / "b.png", pixels)
    assert message in refused(io_of(PLAIN), tmp_path / "img")


def test_image_folder_structure_problems(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert "no PNG or JPEG images" in refused(io_of(PLAIN), tmp_path / "empty")
    write_png(tmp_path / "mixed" / "a.png", np.zeros((4, 4), dtype=np.uint8))
    write_png(tmp_path / "mixed" / "cats" / "b.png", np.zeros((4, 4), dtype=np.uint8))
    assert "holds both images (a.png, …) and sub-folders of images (cats/, …)" in refused(
        io_of(PLAIN), tmp_path / "mixed"
    )
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "a.png").write_bytes(b"not a png")
    assert "cannot read file 0 (a.png) as an image" in refused(io_of(PLAIN), tmp_path / "broken")
    real = "model R {\n    input x: real[1, 4, 4]\n    x ~ normal()\n}\n"
    assert "a folder of images gives int<256>[C, H, W] data, but the model reads real[1, 4, 4]" in refused(
        io_of(real), tmp_path / "mixed" / "cats"
    )


def test_class_sub_folders_give_the_label_context(tmp_path: Path) -> None:
    for name, value, count in (("cat", 1, 3), ("dog", 2, 2), ("owl", 3, 4)):
        for i in range(count):
            write_png(tmp_path / "train" / name / f"{i}.png", np.full((4, 4), value, dtype=np.uint8))
    write_png(tmp_path / "test" / "owl" / "0.png", np.full((4, 4), 3, dtype=np.uint8))
    loaded = load(io_of(CONDITIONAL), tmp_path / "train", test=tmp_path / "test")
    batch = loaded.train.head(9)
    assert batch["label"][:, 0].tolist() == [0, 0, 0, 1, 1, 2, 2, 2, 2]  # sorted class names: cat, dog, owl
    assert batch["x"][:, 0, 0, 0].tolist() == [1, 1, 1, 2, 2, 3, 3, 3, 3]
    assert loaded.test.head(1)["label"].tolist() == [[2]]  # numbered as the training folder's classes
    write_png(tmp_path / "other" / "emu" / "0.png", np.zeros((4, 4), dtype=np.uint8))
    assert "class sub-folder emu/ is not a class of the training folder (cat, dog, owl)" in refused(
        io_of(CONDITIONAL), tmp_path / "train", test=tmp_path / "other"
    )
    few = CONDITIONAL.replace("int<10>[1]", "int<2>[1]")
    assert "the 3 class sub-folders give a label 0..2, but the context `label` is int<2>[1]" in refused(
        io_of(few), tmp_path / "train"
    )
    plain = load(io_of(PLAIN), tmp_path / "train")  # an unconditional model reads the images alone
    assert plain.train.names == ("x",) and len(plain.train) + len(plain.test) == 9


# --------------------------------------------------------------------------------- built-in sets


def test_digits_with_labels_as_the_context() -> None:
    io = io_of(CONDITIONAL.replace("[1, 4, 4]", "[1, 8, 8]").replace("label", "digit"))
    loaded = load(io, "digits_labels")
    assert loaded.train.names == ("x", "digit") and (len(loaded.train), len(loaded.test)) == (1497, 300)
    batch = loaded.test.head(300)
    assert torch.equal(batch["x"], datasets.load("digits", "test"))
    assert torch.equal(batch["digit"][:, 0], datasets.load_labels("digits", "test"))
    assert "gives no contexts (sets with a context: digits_labels)" in refused(io, "digits")
    assert "--context goes with a .npy file or a folder of images" in refused(io, "digits_labels", context="y.npy")
    unconditional = load(io_of(PLAIN.replace("[1, 4, 4]", "[1, 8, 8]")), "digits_labels")
    assert unconditional.train.names == ("x",)


def test_example_set_indexing() -> None:
    examples = ExampleSet({"x": TensorColumn(torch.arange(10)[:, None].float())}, rows=np.array([3, 1, 4, 1, 5]))
    assert len(examples) == 5 and examples[2]["x"].tolist() == [4.0]
    assert examples.__getitems__([0, 4])["x"][:, 0].tolist() == [3.0, 5.0]
    assert examples.subset(np.array([4, 0])).head(9)["x"][:, 0].tolist() == [5.0, 3.0]
    assert [b["x"].shape[0] for b in examples.batches(2)] == [2, 2, 1]
    with pytest.raises(IndexError):
        examples.__getitems__([5])


def test_a_folder_without_pillow_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_png(tmp_path / "img" / "a.png", np.zeros((4, 4), dtype=np.uint8))
    monkeypatch.setitem(sys.modules, "PIL", None)  # `import PIL` raises ImportError
    assert "reading a folder of images needs Pillow: pip install 'survae-dsl[train]'" in refused(
        io_of(PLAIN), tmp_path / "img"
    )
