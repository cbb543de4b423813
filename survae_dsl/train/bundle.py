"""Trained-model bundles: the files of a run folder that `survae_dsl.load_trained` reads back.

`write_bundle` writes, each atomically (`write_atomic`: a temporary file, then a rename):

- ``model.survae``: the text that was compiled, verbatim;
- ``weights.safetensors``: the model's ``state_dict`` (parameters and persistent buffers), on
  the CPU, contiguous, each tensor with its own storage, in the dtype it was trained in; the
  header's metadata names the model and the SHA-256 of the source;
- ``info.json``: ``{"format": "survae-bundle", "version": 1, "model", "source_name",
  "survae_dsl", "torch", "dtype", "info": <the survae-compile --info document>, "training": <extra_info>,
  "modules": [<user transform modules copied in>]}``;
- ``MODULE.py``: the single-file module of each user transform or net, copied from the model
  file's folder (or a folder of ``search_path``) so that the bundle loads without the original.

The layout is described for users in docs/bundles.md; `pack` makes one ``.zip`` of a bundle that
`load_trained` also accepts.
"""

from __future__ import annotations

import functools
import io
import json
import math
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from survae_dsl.trained import (
    BUNDLE_FILES,
    BUNDLE_FORMAT,
    BUNDLE_VERSION,
    INFO_FILE,
    SOURCE_DIGEST_KEY,
    SOURCE_FILE,
    WEIGHTS_FILE,
    BundleError,
    read_bundle,
    source_digest,
)

# Files of a run folder that `pack` adds to the archive when they are there (written by survae-train).
EXTRA_FILES = ("metrics.json", "density.png", "samples.png")


def write_bundle(
    out: Path,
    *,
    source_text: str,
    source_name: str,
    model_name: str,
    model: nn.Module,
    extra_info: dict[str, Any],
    search_path: Sequence[str | Path] = (),
) -> None:
    """Write (or overwrite) the bundle of ``model`` in the folder ``out``, which must exist.

    ``source_text`` is the text ``model`` was compiled from and ``source_name`` the file it was
    read from (recorded, and the folder where user transform modules are looked for, then in
    ``search_path``); ``model_name`` the model of the text that ``model`` is. ``model`` may be
    wrapped in DistributedDataParallel or ``torch.compile``. ``extra_info`` (JSON-able; a `Path`
    becomes its text, a non-finite float null) goes under ``"training"`` in info.json.

    Raises `survae_dsl.compiler.core.diagnostics.CompileError` if the text does not compile
    (it compiled when ``model`` was built, so this is a caller's mistake), and `OSError` when a
    file cannot be written; an interrupted call leaves every file whole (old or new).
    """
    from survae_dsl.compiler.core.files import write_atomic

    document = _info_document(source_text, source_name, model_name)
    modules = _module_files(document["info"], source_name, tuple(str(p) for p in search_path))
    info = {
        **{k: v for k, v in document.items() if k != "info"},
        "dtype": str(_float_dtype(unwrap(model))).removeprefix("torch."),
        "modules": [path.name for path in modules],
        "info": document["info"],
        "training": _jsonable(extra_info),
    }
    weights = weights_bytes(model, {"survae_model": model_name, SOURCE_DIGEST_KEY: source_digest(source_text)})
    write_atomic(out / SOURCE_FILE, source_text.encode("utf-8"))
    for path in modules:
        write_atomic(out / path.name, path.read_bytes())
    write_atomic(out / WEIGHTS_FILE, weights)
    # Last: info.json says which step the weights are from, so it is written once they are.
    write_atomic(out / INFO_FILE, (json.dumps(info, indent=2, allow_nan=False) + "\n").encode("utf-8"))


def weights_bytes(model: nn.Module, metadata: dict[str, str]) -> bytes:
    """The safetensors file of ``model``'s state_dict: CPU tensors, contiguous, one storage each.

    safetensors refuses tensors that share memory (tied weights, views of one buffer); each
    tensor after the first on a storage is copied, and `load_state_dict` fills both places
    from their own entries.
    """
    from safetensors.torch import save

    tensors: dict[str, torch.Tensor] = {}
    seen: set[tuple[str, int]] = set()
    for key, value in unwrap(model).state_dict().items():
        tensor = value.detach().to("cpu").contiguous()
        storage = (str(tensor.device), tensor.untyped_storage().data_ptr())
        if storage in seen and tensor.numel() > 0:
            tensor = tensor.clone()
        seen.add(storage)
        tensors[key] = tensor
    return save(tensors, metadata=metadata)


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside DistributedDataParallel / DataParallel and `torch.compile` wrappers."""
    while True:
        inner = getattr(model, "_orig_mod", None)  # torch.compile's OptimizedModule
        if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            inner = model.module
        if not isinstance(inner, nn.Module):
            return model
        model = inner


def _float_dtype(model: nn.Module) -> torch.dtype:
    """The model's float dtype: its anchor's (every compiled model has one), else its first
    floating parameter's, else float32."""
    anchor = getattr(model, "_anchor", None)
    if isinstance(anchor, torch.Tensor):
        return anchor.dtype
    floating = (p.dtype for p in model.parameters() if p.is_floating_point())
    return next(floating, torch.float32)


@functools.lru_cache(maxsize=4)
def _info_json(source_text: str, source_name: str, model_name: str) -> str:
    """The --info document of ``model_name`` (and the models it uses), as JSON text.

    Cached: a run writes its bundle at every checkpoint from the same text, and checking a
    large model takes seconds.
    """
    from survae_dsl.compiler.backends.info import build_info
    from survae_dsl.compiler.drivers.driver import check_source
    from survae_dsl.compiler.drivers.impl_modules import missing_impl_warnings

    compilation = check_source(source_text, source_name)
    models = compilation.model(model_name)
    warnings = compilation.warnings + missing_impl_warnings(models, compilation.source)
    return build_info(source_name, models, warnings, ok=True).model_dump_json()


def _info_document(source_text: str, source_name: str, model_name: str) -> dict[str, Any]:
    """info.json less its ``"training"`` and ``"modules"``: format, versions and the --info document."""
    from survae_dsl import __version__

    return {
        "format": BUNDLE_FORMAT,
        "version": BUNDLE_VERSION,
        "model": model_name,
        "source_name": source_name,
        "survae_dsl": __version__,
        "torch": str(torch.__version__),
        "info": json.loads(_info_json(source_text, source_name, model_name)),
    }


def _module_files(info: dict[str, Any], source_name: str, search_path: tuple[str, ...]) -> list[Path]:
    """The single-file modules (``NAME.py``) of the user transforms and nets, found in the model
    file's folder or ``search_path``; packages and installed modules are not copied."""
    folders = [Path(source_name).parent] if Path(source_name).is_file() else []
    folders += [Path(p) for p in search_path]
    found: dict[str, Path] = {}
    for model in info.get("models", []):
        for entry in model.get("imports", []):
            top = entry.partition(":")[0].partition(".")[0]
            for folder in folders:
                candidate = folder / f"{top}.py"
                if top not in found and candidate.is_file():
                    found[top] = candidate
    return list(found.values())


def _jsonable(value: Any) -> Any:
    """``value`` with paths as text, tuples as lists and non-finite floats as null, for JSON."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    return str(value)


def pack(run_dir: str | Path, file: str | Path) -> Path:
    """Write the bundle in ``run_dir`` as one ``.zip`` archive at ``file`` (atomically); returns its path.

    The archive holds the bundle's files, its copied modules and, when present, the run's
    metrics.json and plots. `load_trained` reads it without extracting it. Raises `BundleError`
    when ``run_dir`` is not a bundle.
    """
    from survae_dsl.compiler.core.files import write_atomic

    folder = Path(run_dir)
    if not folder.is_dir():
        raise BundleError(f"{folder} is not a folder: pack takes a survae-train output folder")
    contents = read_bundle(folder)  # checks that it is a bundle this survae-dsl can read
    modules = [name for name in contents.info.get("modules", []) if isinstance(name, str)]
    names = [*BUNDLE_FILES, *modules, *(n for n in EXTRA_FILES if (folder / n).is_file())]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            # The weights barely compress; store them, deflate the text.
            kind = zipfile.ZIP_STORED if name.endswith((".safetensors", ".png")) else zipfile.ZIP_DEFLATED
            archive.write(folder / name, arcname=name, compress_type=kind)
    target = Path(file)
    write_atomic(target, buffer.getvalue())
    return target
